"""Stored agents: CRUD over the ``agents`` table. Names are unique within a workspace.

Queries here take the visibility rule as plain arguments; deciding who may see or change an
agent is ``nexus.security.access``'s job.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from nexus.agents.spec import AgentSpec
from nexus.core.errors import ConflictError
from nexus.core.ids import new_id
from nexus.store.db import Database
from nexus.store.tables import AgentRow, utcnow


@dataclass(frozen=True)
class StoredAgent:
    id: str
    spec: AgentSpec
    owner_id: str | None
    workspace_id: str | None
    visibility: str
    created_at: datetime
    updated_at: datetime


def _stored(row: AgentRow) -> StoredAgent:
    return StoredAgent(
        id=row.id,
        spec=AgentSpec.model_validate(row.spec),
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        visibility=row.visibility,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _same_workspace(workspace_id: str | None) -> sa.ColumnElement[bool]:
    if workspace_id is None:
        return AgentRow.workspace_id.is_(None)
    return AgentRow.workspace_id == workspace_id


def visible_clause(
    user_id: str, workspace_ids: Collection[str], admin_workspace_ids: Collection[str]
) -> sa.ColumnElement[bool]:
    """Rows a user may see: own, shared in their workspaces, private in workspaces they
    administer, and public ones."""
    return sa.or_(
        AgentRow.owner_id == user_id,
        AgentRow.visibility == "public",
        sa.and_(AgentRow.workspace_id.in_(workspace_ids), AgentRow.visibility == "workspace"),
        AgentRow.workspace_id.in_(admin_workspace_ids),
    )


class AgentRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def _check_name(
        self, session: object, name: str, workspace_id: str | None, except_id: str | None
    ) -> None:
        query = sa.select(AgentRow.id).where(AgentRow.name == name, _same_workspace(workspace_id))
        if except_id is not None:
            query = query.where(AgentRow.id != except_id)
        if await session.scalar(query.limit(1)) is not None:  # type: ignore[attr-defined]
            raise ConflictError(
                f"an agent named {name!r} already exists in this workspace; choose another name",
                field="name",
            )

    async def create(
        self,
        spec: AgentSpec,
        *,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        visibility: str = "workspace",
    ) -> StoredAgent:
        row = AgentRow(
            id=new_id("agt"),
            name=spec.name,
            spec=spec.model_dump(mode="json"),
            owner_id=owner_id,
            workspace_id=workspace_id,
            visibility=visibility,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        try:
            async with self.db.sessions.begin() as session:
                await self._check_name(session, spec.name, workspace_id, None)
                session.add(row)
        except IntegrityError as exc:
            raise ConflictError(
                f"an agent named {spec.name!r} already exists", field="name"
            ) from exc
        return _stored(row)

    async def get(self, agent_id: str) -> StoredAgent | None:
        async with self.db.sessions() as session:
            row = await session.get(AgentRow, agent_id)
        return _stored(row) if row is not None else None

    async def by_name(self, name: str, workspace_id: str | None) -> StoredAgent | None:
        async with self.db.sessions() as session:
            row = await session.scalar(
                sa.select(AgentRow).where(AgentRow.name == name, _same_workspace(workspace_id))
            )
        return _stored(row) if row is not None else None

    async def list(
        self,
        *,
        where: sa.ColumnElement[bool] | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> tuple[list[StoredAgent], int]:
        query = sa.select(AgentRow)
        if where is not None:
            query = query.where(where)
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(AgentRow.name, AgentRow.id).offset(offset).limit(limit)
            )
            return [_stored(r) for r in rows], total or 0

    async def update(
        self, agent_id: str, spec: AgentSpec, *, visibility: str | None = None
    ) -> StoredAgent:
        try:
            async with self.db.sessions.begin() as session:
                row = await session.get(AgentRow, agent_id)
                if row is None:
                    raise ConflictError(f"agent {agent_id!r} was deleted meanwhile")
                await self._check_name(session, spec.name, row.workspace_id, agent_id)
                row.name = spec.name
                row.spec = spec.model_dump(mode="json")
                if visibility is not None:
                    row.visibility = visibility
                row.updated_at = utcnow()
        except IntegrityError as exc:
            raise ConflictError(
                f"an agent named {spec.name!r} already exists", field="name"
            ) from exc
        return _stored(row)

    async def delete(self, agent_id: str) -> None:
        async with self.db.sessions.begin() as session:
            await session.execute(sa.delete(AgentRow).where(AgentRow.id == agent_id))

    async def referencing(self, agent: StoredAgent) -> list[str]:
        """Names of agents in the same workspace whose handoffs point at ``agent``."""
        refs = {agent.id, agent.spec.name}
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(AgentRow).where(
                    AgentRow.id != agent.id, _same_workspace(agent.workspace_id)
                )
            )
            return [
                r.name
                for r in rows
                if any(h.get("agent") in refs for h in r.spec.get("handoffs", []))
            ]
