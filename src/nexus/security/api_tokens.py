"""API tokens for programs: ``Authorization: Bearer nx_…``.

The plaintext is returned once by ``create`` and never stored; the database keeps its SHA-256
digest and a short prefix for lists. Every authentication reads the row, so a revocation takes
effect on the next request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from nexus.core.errors import InvalidInputError, NotFoundError
from nexus.core.ids import new_id
from nexus.security.principal import Principal
from nexus.security.tokens import hash_token, looks_like_api_token, new_api_token
from nexus.security.workspaces import build_principal
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.token_repository import ApiTokenRecord, TokenRepository
from nexus.store.user_repository import UserRepository

LAST_USED_RESOLUTION = timedelta(minutes=1)  # write last_used_at at most this often


@dataclass(frozen=True)
class TokenInfo:
    id: str
    name: str
    prefix: str  # the first 12 characters of the token, "nx_" included
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


def _info(t: ApiTokenRecord) -> TokenInfo:
    return TokenInfo(
        id=t.id,
        name=t.name,
        prefix=t.prefix,
        created_at=t.created_at,
        expires_at=t.expires_at,
        last_used_at=t.last_used_at,
        revoked=t.revoked_at is not None,
    )


def _token_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInputError("a token name needs 1 to 100 printable characters", field="name")
    return name


class ApiTokens:
    def __init__(self, db: Database, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.audit = audit
        self._clock = clock
        self._repo = TokenRepository()
        self._users = UserRepository()

    async def create(
        self,
        user_id: str,
        name: str,
        expires_at: datetime | None = None,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> tuple[TokenInfo, str]:
        """A new token for ``user_id`` and its plaintext, which is not retrievable later."""
        name = _token_name(name)
        now = self._clock()
        if expires_at is not None:
            if expires_at.tzinfo is None:
                raise InvalidInputError(
                    "give expires_at with a time zone (e.g. 2030-01-01T00:00:00Z)",
                    field="expires_at",
                )
            if expires_at <= now:
                raise InvalidInputError("expires_at must be in the future", field="expires_at")
        token = new_api_token()
        async with self.db.sessions.begin() as session:
            user = await self._users.get(session, user_id)
            if user is None or not user.is_active:
                raise NotFoundError("user not found")
            record = await self._repo.insert_api_token(
                session,
                token_id=new_id("tok"),
                user_id=user_id,
                name=name,
                prefix=token.prefix,
                token_hash=token.token_hash,
                created_at=now,
                expires_at=expires_at,
            )
            await self.audit.record(
                "token_created",
                actor_id=actor_id if actor_id is not None else user_id,
                object_type="api_token",
                object_id=record.id,
                ip=ip,
                details={"name": name, "prefix": token.prefix, "user_id": user_id},
                session=session,
            )
        return _info(record), token.plaintext

    async def list(self, user_id: str) -> list[TokenInfo]:
        """The user's tokens, revoked ones included, oldest first."""
        async with self.db.sessions() as session:
            return [_info(t) for t in await self._repo.api_tokens_of(session, user_id)]

    async def revoke(
        self,
        user_id: str,
        token_id: str,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> TokenInfo:
        """Revoke ``user_id``'s token (idempotent). Another user's token is ``NotFoundError``."""
        async with self.db.sessions.begin() as session:
            record = await self._repo.revoke_api_token(
                session, user_id=user_id, token_id=token_id, at=self._clock()
            )
            if record is None:
                raise NotFoundError("token not found")
            await self.audit.record(
                "token_revoked",
                actor_id=actor_id if actor_id is not None else user_id,
                object_type="api_token",
                object_id=token_id,
                ip=ip,
                details={"name": record.name, "prefix": record.prefix, "user_id": user_id},
                session=session,
            )
        return _info(record)

    async def authenticate(
        self, plaintext: str, *, workspace_id: str | None = None
    ) -> Principal | None:
        """The principal for a bearer token; None when unknown, revoked, expired or the user
        is disabled. Raises like ``build_principal`` for a workspace the user is not in."""
        if not looks_like_api_token(plaintext):
            return None
        now = self._clock()
        async with self.db.sessions() as session:
            token = await self._repo.api_token_by_hash(session, hash_token(plaintext))
            if token is None or token.revoked_at is not None:
                return None
            if token.expires_at is not None and token.expires_at <= now:
                return None
            user = await self._users.get(session, token.user_id)
            if user is None or not user.is_active:
                return None
            principal = await build_principal(session, user, workspace_id, token_id=token.id)
        if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
            async with self.db.sessions.begin() as session:
                await self._repo.touch_api_token(session, token.id, now)
        return principal
