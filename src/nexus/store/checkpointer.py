"""The SQL ``Checkpointer``: a workflow run's state lives in its ``runs`` row, each node's latest
record in ``node_checkpoints`` (its token usage in the ``usage`` column, migration 0007; the
run's total in ``runs.usage``, as for agent runs).

Every save is its own committed transaction, so when ``save_node`` returns the node's output
survives a crash (the executor awaits it before any successor starts). The run row must exist
before the executor runs (``nexus.worker.workflow_runs`` inserts it ``queued``); the run's
nesting depth is kept in its ``spec_snapshot`` and the waiting requests are the node records.

Node saves are the hot path (two per node). On a SQLite file they are written synchronously, on
the event loop's thread, through a private ``sqlite3`` connection in autocommit mode: one
``INSERT ... ON CONFLICT DO UPDATE`` is one short transaction, with no thread hand-offs (the
async driver needs several per save, each waiting for the scheduler). The run's own state is
saved (one ``UPDATE``) and loaded the same way; WAL readers never wait for writers.

The database is in WAL mode with ``synchronous=NORMAL`` (the pragmas of ``nexus.store.db``): a
committed save is in the WAL when the call returns, so it survives the process being killed
(only an OS crash or power loss can drop the last commits). The direct connection never waits
for a lock (busy timeout 0): when another connection holds the write lock, the save goes
through the async engine instead, which waits for it without blocking the loop. Values are
stored exactly as SQLAlchemy stores them (JSON text, ``null`` for ``None``, the SQLite datetime
format), so every other reader is unchanged. PostgreSQL gets the same upsert through the async
engine; other dialects an ORM merge.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from nexus.core.errors import NotFoundError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeRecord, NodeStatus, RunState
from nexus.store.db import Database
from nexus.store.tables import NodeCheckpointRow, RunRow, utcnow


class SqlCheckpointer:
    def __init__(self, db: Database, *, direct: bool = True) -> None:
        """``direct=False`` keeps every SQLite read and write on the async engine."""
        self.db = db
        self._upsert = _node_upsert(db.engine.dialect.name)
        url = db.engine.url
        path = url.database if url.get_backend_name() == "sqlite" else None
        self._direct_path = path if direct and path and path != ":memory:" else None
        self._direct: sqlite3.Connection | None = None

    def close(self) -> None:
        """Close the direct SQLite connection (it reopens on the next save)."""
        if self._direct is not None:
            self._direct.close()
            self._direct = None

    def _connection(self) -> sqlite3.Connection:
        conn = self._direct
        if conn is None:
            assert self._direct_path is not None
            conn = sqlite3.connect(self._direct_path, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA busy_timeout=0")
            self._direct = conn
        return conn

    def _save_direct(self, run_id: str, record: NodeRecord, now: datetime) -> bool:
        """Write the record now; ``False`` when the database is locked by another writer."""
        params = (
            run_id,
            record.node_id,
            record.status.value,
            record.attempt,
            json.dumps(record.outputs),
            json.dumps(record.error),
            json.dumps(record.waiting),
            record.duration_ms,
            json.dumps(record.usage),
            now.strftime(_SQLITE_DATETIME),
        )
        try:
            cursor = self._connection().execute(_DIRECT_UPSERT, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        except sqlite3.IntegrityError as exc:
            raise NotFoundError(
                f"run {run_id!r} has no row; create it before executing the run"
            ) from exc
        cursor.close()
        return True

    def _save_run_direct(self, state: RunState, now: datetime) -> bool:
        stamp = now.strftime(_SQLITE_DATETIME)
        params = (
            state.status.value,
            json.dumps(state.inputs),
            json.dumps({"value": state.outputs} if state.outputs is not None else None),
            json.dumps(state.error),
            None if state.usage is None else json.dumps(state.usage),
            stamp if state.status.is_final else None,
            stamp if state.status is RunStatus.RUNNING else None,
            state.run_id,
        )
        try:
            cursor = self._connection().execute(_DIRECT_RUN_UPDATE, params)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return False
            raise
        updated = cursor.rowcount
        cursor.close()
        if updated != 1:
            raise NotFoundError(
                f"run {state.run_id!r} has no row; create it before executing the run"
            )
        return True

    def _load_run_direct(self, run_id: str) -> RunState | None:
        conn = self._connection()
        row = conn.execute(
            "SELECT kind, status, input, output, error, spec_snapshot FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()
        if row is None or row[0] != "workflow":
            return None
        status = RunStatus(row[1])
        waiting: dict[str, dict[str, Any]] = {}
        if status is RunStatus.WAITING:
            for node_id, request in conn.execute(
                "SELECT node_id, waiting FROM node_checkpoints WHERE run_id = ? AND status = ?",
                (run_id, NodeStatus.WAITING.value),
            ):
                waiting[node_id] = _json(request) or {}
        snapshot = _json(row[5]) or {}
        return RunState(
            run_id=run_id,
            status=status,
            inputs=_json(row[2]),
            outputs=(_json(row[3]) or {}).get("value"),
            error=_json(row[4]),
            waiting=waiting,
            depth=int(snapshot.get("depth", 0)),
        )

    def _load_nodes_direct(self, run_id: str) -> dict[str, NodeRecord]:
        rows = self._connection().execute(
            "SELECT node_id, status, attempt, outputs, error, waiting, duration_ms, usage "
            "FROM node_checkpoints WHERE run_id = ?",
            (run_id,),
        )
        return {
            node_id: NodeRecord(
                node_id=node_id,
                status=NodeStatus(status),
                attempt=attempt,
                outputs=_json(outputs),
                error=_json(error),
                waiting=_json(waiting),
                duration_ms=duration_ms,
                usage=_json(usage),
            )
            for node_id, status, attempt, outputs, error, waiting, duration_ms, usage in rows
        }

    async def save_run(self, state: RunState) -> None:
        now = utcnow()
        if self._direct_path is not None and self._save_run_direct(state, now):
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
        if self._direct_path is not None:
            return self._load_run_direct(run_id)
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
        if self._direct_path is not None and self._save_direct(run_id, record, now):
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
        if self._direct_path is not None:
            return self._load_nodes_direct(run_id)
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


_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"
"""How SQLAlchemy's SQLite dialect stores a ``DateTime`` (UTC here, like ``UTCDateTime``)."""

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


def _json(text: str | None) -> Any:
    """A JSON column as SQLAlchemy reads it (``None`` for SQL NULL and for JSON ``null``)."""
    return None if text is None else json.loads(text)
