"""The SQL ``Checkpointer``: a workflow run's state lives in its ``runs`` row, each node's latest
record in ``node_checkpoints`` (its token usage in the ``usage`` column, migration 0007; the
run's total in ``runs.usage``, as for agent runs).

Every save is its own committed transaction, so when ``save_node`` returns the node's output
survives a crash (the executor awaits it before any successor starts). The run row must exist
before the executor runs (``nexus.worker.workflow_runs`` inserts it ``queued``); the run's
nesting depth is kept in its ``spec_snapshot`` and the waiting requests are the node records.

Node saves are the hot path (two per node). On a SQLite file they are written synchronously, on
the event loop's thread, through the database's direct connection (``nexus.store.direct_sqlite``:
autocommit, no thread hand-offs, durable like the engine's commits, values stored exactly as
SQLAlchemy stores them): one ``INSERT ... ON CONFLICT DO UPDATE`` is one short transaction. The
run's own state is saved (one ``UPDATE``) and loaded the same way. When another connection holds
the write lock, a save goes through the async engine instead, which waits for it without
blocking the loop. PostgreSQL gets the same upsert through the async engine; other dialects an
ORM merge.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nexus.core.errors import NotFoundError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeRecord, NodeStatus, RunState
from nexus.store.db import Database
from nexus.store.direct_sqlite import (
    DirectSqlite,
    decode_json,
    encode_datetime,
    encode_json,
)
from nexus.store.tables import NodeCheckpointRow, RunRow, utcnow


class SqlCheckpointer:
    def __init__(self, db: Database, *, direct: bool = True) -> None:
        """``direct=False`` keeps every SQLite read and write on the async engine."""
        self.db = db
        self._upsert = _node_upsert(db.engine.dialect.name)
        self._direct: DirectSqlite | None = db.direct if direct else None

    def close(self) -> None:
        """Close the database's direct SQLite connection (it reopens on the next call)."""
        if self._direct is not None:
            self._direct.close()

    def _save_direct(self, run_id: str, record: NodeRecord, now: datetime) -> bool:
        """Write the record now; ``False`` when the database is locked by another writer."""
        assert self._direct is not None
        params = (
            run_id,
            record.node_id,
            record.status.value,
            record.attempt,
            encode_json(record.outputs),
            encode_json(record.error),
            encode_json(record.waiting),
            record.duration_ms,
            encode_json(record.usage),
            encode_datetime(now),
        )
        try:
            return self._direct.execute(_DIRECT_UPSERT, params) is not None
        except sqlite3.IntegrityError as exc:
            raise NotFoundError(
                f"run {run_id!r} has no row; create it before executing the run"
            ) from exc

    def _save_run_direct(self, state: RunState, now: datetime) -> bool:
        assert self._direct is not None
        stamp = encode_datetime(now)
        params = (
            state.status.value,
            encode_json(state.inputs),
            encode_json({"value": state.outputs} if state.outputs is not None else None),
            encode_json(state.error),
            None if state.usage is None else encode_json(state.usage),
            stamp if state.status.is_final else None,
            stamp if state.status is RunStatus.RUNNING else None,
            state.run_id,
        )
        updated = self._direct.execute(_DIRECT_RUN_UPDATE, params)
        if updated is None:
            return False
        if updated != 1:
            raise NotFoundError(
                f"run {state.run_id!r} has no row; create it before executing the run"
            )
        return True

    def _load_run_direct(self, run_id: str) -> RunState | None | _Locked:
        assert self._direct is not None
        rows = self._direct.fetch(
            "SELECT kind, status, input, output, error, spec_snapshot FROM runs WHERE id = ?",
            (run_id,),
        )
        if rows is None:
            return _LOCKED
        if not rows or rows[0][0] != "workflow":
            return None
        row = rows[0]
        status = RunStatus(row[1])
        waiting: dict[str, dict[str, Any]] = {}
        if status is RunStatus.WAITING:
            requests = self._direct.fetch(
                "SELECT node_id, waiting FROM node_checkpoints WHERE run_id = ? AND status = ?",
                (run_id, NodeStatus.WAITING.value),
            )
            if requests is None:
                return _LOCKED
            waiting = {node_id: decode_json(request) or {} for node_id, request in requests}
        snapshot = decode_json(row[5]) or {}
        return RunState(
            run_id=run_id,
            status=status,
            inputs=decode_json(row[2]),
            outputs=(decode_json(row[3]) or {}).get("value"),
            error=decode_json(row[4]),
            waiting=waiting,
            depth=int(snapshot.get("depth", 0)),
        )

    def _load_nodes_direct(self, run_id: str) -> dict[str, NodeRecord] | _Locked:
        assert self._direct is not None
        rows = self._direct.fetch(
            "SELECT node_id, status, attempt, outputs, error, waiting, duration_ms, usage "
            "FROM node_checkpoints WHERE run_id = ?",
            (run_id,),
        )
        if rows is None:
            return _LOCKED
        return {
            node_id: NodeRecord(
                node_id=node_id,
                status=NodeStatus(status),
                attempt=attempt,
                outputs=decode_json(outputs),
                error=decode_json(error),
                waiting=decode_json(waiting),
                duration_ms=duration_ms,
                usage=decode_json(usage),
            )
            for node_id, status, attempt, outputs, error, waiting, duration_ms, usage in rows
        }

    async def save_run(self, state: RunState) -> None:
        now = utcnow()
        if self._direct is not None and self._save_run_direct(state, now):
            return
        values: dict[str, object] = {
            "status": state.status.value,
            "input": state.inputs,
            "output": {"value": state.outputs} if state.outputs is not None else None,
            "error": state.error,
        }
        if state.usage is not None:
            values["usage"] = state.usage
        if state.status.is_final:
            values["finished_at"] = now
        else:
            values["finished_at"] = None
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                sa.update(RunRow).where(RunRow.id == state.run_id).values(**values)
            )
            if result.rowcount != 1:
                raise NotFoundError(
                    f"run {state.run_id!r} has no row; create it before executing the run"
                )
            if state.status is RunStatus.RUNNING:
                await session.execute(
                    sa.update(RunRow)
                    .where(RunRow.id == state.run_id, RunRow.started_at.is_(None))
                    .values(started_at=now)
                )

    async def load_run(self, run_id: str) -> RunState | None:
        if self._direct is not None:
            state = self._load_run_direct(run_id)
            if not isinstance(state, _Locked):
                return state
        async with self.db.sessions() as session:
            row = await session.get(RunRow, run_id)
            if row is None or row.kind != "workflow":
                return None
            waiting = await session.execute(
                sa.select(NodeCheckpointRow.node_id, NodeCheckpointRow.waiting).where(
                    NodeCheckpointRow.run_id == run_id,
                    NodeCheckpointRow.status == NodeStatus.WAITING.value,
                )
            )
            requests = {nid: request or {} for nid, request in waiting}
        status = RunStatus(row.status)
        return RunState(
            run_id=run_id,
            status=status,
            inputs=row.input,
            outputs=(row.output or {}).get("value"),
            error=row.error,
            waiting=requests if status is RunStatus.WAITING else {},
            depth=int(row.spec_snapshot.get("depth", 0)),
        )

    async def save_node(self, run_id: str, record: NodeRecord) -> None:
        now = utcnow()
        if self._direct is not None and self._save_direct(run_id, record, now):
            return
        values: dict[str, Any] = {
            "run_id": run_id,
            "node_id": record.node_id,
            "status": record.status.value,
            "attempt": record.attempt,
            "outputs": record.outputs,
            "error": record.error,
            "waiting": record.waiting,
            "duration_ms": record.duration_ms,
            "usage": record.usage,
            "updated_at": now,
        }
        if self._upsert is None:
            async with self.db.sessions.begin() as session:
                await session.merge(NodeCheckpointRow(**values))
            return
        async with self.db.engine.begin() as conn:
            await conn.execute(self._upsert, values)

    async def load_nodes(self, run_id: str) -> dict[str, NodeRecord]:
        if self._direct is not None:
            records = self._load_nodes_direct(run_id)
            if not isinstance(records, _Locked):
                return records
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(NodeCheckpointRow).where(NodeCheckpointRow.run_id == run_id)
            )
            return {
                r.node_id: NodeRecord(
                    node_id=r.node_id,
                    status=NodeStatus(r.status),
                    attempt=r.attempt,
                    outputs=r.outputs,
                    error=r.error,
                    waiting=r.waiting,
                    duration_ms=r.duration_ms,
                    usage=r.usage,
                )
                for r in rows
            }


def _node_upsert(dialect: str) -> sa.Insert | None:
    """``INSERT ... ON CONFLICT (run_id, node_id) DO UPDATE`` of every other column."""
    insert: Any
    if dialect == "sqlite":
        insert = sqlite.insert
    elif dialect == "postgresql":
        insert = postgresql.insert
    else:
        return None
    table = NodeCheckpointRow.__table__
    stmt = insert(table)
    keys = ("run_id", "node_id")
    return stmt.on_conflict_do_update(  # type: ignore[no-any-return]
        index_elements=[table.c[k] for k in keys],
        set_={c.name: stmt.excluded[c.name] for c in table.c if c.name not in keys},
    )


class _Locked:
    """A direct read found the file locked (rare in WAL): read through the engine."""


_LOCKED = _Locked()

_DIRECT_UPSERT = """
INSERT INTO node_checkpoints
    (run_id, node_id, status, attempt, outputs, error, waiting, duration_ms, usage, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (run_id, node_id) DO UPDATE SET
    status = excluded.status, attempt = excluded.attempt, outputs = excluded.outputs,
    error = excluded.error, waiting = excluded.waiting, duration_ms = excluded.duration_ms,
    usage = excluded.usage, updated_at = excluded.updated_at
"""

_DIRECT_RUN_UPDATE = """
UPDATE runs SET
    status = ?, input = ?, output = ?, error = ?, usage = COALESCE(?, usage), finished_at = ?,
    started_at = COALESCE(started_at, ?)
WHERE id = ?
"""
