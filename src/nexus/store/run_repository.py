"""Stored runs: creation, status transitions, listing with filters and pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nexus.core.errors import NotFoundError
from nexus.core.status import RunStatus
from nexus.store.db import Database
from nexus.store.tables import RunRow, TraceSpanRow, utcnow


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


class RunRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

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
        row = RunRow(
            id=run_id,
            kind=kind,
            owner_id=owner_id,
            workspace_id=workspace_id,
            agent_id=agent_id,
            workflow_id=workflow_id,
            session_id=session_id,
            status=RunStatus.QUEUED.value,
            input=input,
            spec_snapshot=spec_snapshot,
            created_at=utcnow(),
        )
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _stored(row)

    async def find(self, run_id: str) -> StoredRun | None:
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
        async with self.db.sessions.begin() as session:
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status == RunStatus.QUEUED.value)
                .values(status=RunStatus.RUNNING.value, started_at=utcnow())
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
    ) -> bool:
        """Record the final state (and the run's trace spans) once, in one transaction;
        False if the run had already finished."""
        final = [s.value for s in RunStatus if s.is_final]
        async with self.db.sessions.begin() as session:
            if spans:
                await session.execute(
                    sa.insert(TraceSpanRow), [_span_row(run_id, s) for s in spans]
                )
            result = await session.execute(
                sa.update(RunRow)
                .where(RunRow.id == run_id, RunRow.status.not_in(final))
                .values(
                    status=status.value,
                    output={"value": output} if output is not None else None,
                    error=error,
                    usage=usage,
                    finished_at=utcnow(),
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
