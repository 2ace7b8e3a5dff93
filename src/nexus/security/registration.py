"""Registration: self-service sign-up and accounts made by an admin or the CLI.

The first account on a fresh instance becomes instance admin and admin of a "Default"
workspace, and adopts the agents and runs seeded before any account existed. Two racing first
sign-ups cannot both win: each transaction first inserts the ``first_admin`` sentinel row, and
the primary key lets one through. Afterwards sign-up is closed unless an admin opens it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from argon2 import PasswordHasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.core.errors import ConflictError, InvalidInputError, PermissionDeniedError
from nexus.core.ids import new_id
from nexus.security.passwords import check_password_policy, hash_password
from nexus.security.principal import Role
from nexus.security.workspaces import (
    DEFAULT_WORKSPACE,
    Workspaces,
    normalise_workspace_name,
    parse_role,
)
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.user_repository import UserRecord, UserRepository
from nexus.store.workspace_repository import WorkspaceRepository

SIGNUP_OPEN_KEY = "signup_open"
FIRST_ADMIN_KEY = "first_admin"
SIGNUP_CLOSED = "sign-up is closed; ask an administrator for an invitation"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


@dataclass(frozen=True)
class UserInfo:
    id: str
    email: str
    is_admin: bool  # instance administrator
    is_active: bool
    created_at: datetime
    locked_until: datetime | None  # set while (or after) a lock-out; compare with now


class _NotFirst(Exception):
    """Another account exists or is being created: not the first-admin path."""


def user_info(u: UserRecord) -> UserInfo:
    return UserInfo(u.id, u.email, u.is_admin, u.is_active, u.created_at, u.locked_until)


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if len(email) > 320 or not _EMAIL.match(email):
        raise InvalidInputError("give a valid email address (name@example.com)", field="email")
    return email


def _email_taken(email: str) -> ConflictError:
    return ConflictError(f"an account for {email} already exists; log in instead", field="email")


class Registration:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        clock: Callable[[], datetime],
        workspaces: Workspaces,
        *,
        hasher: PasswordHasher,
    ) -> None:
        self.db = db
        self.audit = audit
        self.workspaces = workspaces
        self._clock = clock
        self._hasher = hasher
        self._users = UserRepository()
        self._ws = WorkspaceRepository()

    async def user_count(self) -> int:
        async with self.db.sessions() as session:
            return await self._users.count(session)

    async def signup_open(self) -> bool:
        """True while no account exists, or when an admin has opened sign-up."""
        async with self.db.sessions() as session:
            if await self._users.count(session) == 0:
                return True
            return await self._users.get_setting(session, SIGNUP_OPEN_KEY) is True

    async def set_signup_open(
        self, open_: bool, *, actor_id: str | None = None, ip: str | None = None
    ) -> None:
        async with self.db.sessions.begin() as session:
            await self._users.put_setting(session, SIGNUP_OPEN_KEY, bool(open_))
            await self.audit.record(
                "signup_opened" if open_ else "signup_closed",
                actor_id=actor_id,
                object_type="instance",
                ip=ip,
                session=session,
            )

    async def signup(self, email: str, password: str, *, ip: str | None = None) -> UserInfo:
        """Self-service sign-up: the first account becomes admin; later ones join the first
        workspace as developers while sign-up is open."""
        email = normalise_email(email)
        check_password_policy(password)
        if not await self.signup_open():  # before hashing: closed sign-up costs nothing
            raise PermissionDeniedError(SIGNUP_CLOSED)
        password_hash = await self._hash(password)
        first = await self._create_first_admin(
            email, password_hash, DEFAULT_WORKSPACE, "signup", ip
        )
        if first is not None:
            return first
        try:
            async with self.db.sessions.begin() as session:
                if await self._users.get_setting(session, SIGNUP_OPEN_KEY) is not True:
                    raise PermissionDeniedError(SIGNUP_CLOSED)
                user = await self._insert_member(
                    session, email, password_hash, Role.DEVELOPER, None, is_admin=False
                )
                await self.audit.record(
                    "signup",
                    actor_id=user.id,
                    object_type="user",
                    object_id=user.id,
                    ip=ip,
                    details={"email": email, "first_admin": False},
                    session=session,
                )
        except IntegrityError as exc:
            raise _email_taken(email) from exc
        return user_info(user)

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
        """Create an account (admin or CLI path) as ``role`` in ``workspace_name`` (created if
        missing; default: the first workspace, created as "Default" if none). On a fresh
        instance the account becomes instance admin and workspace admin whatever is asked."""
        email = normalise_email(email)
        check_password_policy(password)
        role = parse_role(role)
        if workspace_name is not None:
            workspace_name = normalise_workspace_name(workspace_name)
        password_hash = await self._hash(password)
        first = await self._create_first_admin(
            email, password_hash, workspace_name or DEFAULT_WORKSPACE, "user_created", ip, actor_id
        )
        if first is not None:
            return first
        try:
            async with self.db.sessions.begin() as session:
                user = await self._insert_member(
                    session, email, password_hash, role, workspace_name, is_admin=is_admin
                )
                await self.audit.record(
                    "user_created",
                    actor_id=actor_id,
                    object_type="user",
                    object_id=user.id,
                    ip=ip,
                    details={"email": email, "role": role.value, "is_admin": is_admin},
                    session=session,
                )
        except IntegrityError as exc:
            raise _email_taken(email) from exc
        return user_info(user)

    async def _create_first_admin(
        self,
        email: str,
        password_hash: str,
        workspace_name: str,
        action: str,
        ip: str | None,
        actor_id: str | None = None,
    ) -> UserInfo | None:
        """Create the instance's first account, or None if one exists (or wins a race)."""
        user_id = new_id("usr")
        try:
            async with self.db.sessions.begin() as session:
                try:
                    # The first write of the transaction: whoever inserts it first is first.
                    await self._users.claim_setting(session, FIRST_ADMIN_KEY, user_id)
                except IntegrityError:
                    raise _NotFirst from None
                if await self._users.count(session) > 0:
                    raise _NotFirst  # accounts made before the sentinel existed: roll it back
                now = self._clock()
                user = await self._users.insert(
                    session,
                    user_id=user_id,
                    email=email,
                    password_hash=password_hash,
                    is_admin=True,
                    created_at=now,
                )
                ws = await self._ws.by_name(session, workspace_name)
                if ws is None:
                    ws = await self.workspaces.insert(session, workspace_name)
                await self._ws.put_member(
                    session,
                    workspace_id=ws.id,
                    user_id=user_id,
                    role=Role.ADMIN.value,
                    created_at=now,
                )
                adopted = await self._ws.adopt_unowned(
                    session, workspace_id=ws.id, owner_id=user_id
                )
                await self.audit.record(
                    action,
                    actor_id=actor_id if actor_id is not None else user_id,
                    object_type="user",
                    object_id=user_id,
                    workspace_id=ws.id,
                    ip=ip,
                    details={"email": email, "first_admin": True, "adopted_agents": adopted},
                    session=session,
                )
        except _NotFirst:
            return None
        return user_info(user)

    async def _insert_member(
        self,
        session: AsyncSession,
        email: str,
        password_hash: str,
        role: Role,
        workspace_name: str | None,
        *,
        is_admin: bool,
    ) -> UserRecord:
        if await self._users.by_email(session, email) is not None:
            raise _email_taken(email)
        now = self._clock()
        user = await self._users.insert(
            session,
            user_id=new_id("usr"),
            email=email,
            password_hash=password_hash,
            is_admin=is_admin,
            created_at=now,
        )
        if workspace_name is not None:
            ws = await self._ws.by_name(session, workspace_name)
            if ws is None:
                ws = await self.workspaces.insert(session, workspace_name)
        else:
            ws = await self._ws.first(session)
            if ws is None:
                ws = await self.workspaces.insert(session, DEFAULT_WORKSPACE)
        await self._ws.put_member(
            session, workspace_id=ws.id, user_id=user.id, role=role.value, created_at=now
        )
        return user

    async def _hash(self, password: str) -> str:
        return await asyncio.to_thread(hash_password, password, hasher=self._hasher)
