"""Hosted apps (``hosted_apps``): what was started, for whom, until when, and how it ended.

The running process lives in ``nexus.worker.apps``; a row is the record that outlives it. Who
may see or stop an app is ``nexus.security.access``'s job (through ``can_see``/``can_edit``
with ``visibility`` derived from ``access``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from nexus.store.db import Database
from nexus.store.tables import HostedAppRow

ACTIVE = ("starting", "running")


def new_app_id() -> str:
    """144 random bits: the id is the only secret of a public app's URL."""
    return "app_" + secrets.token_urlsafe(18)


@dataclass(frozen=True)
class StoredApp:
    id: str
    project_id: str
    entry: str
    owner_id: str | None
    workspace_id: str | None
    access: str
    status: str
    permanent: bool
    ttl_s: int | None
    expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    exit_code: int | None
    killed_reason: str | None
    error: str | None
    stderr_tail: str | None

    @property
    def visibility(self) -> str:
        """For the ownership helper: a public app's record is still only its workspace's."""
        return "private" if self.access == "private" else "workspace"


def _app(row: HostedAppRow) -> StoredApp:
    return StoredApp(
        id=row.id,
        project_id=row.project_id,
        entry=row.entry,
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        access=row.access,
        status=row.status,
        permanent=row.permanent,
        ttl_s=row.ttl_s,
        expires_at=row.expires_at,
        created_at=row.created_at,
        started_at=row.started_at,
        ended_at=row.ended_at,
        exit_code=row.exit_code,
        killed_reason=row.killed_reason,
        error=row.error,
        stderr_tail=row.stderr_tail,
    )


class AppRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(self, **fields: Any) -> StoredApp:
        row = HostedAppRow(id=new_app_id(), **fields)
        async with self.db.sessions.begin() as session:
            session.add(row)
        return _app(row)

    async def get(self, app_id: str) -> StoredApp | None:
        async with self.db.sessions() as session:
            row = await session.get(HostedAppRow, app_id)
        return _app(row) if row is not None else None

    async def update(self, app_id: str, **fields: Any) -> StoredApp | None:
        async with self.db.sessions.begin() as session:
            row = await session.get(HostedAppRow, app_id)
            if row is None:
                return None
            for key, value in fields.items():
                setattr(row, key, value)
        return _app(row)

    async def list(
        self, *, where: sa.ColumnElement[bool] | None = None, offset: int = 0, limit: int = 50
    ) -> tuple[list[StoredApp], int]:
        query = sa.select(HostedAppRow)
        if where is not None:
            query = query.where(where)
        async with self.db.sessions() as session:
            total = await session.scalar(sa.select(sa.func.count()).select_from(query.subquery()))
            rows = await session.scalars(
                query.order_by(HostedAppRow.created_at.desc(), HostedAppRow.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [_app(r) for r in rows], total or 0

    async def active(self) -> list[StoredApp]:
        async with self.db.sessions() as session:
            rows = await session.scalars(
                sa.select(HostedAppRow).where(HostedAppRow.status.in_(ACTIVE))
            )
            return [_app(r) for r in rows]


def visible_clause(
    user_id: str, workspace_ids: list[str], admin_workspaces: list[str]
) -> sa.ColumnElement[bool]:
    """Apps a caller may list: their own, workspace-shared ones of their workspaces, and every
    app of a workspace they administer (the same rule as ``can_see``)."""
    return sa.or_(
        HostedAppRow.owner_id == user_id,
        sa.and_(HostedAppRow.access != "private", HostedAppRow.workspace_id.in_(workspace_ids)),
        HostedAppRow.workspace_id.in_(admin_workspaces),
    )
