"""The audit log: who did what to which object, when, from where. Append-only; read by admins.

Details never hold secrets: keys that name a password, secret or token value are redacted here
as a last line of defence, whatever the caller passes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.db import Database
from nexus.store.tables import AuditRow, utcnow

REDACTED = "[redacted]"
_SECRET_KEY_PARTS = ("password", "secret", "plaintext", "csrf")
_SECRET_KEYS = {"token", "api_token", "session", "authorization", "key", "api_key"}
_TOKEN_PREFIX = "nx_"


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    workspace_id: str | None
    ip: str | None
    details: dict[str, Any]


def _is_secret_key(key: str) -> bool:
    k = key.lower()
    return k in _SECRET_KEYS or any(part in k for part in _SECRET_KEY_PARTS)


def redact(details: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``details`` with secret-looking keys and ``nx_…`` token values replaced."""
    clean: dict[str, Any] = {}
    for key, value in (details or {}).items():
        if _is_secret_key(key):
            clean[key] = REDACTED
        elif isinstance(value, dict):
            clean[key] = redact(value)
        elif isinstance(value, str) and value.startswith(_TOKEN_PREFIX) and len(value) > 20:
            clean[key] = REDACTED
        else:
            clean[key] = value
    return clean


def _entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        id=row.id,
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        object_type=row.object_type,
        object_id=row.object_id,
        workspace_id=row.workspace_id,
        ip=row.ip,
        details=dict(row.details or {}),
    )


class AuditLog:
    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.db = db
        self._clock = clock

    async def record(
        self,
        action: str,
        *,
        actor_id: str | None,
        object_type: str | None = None,
        object_id: str | None = None,
        workspace_id: str | None = None,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
        session: AsyncSession | None = None,
    ) -> None:
        """Append one entry; inside ``session``'s transaction when given, else in its own."""
        row = AuditRow(
            at=self._clock(),
            actor_id=actor_id,
            action=action,
            object_type=object_type,
            object_id=object_id,
            workspace_id=workspace_id,
            ip=ip[:64] if ip is not None else None,
            details=redact(details),
        )
        if session is not None:
            session.add(row)
            return
        async with self.db.sessions.begin() as own:
            own.add(row)

    async def list(
        self,
        offset: int = 0,
        limit: int = 50,
        *,
        action: str | None = None,
        actor_id: str | None = None,
    ) -> tuple[list[AuditEntry], int]:
        """Newest first, with the total count matching the filters."""
        where: list[sa.ColumnElement[bool]] = []
        if action is not None:
            where.append(AuditRow.action == action)
        if actor_id is not None:
            where.append(AuditRow.actor_id == actor_id)
        async with self.db.sessions() as session:
            total = await session.scalar(
                sa.select(sa.func.count()).select_from(AuditRow).where(*where)
            )
            rows = await session.scalars(
                sa.select(AuditRow)
                .where(*where)
                .order_by(AuditRow.at.desc(), AuditRow.id.desc())
                .offset(offset)
                .limit(limit)
            )
            return [_entry(r) for r in rows], total or 0
