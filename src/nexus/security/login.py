"""Password login with lock-out.

``MAX_FAILED_LOGINS`` consecutive wrong passwords lock the account for ``LOCKOUT``; while
locked even the right password is refused. An unknown email and a wrong password get the same
``AuthenticationError`` after the same argon2 work. Unknown emails never lock, so a lock-out
does tell an attacker the account exists: the per-IP login rate limit in the API bounds that.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable
from datetime import datetime, timedelta

from argon2 import PasswordHasher

from nexus.core.errors import AccountLockedError, AuthenticationError
from nexus.security.passwords import hash_password, verify_password
from nexus.security.sessions import BrowserSessions
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.user_repository import UserRecord, UserRepository

MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)
INVALID_CREDENTIALS = "invalid email or password"
_MAX_PASSWORD_TRIED = 1024  # longer inputs are refused without hashing them


def _locked(until: datetime, now: datetime) -> AccountLockedError:
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    return AccountLockedError(
        f"too many failed logins: this account is locked for {minutes} more minute(s); "
        "try again later or ask an administrator"
    )


class PasswordLogin:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Callable[[], datetime],
        sessions: BrowserSessions,
        *,
        hasher: PasswordHasher,
        max_failed_logins: int = MAX_FAILED_LOGINS,
        lockout: timedelta = LOCKOUT,
    ) -> None:
        self.db = db
        self.audit = audit
        self.sessions = sessions
        self._clock = clock
        self._hasher = hasher
        self._max_failed = max_failed_logins
        self._lockout = lockout
        self._users = UserRepository()
        self._dummy_hash: str | None = None

    async def login(
        self, email: str, password: str, *, ip: str | None
    ) -> tuple[UserRecord, str, str]:
        """``(user, session_secret, csrf_token)`` or an ``AuthenticationError``."""
        email = email.strip().lower()
        async with self.db.sessions() as session:
            user = await self._users.by_email(session, email) if len(email) <= 320 else None
        if user is None or len(password) > _MAX_PASSWORD_TRIED:
            await self._dummy_verify(password[:_MAX_PASSWORD_TRIED])
            await self._failed(None, email, ip, "unknown_email" if user is None else "too_long")
            raise AuthenticationError(INVALID_CREDENTIALS)

        now = self._clock()
        if user.locked_until is not None and user.locked_until > now:
            await self._failed(user.id, email, ip, "locked")
            raise _locked(user.locked_until, now)

        check = await asyncio.to_thread(
            verify_password, password, user.password_hash, hasher=self._hasher
        )
        if not check.ok:
            await self._wrong_password(user, email, ip, now)

        if not user.is_active:
            await self._failed(user.id, email, ip, "disabled")
            raise AuthenticationError("this account is disabled; ask an administrator to enable it")

        async with self.db.sessions.begin() as session:
            await self._users.record_successful_login(
                session, user.id, new_password_hash=check.new_hash
            )
            secret, csrf = await self.sessions.open(session, user.id)
            await self.audit.record(
                "login_succeeded",
                actor_id=user.id,
                object_type="user",
                object_id=user.id,
                ip=ip,
                details={"email": email},
                session=session,
            )
        return user, secret, csrf

    async def _wrong_password(
        self, user: UserRecord, email: str, ip: str | None, now: datetime
    ) -> None:
        lock_expired = user.locked_until is not None  # and not in the future: checked above
        async with self.db.sessions.begin() as session:
            failures = await self._users.record_failed_login(
                session, user.id, reset_first=lock_expired
            )
            await self.audit.record(
                "login_failed",
                actor_id=user.id,
                object_type="user",
                object_id=user.id,
                ip=ip,
                details={"email": email, "reason": "wrong_password", "failures": failures},
                session=session,
            )
            if failures >= self._max_failed:
                until = now + self._lockout
                await self._users.lock(session, user.id, until)
                await self.audit.record(
                    "account_locked",
                    actor_id=None,
                    object_type="user",
                    object_id=user.id,
                    ip=ip,
                    details={"email": email, "until": until.isoformat(), "failures": failures},
                    session=session,
                )
        if failures >= self._max_failed:
            raise _locked(until, now)
        raise AuthenticationError(INVALID_CREDENTIALS)

    async def _failed(self, user_id: str | None, email: str, ip: str | None, reason: str) -> None:
        await self.audit.record(
            "login_failed",
            actor_id=user_id,
            object_type="user" if user_id is not None else None,
            object_id=user_id,
            ip=ip,
            details={"email": email[:320], "reason": reason},
        )

    async def _dummy_verify(self, password: str) -> None:
        """Spend what a real verification costs, so unknown emails are not faster."""
        if self._dummy_hash is None:
            self._dummy_hash = await asyncio.to_thread(
                hash_password, "nexus-dummy-password", hasher=self._hasher
            )
        await asyncio.to_thread(verify_password, password, self._dummy_hash, hasher=self._hasher)
