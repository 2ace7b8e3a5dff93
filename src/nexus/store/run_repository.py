"""Stored runs: creation, status transitions, listing with filters and pages.

A run's hot-path statements (``create``, ``mark_running``, ``finish`` and the read by id) go
through the database's direct SQLite connection when it has one (``nexus.store.direct_sqlite``:
no thread hand-offs, values stored as SQLAlchemy stores them, each call one committed
transaction); when another connection holds the write lock, or on PostgreSQL, they go through
the async engine. A statement the direct path refuses for integrity is replayed on the engine,
so callers see the engine's error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nexus.core.errors import NotFoundError
from nexus.core.events import RunEvent
from nexus.core.status import RunStatus
from nexus.store.db import Database
from nexus.store.direct_sqlite import (
    decode_datetime,
    decode_json,
    encode_datetime,
    encode_json,
)
from nexus.store.tables import RunEventRow, RunRow, TraceSpanRow, utcnow


@dataclass(frozen=True)
class StoredRun:
    id: str
    kind: str
    owner_id: str | None
    workspace_id: str | None
    agent_id: str | None
    workflow_id: str | None
    session_id: str | None
    status: RunStatus
    input: dict[str, Any]
    output: Any
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    spec_snapshot: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def _stored(row: RunRow) -> StoredRun:
    return StoredRun(
        id=row.id,
        kind=row.kind,
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        agent_id=row.agent_id,
        workflow_id=row.workflow_id,
        session_id=row.session_id,
        status=RunStatus(row.status),
        input=row.input,
        output=(row.output or {}).get("value"),
        error=row.error,
        usage=row.usage,
        spec_snapshot=row.spec_snapshot,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
    )


_COLUMNS = (
    "id, kind, owner_id, workspace_id, agent_id, workflow_id, session_id, status, input, "
    "output, error, usage, spec_snapshot, created_at, started_at, finished_at"
)


def _decoded(row: tuple[Any, ...]) -> StoredRun:
    """A row of ``SELECT {_COLUMNS}`` read by the direct connection."""
    output = decode_json(row[9])
    created_at = decode_datetime(row[13])
    assert created_at is not None
    return StoredRun(
        id=row[0],
        kind=row[1],
        owner_id=row[2],
        workspace_id=row[3],
        agent_id=row[4],
        workflow_id=row[5],
        session_id=row[6],
        status=RunStatus(row[7]),
        input=decode_json(row[8]),
        output=(output or {}).get("value"),
        error=decode_json(row[10]),
        usage=decode_json(row[11]),
        spec_snapshot=decode_json(row[12]),
        created_at=created_at,
        started_at=decode_datetime(row[14]),
        finished_at=decode_datetime(row[15]),
    )


_FINAL = tuple(s.value for s in RunStatus if s.is_final)


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._direct = db.direct

    async def create(
        self,
        run_id: str,
        *,
        agent_id: str | None,
        session_id: str | None,
        input: dict[str, Any],
        spec_snapshot: dict[str, Any],
        owner_id: str | None = None,
        workspace_id: str | None = None,
        kind: str = "agent",
        workflow_id: str | None = None,
    ) -> StoredRun:
        run = StoredRun(
            id=run_id,
            kind=kind,
            owner_id=owner_id,
            workspace_id=workspace_id,
            agent_id=agent_id,
            workflow_id=workflow_id,
            session_id=session_id,
            status=RunStatus.QUEUED,
            input=input,
            output=None,
            error=None,
            usage=None,
            spec_snapshot=spec_snapshot,
            created_at=utcnow(),
            started_at=None,
            finished_at=None,
        )
        if self._direct is not None and self._create_direct(run):
            return run
        row = RunRow(
            id=run.id,
            kind=run.kind,
            owner_id=run.owner_id,
            workspace_id=run.workspace_id,
            agent_id=run.agent_id,
            workflow_id=run.workflow_id,
            session_id=run.session_id,
            status=run.status.value,
            input=run.input,
            spec_snapshot=run.spec_snapshot,
            created_at=run.created_at,
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _stored(row)

    def _create_direct(self, run: StoredRun) -> bool:
        """Insert the row as the ORM would (unset columns NULL); False: use the engine."""
        assert self._direct is not None
        params = (
            run.id,
            run.kind,
            run.owner_id,
            run.workspace_id,
            run.agent_id,
            run.workflow_id,
            run.session_id,
            run.status.value,
            encode_json(run.input),
            encode_json(run.spec_snapshot),
            encode_datetime(run.created_at),
        )
        try:
            return self._direct.execute(_DIRECT_INSERT, params) is not None
        except sqlite3.IntegrityError:
            return False  # the engine raises its own error for it

    async def find(self, run_id: str) -> StoredRun | None:
        if self._direct is not None:
            rows = self._direct.fetch(f"SELECT {_COLUMNS} FROM runs WHERE id = ?", (run_id,))
            if rows is not None:
                return _decoded(rows[0]) if rows else None
        async with self.db.sessions() as session:
            row = await session.get(RunRow, run_id)
        return _stored(row) if row is not None else None

    async def get(self, run_id: str) -> StoredRun:
        run = await self.find(run_id)
        if run is None:
            raise NotFoundError(f"run {run_id!r} not found")
        return run

    async def list(
        self,
        *,
        where: sa.ColumnElement[bool] | None = None,
        agent_id: str | None = None,
        workflow_id: str | None = None,
        status: RunStatus | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[StoredRun], int]:
        query = sa.select(RunRow)
        if where is not None:
            query = query.where(where)
        if agent_id is not None:
            query = query.where(RunRow.agent_id == agent_id)
        if workflow_id is not None:
            query = query.where(RunRow.workflow_id == workflow_id)
        if status is not None:
            query = query.where(RunRow.status == status.value)
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(RunRow.created_at.desc(), RunRow.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [_stored(r) for r in rows], total or 0

    async def mark_running(self, run_id: str) -> bool:
        """Move a queued run to running; False if it was cancelled (or finished) meanwhile."""
        now = utcnow()
        if self._direct is not None:
            updated = self._direct.execute(
                "UPDATE runs SET status = ?, started_at = ? WHERE id = ? AND status = ?",
                (RunStatus.RUNNING.value, encode_datetime(now), run_id, RunStatus.QUEUED.value),
            )
            if updated is not None:
                return updated == 1
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.RUNNING.value, started_at=now)
            )
        return result.rowcount == 1

    async def finish(
        self,
        run_id: str,
        status: RunStatus,
        *,
        output: Any = None,
        error: dict[str, Any] | None = None,
        usage: dict[str, Any] | None = None,
        spans: list[dict[str, Any]] | None = None,
        events: Sequence[RunEvent] = (),
    ) -> bool:
        """Record the final state (and the run's trace spans) once, in one transaction;
        False if the run had already finished. ``events`` (the run's last ones, from
        ``RunEventWriter.last_batch``) are inserted in the same transaction."""
        stored_output = {"value": output} if output is not None else None
        now = utcnow()
        rows = [_span_row(run_id, s) for s in spans] if spans else []
        if self._direct is not None:
            statements: list[tuple[str, Any]] = []
            if rows:
                statements.append((_DIRECT_SPAN_INSERT, [_span_params(r) for r in rows]))
            if events:
                statements.append((_DIRECT_EVENT_INSERT, [_event_params(e) for e in events]))
            params = (
                status.value,
                encode_json(stored_output),
                encode_json(error),
                encode_json(usage),
                encode_datetime(now),
                run_id,
                *_FINAL,
            )
            statements.append((_DIRECT_FINISH, params))
            try:
                counts = self._direct.transaction(statements)
            except sqlite3.IntegrityError:
                counts = None  # the engine raises its own error for it
            if counts is not None:
                return counts[-1] == 1
        async with self.db.sessions.begin() as session:
            if rows:
                await session.execute(sa.insert(TraceSpanRow), rows)
            if events:
                await session.execute(sa.insert(RunEventRow), [_event_row(e) for e in events])
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.not_in(_FINAL))
                .values(
                    status=status.value,
                    output=stored_output,
                    error=error,
                    usage=usage,
                    finished_at=now,
                )
            )
        return result.rowcount == 1

    async def spans(self, run_id: str) -> list[dict[str, Any]]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(TraceSpanRow)
                .where(TraceSpanRow.run_id == run_id)
                .order_by(TraceSpanRow.started_at)
            )
            return [
                {
                    "id": r.id,
                    "trace_id": r.trace_id,
                    "parent_id": r.parent_id,
                    "kind": r.kind,
                    "started_at": r.started_at,
                    "ended_at": r.ended_at,
                    "data": r.data,
                    "error": r.error,
                }
                for r in rows
            ]


def _span_row(run_id: str, span: dict[str, Any]) -> dict[str, Any]:
    """An exported SDK span as a ``trace_spans`` row."""
    return {
        "id": span["id"],
        "trace_id": span["trace_id"],
        "parent_id": span.get("parent_id"),
        "run_id": run_id,
        "kind": (span.get("span_data") or {}).get("type", "span"),
        "started_at": span.get("started_at"),
        "ended_at": span.get("ended_at"),
        "data": span.get("span_data"),
        "error": span.get("error"),
    }


def _event_row(event: RunEvent) -> dict[str, Any]:
    return {
        "run_id": event.run_id,
        "seq": event.seq,
        "type": event.type,
        "data": event.data,
        "created_at": event.created_at,
    }


def _event_params(event: RunEvent) -> tuple[Any, ...]:
    return (event.run_id, event.seq, event.type, encode_json(event.data), event.created_at)


def _span_params(row: dict[str, Any]) -> tuple[Any, ...]:
    return (
        row["id"],
        row["trace_id"],
        row["parent_id"],
        row["run_id"],
        row["kind"],
        row["started_at"],
        row["ended_at"],
        encode_json(row["data"]),
        encode_json(row["error"]),
    )


_DIRECT_INSERT = """
INSERT INTO runs
    (id, kind, owner_id, workspace_id, agent_id, workflow_id, session_id, status, input,
     spec_snapshot, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_DIRECT_SPAN_INSERT = """
INSERT INTO trace_spans (id, trace_id, parent_id, run_id, kind, started_at, ended_at, data, error)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_DIRECT_EVENT_INSERT = (
    "INSERT INTO run_events (run_id, seq, type, data, created_at) VALUES (?, ?, ?, ?, ?)"
)

_DIRECT_FINISH = f"""
UPDATE runs SET status = ?, output = ?, error = ?, usage = ?, finished_at = ?
WHERE id = ? AND status NOT IN ({", ".join("?" for _ in _FINAL)})
"""
