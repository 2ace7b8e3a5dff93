"""Browser sessions: a random secret in an HttpOnly, SameSite=Lax cookie, plus a CSRF token
the page sends back in a header on every state-changing request.

Only the SHA-256 digest of the secret is stored. Sessions expire after a fixed time (not
sliding); logging out or disabling the account deletes them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from nexus.security.principal import Principal
from nexus.security.tokens import (
    constant_time_equals,
    hash_token,
    new_csrf_token,
    new_session_secret,
)
from nexus.security.workspaces import build_principal
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.token_repository import BrowserSessionRecord, TokenRepository
from nexus.store.user_repository import UserRepository

SESSION_COOKIE = "nexus_session"
CSRF_HEADER = "X-CSRF-Token"
_MAX_SECRET_LENGTH = 200  # ignore absurd cookies before hashing them


class BrowserSessions:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Callable[[], datetime],
        *,
        ttl: timedelta = timedelta(hours=12),
    ) -> None:
        self.db = db
        self.audit = audit
        self.ttl = ttl
        self._clock = clock
        self._repo = TokenRepository()
        self._users = UserRepository()

    async def open(self, session: AsyncSession, user_id: str) -> tuple[str, str]:
        """Create a session inside the caller's transaction: ``(secret, csrf_token)``."""
        now = self._clock()
        secret, csrf = new_session_secret(), new_csrf_token()
        await self._repo.delete_expired_browser_sessions(session, now)
        await self._repo.insert_browser_session(
            session,
            id_hash=hash_token(secret),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + self.ttl,
        )
        return secret, csrf

    async def _live(self, secret: str) -> BrowserSessionRecord | None:
        if not secret or len(secret) > _MAX_SECRET_LENGTH:
            return None
        async with self.db.sessions() as session:
            record = await self._repo.browser_session(session, hash_token(secret))
        if record is None or record.expires_at <= self._clock():
            return None
        return record

    async def authenticate(
        self, secret: str, *, workspace_id: str | None = None
    ) -> Principal | None:
        """The principal for a session cookie; None when unknown, expired or the user is
        disabled. Raises like ``build_principal`` for a workspace the user is not in."""
        record = await self._live(secret)
        if record is None:
            return None
        async with self.db.sessions() as session:
            user = await self._users.get(session, record.user_id)
            if user is None or not user.is_active:
                return None
            return await build_principal(
                session, user, workspace_id, session_id_hash=record.id_hash
            )

    async def csrf_token(self, secret: str) -> str | None:
        record = await self._live(secret)
        return record.csrf_token if record is not None else None

    async def check_csrf(self, secret: str, presented: str | None) -> bool:
        """True when ``presented`` (the header value) matches the live session's CSRF token."""
        expected = await self.csrf_token(secret)
        if expected is None or not presented:
            return False
        return constant_time_equals(expected, presented)

    async def close(self, secret: str, *, ip: str | None = None) -> None:
        """Log out: delete the session (unknown or expired secrets are ignored)."""
        if not secret or len(secret) > _MAX_SECRET_LENGTH:
            return
        id_hash = hash_token(secret)
        async with self.db.sessions.begin() as session:
            record = await self._repo.browser_session(session, id_hash)
            if record is None:
                return
            await self._repo.delete_browser_session(session, id_hash)
            await self.audit.record(
                "logout",
                actor_id=record.user_id,
                object_type="user",
                object_id=record.user_id,
                ip=ip,
                session=session,
            )

    async def close_all(self, session: AsyncSession, user_id: str) -> int:
        """Delete every session of ``user_id`` inside the caller's transaction."""
        return await self._repo.delete_browser_sessions_of(session, user_id)
