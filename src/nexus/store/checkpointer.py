"""The SQL ``Checkpointer``: a workflow run's state lives in its ``runs`` row, each node's latest
record in ``node_checkpoints``.

Every save is its own committed transaction, so when ``save_node`` returns the node's output
survives a crash (the executor awaits it before any successor starts). The run row must exist
before the executor runs (``nexus.worker.workflow_runs`` inserts it ``queued``); the run's
nesting depth is kept in its ``spec_snapshot`` and the waiting requests are the node records.
"""

from __future__ import annotations

import sqlalchemy as sa

from nexus.core.errors import NotFoundError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeRecord, NodeStatus, RunState
from nexus.store.db import Database
from nexus.store.tables import NodeCheckpointRow, RunRow, utcnow


class SqlCheckpointer:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def save_run(self, state: RunState) -> None:
        values: dict[str, object] = {
            "status": state.status.value,
            "input": state.inputs,
            "output": {"value": state.outputs} if state.outputs is not None else None,
            "error": state.error,
        }
        now = utcnow()
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
        async with self.db.sessions.begin() as session:
            await session.merge(
                NodeCheckpointRow(
                    run_id=run_id,
                    node_id=record.node_id,
                    status=record.status.value,
                    attempt=record.attempt,
                    outputs=record.outputs,
                    error=record.error,
                    waiting=record.waiting,
                    duration_ms=record.duration_ms,
                    updated_at=utcnow(),
                )
            )

    async def load_nodes(self, run_id: str) -> dict[str, NodeRecord]:
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
                )
                for r in rows
            }
