"""Workspaces and memberships (roles are plain strings here: ``admin|developer|viewer``).

Methods run inside the caller's transaction (``session``). Membership order is the order in
which the user joined: the first one is their default workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.tables import AgentRow, MembershipRow, RunRow, UserRow, WorkspaceRow


@dataclass(frozen=True)
class WorkspaceRecord:
    id: str
    name: str
    created_at: datetime


@dataclass(frozen=True)
class MembershipRecord:
    workspace_id: str
    workspace_name: str
    user_id: str
    email: str
    role: str
    joined_at: datetime


def _workspace(row: WorkspaceRow) -> WorkspaceRecord:
    return WorkspaceRecord(id=row.id, name=row.name, created_at=row.created_at)


_MEMBERSHIP_COLUMNS = (
    MembershipRow.workspace_id,
    WorkspaceRow.name,
    MembershipRow.user_id,
    UserRow.email,
    MembershipRow.role,
    MembershipRow.created_at,
)


def _memberships() -> sa.Select[tuple[str, str, str, str, str, datetime]]:
    return (
        sa.select(*_MEMBERSHIP_COLUMNS)
        .join(WorkspaceRow, WorkspaceRow.id == MembershipRow.workspace_id)
        .join(UserRow, UserRow.id == MembershipRow.user_id)
    )


class WorkspaceRepository:
    async def get(self, session: AsyncSession, workspace_id: str) -> WorkspaceRecord | None:
        row = await session.get(WorkspaceRow, workspace_id)
        return _workspace(row) if row is not None else None

    async def by_name(self, session: AsyncSession, name: str) -> WorkspaceRecord | None:
        row = await session.scalar(sa.select(WorkspaceRow).where(WorkspaceRow.name == name))
        return _workspace(row) if row is not None else None

    async def first(self, session: AsyncSession) -> WorkspaceRecord | None:
        row = await session.scalar(
            sa.select(WorkspaceRow).order_by(WorkspaceRow.created_at, WorkspaceRow.id).limit(1)
        )
        return _workspace(row) if row is not None else None

    async def insert(
        self, session: AsyncSession, *, workspace_id: str, name: str, created_at: datetime
    ) -> WorkspaceRecord:
        """Flushes at once, so a duplicate name raises ``IntegrityError`` here."""
        row = WorkspaceRow(id=workspace_id, name=name, created_at=created_at)
        session.add(row)
        await session.flush()
        return _workspace(row)

    async def lock(self, session: AsyncSession, workspace_id: str) -> None:
        """Serialise membership changes of one workspace: a no-op write takes the row lock on
        Postgres and the write lock on SQLite before anything is read (last-admin checks)."""
        await session.execute(
            sa.update(WorkspaceRow)
            .where(WorkspaceRow.id == workspace_id)
            .values(name=WorkspaceRow.name)
        )

    async def memberships_of(self, session: AsyncSession, user_id: str) -> list[MembershipRecord]:
        rows = await session.execute(
            _memberships()
            .where(MembershipRow.user_id == user_id)
            .order_by(MembershipRow.created_at, MembershipRow.workspace_id)
        )
        return [MembershipRecord(*r) for r in rows]

    async def members(self, session: AsyncSession, workspace_id: str) -> list[MembershipRecord]:
        rows = await session.execute(
            _memberships()
            .where(MembershipRow.workspace_id == workspace_id)
            .order_by(MembershipRow.created_at, MembershipRow.user_id)
        )
        return [MembershipRecord(*r) for r in rows]

    async def role_of(self, session: AsyncSession, workspace_id: str, user_id: str) -> str | None:
        return await session.scalar(
            sa.select(MembershipRow.role).where(
                MembershipRow.workspace_id == workspace_id, MembershipRow.user_id == user_id
            )
        )

    async def count_role(self, session: AsyncSession, workspace_id: str, role: str) -> int:
        query = sa.select(sa.func.count()).where(
            MembershipRow.workspace_id == workspace_id, MembershipRow.role == role
        )
        return await session.scalar(query) or 0

    async def put_member(
        self,
        session: AsyncSession,
        *,
        workspace_id: str,
        user_id: str,
        role: str,
        created_at: datetime,
    ) -> None:
        """Add the membership, or change its role if it exists."""
        row = await session.get(MembershipRow, (workspace_id, user_id))
        if row is None:
            session.add(
                MembershipRow(
                    workspace_id=workspace_id, user_id=user_id, role=role, created_at=created_at
                )
            )
        else:
            row.role = role
        await session.flush()

    async def delete_member(self, session: AsyncSession, workspace_id: str, user_id: str) -> bool:
        result = await session.execute(
            sa.delete(MembershipRow).where(
                MembershipRow.workspace_id == workspace_id, MembershipRow.user_id == user_id
            )
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def adopt_unowned(
        self, session: AsyncSession, *, workspace_id: str, owner_id: str
    ) -> int:
        """Give agents and runs created before any account (seeded examples) an owner and a
        workspace; their visibility is kept. Returns the number of agents adopted."""
        agents = await session.execute(
            sa.update(AgentRow)
            .where(AgentRow.workspace_id.is_(None))
            .values(workspace_id=workspace_id, owner_id=owner_id)
        )
        await session.execute(
            sa.update(RunRow)
            .where(RunRow.workspace_id.is_(None))
            .values(workspace_id=workspace_id, owner_id=owner_id)
        )
        return int(agents.rowcount)  # type: ignore[attr-defined]
