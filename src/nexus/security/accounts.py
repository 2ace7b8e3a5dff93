"""Accounts: the one service the API and CLI call for anything about who someone is.

It composes the parts, each in its own module: ``registration`` (sign-up, first admin,
accounts made by admins), ``login`` (passwords and lock-out), ``sessions`` (browser cookies and
CSRF), ``api_tokens`` (bearer tokens), ``workspaces`` (memberships, roles, principals). Every
change is written to the audit log (``accounts.audit``). Callers authorise first: see
``workspaces.require_instance_admin`` and ``require_workspace_admin``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import NamedTuple

from argon2 import PasswordHasher

from nexus.core.errors import ConflictError, NotFoundError
from nexus.security.api_tokens import ApiTokens, TokenInfo
from nexus.security.login import LOCKOUT, MAX_FAILED_LOGINS, PasswordLogin
from nexus.security.passwords import DEFAULT_HASHER
from nexus.security.principal import Principal, Role
from nexus.security.registration import Registration, UserInfo, normalise_email, user_info
from nexus.security.sessions import BrowserSessions
from nexus.security.workspaces import MemberInfo, WorkspaceInfo, Workspaces
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.tables import utcnow
from nexus.store.user_repository import UserRepository

__all__ = ["Accounts", "LoginResult", "TokenInfo", "UserInfo", "normalise_email"]


class LoginResult(NamedTuple):
    user: UserInfo
    session_secret: str  # the cookie value; only its SHA-256 digest is stored
    csrf_token: str  # send back in a header on every state-changing request


class Accounts:
    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], datetime] = utcnow,
        hasher: PasswordHasher = DEFAULT_HASHER,
        session_ttl: timedelta = timedelta(hours=12),
        max_failed_logins: int = MAX_FAILED_LOGINS,
        lockout: timedelta = LOCKOUT,
    ) -> None:
        self.db = db
        self.audit = AuditLog(db, clock=clock)
        self.workspaces = Workspaces(db, self.audit, clock)
        self.registration = Registration(db, self.audit, clock, self.workspaces, hasher=hasher)
        self.tokens = ApiTokens(db, self.audit, clock)
        self.sessions = BrowserSessions(db, self.audit, clock, ttl=session_ttl)
        self.passwords = PasswordLogin(
            db,
            self.audit,
            clock,
            self.sessions,
            hasher=hasher,
            max_failed_logins=max_failed_logins,
            lockout=lockout,
        )
        self.session_ttl = session_ttl
        self._users = UserRepository()

    # --- sign-up and new accounts ---------------------------------------------------------------

    async def user_count(self) -> int:
        return await self.registration.user_count()

    async def signup_open(self) -> bool:
        """True while no account exists, or when an admin has opened sign-up."""
        return await self.registration.signup_open()

    async def set_signup_open(
        self, open_: bool, *, actor_id: str | None = None, ip: str | None = None
    ) -> None:
        await self.registration.set_signup_open(open_, actor_id=actor_id, ip=ip)

    async def signup(self, email: str, password: str, *, ip: str | None = None) -> UserInfo:
        return await self.registration.signup(email, password, ip=ip)

    async def create_user(
        self,
        email: str,
        password: str,
        role: str | Role,
        workspace_name: str | None = None,
        is_admin: bool = False,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> UserInfo:
        return await self.registration.create_user(
            email, password, role, workspace_name, is_admin, actor_id=actor_id, ip=ip
        )

    # --- login and browser sessions --------------------------------------------------------

    async def login(self, email: str, password: str, ip: str | None = None) -> LoginResult:
        """Check the password and open a browser session (see ``security.login``)."""
        user, secret, csrf = await self.passwords.login(email, password, ip=ip)
        async with self.db.sessions() as session:
            fresh = await self._users.get(session, user.id)
        return LoginResult(user_info(fresh if fresh is not None else user), secret, csrf)

    async def logout(self, session_secret: str, *, ip: str | None = None) -> None:
        await self.sessions.close(session_secret, ip=ip)

    async def authenticate_session(
        self, session_secret: str, *, workspace_id: str | None = None
    ) -> Principal | None:
        return await self.sessions.authenticate(session_secret, workspace_id=workspace_id)

    async def session_csrf(self, session_secret: str) -> str | None:
        return await self.sessions.csrf_token(session_secret)

    async def check_csrf(self, session_secret: str, presented: str | None) -> bool:
        return await self.sessions.check_csrf(session_secret, presented)

    async def principal_for(self, user_id: str, workspace_id: str | None = None) -> Principal:
        return await self.workspaces.principal_for(user_id, workspace_id)

    # --- API tokens ---------------------------------------------------------------------------

    async def create_token(
        self,
        user_id: str,
        name: str,
        expires_at: datetime | None = None,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> tuple[TokenInfo, str]:
        return await self.tokens.create(user_id, name, expires_at, actor_id=actor_id, ip=ip)

    async def list_tokens(self, user_id: str) -> list[TokenInfo]:
        return await self.tokens.list(user_id)

    async def revoke_token(
        self, user_id: str, token_id: str, *, actor_id: str | None = None, ip: str | None = None
    ) -> TokenInfo:
        return await self.tokens.revoke(user_id, token_id, actor_id=actor_id, ip=ip)

    async def authenticate_token(
        self, plaintext: str, *, workspace_id: str | None = None
    ) -> Principal | None:
        return await self.tokens.authenticate(plaintext, workspace_id=workspace_id)

    # --- users (instance admin) -----------------------------------------------------------------

    async def list_users(self) -> list[UserInfo]:
        async with self.db.sessions() as session:
            return [user_info(u) for u in await self._users.list(session)]

    async def get_user(self, user_id: str) -> UserInfo:
        async with self.db.sessions() as session:
            user = await self._users.get(session, user_id)
        if user is None:
            raise NotFoundError("user not found")
        return user_info(user)

    async def find_user(self, email: str) -> UserInfo | None:
        async with self.db.sessions() as session:
            user = await self._users.by_email(session, email.strip().lower())
        return user_info(user) if user is not None else None

    async def set_active(
        self, user_id: str, active: bool, *, actor_id: str | None = None, ip: str | None = None
    ) -> UserInfo:
        """Enable or disable an account; disabling ends its sessions and stops its tokens.
        The last active instance admin cannot be disabled."""
        async with self.db.sessions.begin() as session:
            await self._users.set_active(session, user_id, active)
            user = await self._users.get(session, user_id)
            if user is None:
                raise NotFoundError("user not found")
            if not active:
                if user.is_admin and await self._users.count_active_admins(session) == 0:
                    raise ConflictError(
                        "this is the last active instance administrator; make another user "
                        "admin before disabling this one"
                    )
                await self.sessions.close_all(session, user_id)
            await self.audit.record(
                "user_enabled" if active else "user_disabled",
                actor_id=actor_id,
                object_type="user",
                object_id=user_id,
                ip=ip,
                details={"email": user.email},
                session=session,
            )
        return user_info(user)

    # --- workspaces -------------------------------------------------------------------------------

    async def list_workspaces(self, user_id: str) -> list[WorkspaceInfo]:
        return await self.workspaces.list_workspaces(user_id)

    async def create_workspace(
        self, name: str, creator_id: str, *, ip: str | None = None
    ) -> WorkspaceInfo:
        return await self.workspaces.create_workspace(name, creator_id, ip=ip)

    async def members(self, workspace_id: str) -> list[MemberInfo]:
        return await self.workspaces.members(workspace_id)

    async def add_member(
        self,
        workspace_id: str,
        email: str,
        role: str | Role,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> MemberInfo:
        return await self.workspaces.add_member(workspace_id, email, role, actor_id=actor_id, ip=ip)

    async def set_member_role(
        self,
        workspace_id: str,
        user_id: str,
        role: str | Role,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> MemberInfo:
        return await self.workspaces.set_member_role(
            workspace_id, user_id, role, actor_id=actor_id, ip=ip
        )

    async def remove_member(
        self, workspace_id: str, user_id: str, *, actor_id: str | None = None, ip: str | None = None
    ) -> None:
        await self.workspaces.remove_member(workspace_id, user_id, actor_id=actor_id, ip=ip)
