"""API tokens and browser sessions, both stored only as SHA-256 digests of their secrets.

Methods run inside the caller's transaction (``session``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.store.tables import ApiTokenRow, BrowserSessionRow


@dataclass(frozen=True)
class ApiTokenRecord:
    id: str
    user_id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class BrowserSessionRecord:
    id_hash: str
    user_id: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


def _token(row: ApiTokenRow) -> ApiTokenRecord:
    return ApiTokenRecord(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def _browser_session(row: BrowserSessionRow) -> BrowserSessionRecord:
    return BrowserSessionRecord(
        id_hash=row.id_hash,
        user_id=row.user_id,
        csrf_token=row.csrf_token,
        created_at=row.created_at,
        expires_at=row.expires_at,
    )


class TokenRepository:
    # --- API tokens -------------------------------------------------------------------------

    async def insert_api_token(
        self,
        session: AsyncSession,
        *,
        token_id: str,
        user_id: str,
        name: str,
        prefix: str,
        token_hash: str,
        created_at: datetime,
        expires_at: datetime | None,
    ) -> ApiTokenRecord:
        row = ApiTokenRow(
            id=token_id,
            user_id=user_id,
            name=name,
            prefix=prefix,
            token_hash=token_hash,
            created_at=created_at,
            expires_at=expires_at,
            last_used_at=None,
            revoked_at=None,
        )
        session.add(row)
        await session.flush()
        return _token(row)

    async def api_token_by_hash(
        self, session: AsyncSession, token_hash: str
    ) -> ApiTokenRecord | None:
        row = await session.scalar(
            sa.select(ApiTokenRow).where(ApiTokenRow.token_hash == token_hash)
        )
        return _token(row) if row is not None else None

    async def api_tokens_of(self, session: AsyncSession, user_id: str) -> list[ApiTokenRecord]:
        rows = await session.scalars(
            sa.select(ApiTokenRow)
            .where(ApiTokenRow.user_id == user_id)
            .order_by(ApiTokenRow.created_at, ApiTokenRow.id)
        )
        return [_token(r) for r in rows]

    async def revoke_api_token(
        self, session: AsyncSession, *, user_id: str, token_id: str, at: datetime
    ) -> ApiTokenRecord | None:
        """Revoke the user's token (idempotent); None if the user has no such token."""
        row = await session.scalar(
            sa.select(ApiTokenRow).where(ApiTokenRow.id == token_id, ApiTokenRow.user_id == user_id)
        )
        if row is None:
            return None
        if row.revoked_at is None:
            row.revoked_at = at
            await session.flush()
        return _token(row)

    async def touch_api_token(self, session: AsyncSession, token_id: str, at: datetime) -> None:
        await session.execute(
            sa.update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=at)
        )

    # --- browser sessions -------------------------------------------------------------------

    async def insert_browser_session(
        self,
        session: AsyncSession,
        *,
        id_hash: str,
        user_id: str,
        csrf_token: str,
        created_at: datetime,
        expires_at: datetime,
    ) -> None:
        session.add(
            BrowserSessionRow(
                id_hash=id_hash,
                user_id=user_id,
                csrf_token=csrf_token,
                created_at=created_at,
                expires_at=expires_at,
            )
        )
        await session.flush()

    async def browser_session(
        self, session: AsyncSession, id_hash: str
    ) -> BrowserSessionRecord | None:
        row = await session.get(BrowserSessionRow, id_hash)
        return _browser_session(row) if row is not None else None

    async def delete_browser_session(self, session: AsyncSession, id_hash: str) -> bool:
        result = await session.execute(
            sa.delete(BrowserSessionRow).where(BrowserSessionRow.id_hash == id_hash)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def delete_browser_sessions_of(self, session: AsyncSession, user_id: str) -> int:
        result = await session.execute(
            sa.delete(BrowserSessionRow).where(BrowserSessionRow.user_id == user_id)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]

    async def delete_expired_browser_sessions(self, session: AsyncSession, now: datetime) -> int:
        result = await session.execute(
            sa.delete(BrowserSessionRow).where(BrowserSessionRow.expires_at <= now)
        )
        return int(result.rowcount)  # type: ignore[attr-defined]
