"""Workspaces, memberships and roles, and the ``Principal`` built from them.

An instance administrator has no implicit role in a workspace they are not a member of. A
workspace always keeps at least one admin. Authorisation of the caller (who may change members)
is ``require_workspace_admin``'s job, called by the API before these methods.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nexus.core.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from nexus.core.ids import new_id
from nexus.security.principal import Principal, Role
from nexus.store.audit_log import AuditLog
from nexus.store.db import Database
from nexus.store.user_repository import UserRecord, UserRepository
from nexus.store.workspace_repository import (
    MembershipRecord,
    WorkspaceRecord,
    WorkspaceRepository,
)

DEFAULT_WORKSPACE = "Default"
_WORKSPACE_NOT_FOUND = "workspace not found"


@dataclass(frozen=True)
class WorkspaceInfo:
    id: str
    name: str
    role: Role  # the asking user's role in it
    created_at: datetime


@dataclass(frozen=True)
class MemberInfo:
    user_id: str
    email: str
    role: Role
    joined_at: datetime


def parse_role(value: str | Role) -> Role:
    try:
        return Role(value)
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise InvalidInputError(
            f"unknown role {value!r}; use one of {choices}", field="role"
        ) from None


def normalise_workspace_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise InvalidInputError(
            "a workspace name needs 1 to 100 printable characters", field="name"
        )
    return name


def require_instance_admin(p: Principal) -> None:
    if not p.is_admin:
        raise PermissionDeniedError("only an instance administrator may do this")


def require_workspace_admin(p: Principal, workspace_id: str) -> None:
    """Members who are not admins get 403; non-members get 404 (existence not confirmed)."""
    role = p.role_in(workspace_id)
    if role is None:
        raise NotFoundError(_WORKSPACE_NOT_FOUND)
    if role is not Role.ADMIN:
        raise PermissionDeniedError("only an admin of this workspace may manage its members")


def _member(m: MembershipRecord) -> MemberInfo:
    return MemberInfo(user_id=m.user_id, email=m.email, role=Role(m.role), joined_at=m.joined_at)


async def build_principal(
    session: AsyncSession,
    user: UserRecord,
    workspace_id: str | None,
    *,
    token_id: str | None = None,
    session_id_hash: str | None = None,
) -> Principal:
    """The principal of ``user`` acting in ``workspace_id`` (None: their first workspace).

    ``NotFoundError`` for a workspace they are not a member of (whether it exists or not);
    ``PermissionDeniedError`` when they belong to no workspace at all.
    """
    memberships = await WorkspaceRepository().memberships_of(session, user.id)
    roles = {m.workspace_id: Role(m.role) for m in memberships}
    if workspace_id is None:
        if not memberships:
            raise PermissionDeniedError(
                "you are not a member of any workspace; ask an administrator to add you to one"
            )
        workspace_id = memberships[0].workspace_id
    if workspace_id not in roles:
        raise NotFoundError(_WORKSPACE_NOT_FOUND)
    return Principal(
        user_id=user.id,
        email=user.email,
        is_admin=user.is_admin,
        workspace_id=workspace_id,
        role=roles[workspace_id],
        memberships=roles,
        token_id=token_id,
        session_id_hash=session_id_hash,
    )


class Workspaces:
    def __init__(self, db: Database, audit: AuditLog, clock: Callable[[], datetime]) -> None:
        self.db = db
        self.audit = audit
        self._clock = clock
        self._repo = WorkspaceRepository()
        self._users = UserRepository()

    async def principal_for(self, user_id: str, workspace_id: str | None = None) -> Principal:
        async with self.db.sessions() as session:
            user = await self._users.get(session, user_id)
            if user is None or not user.is_active:
                raise AuthenticationError("this account does not exist or is disabled")
            return await build_principal(session, user, workspace_id)

    async def list_workspaces(self, user_id: str) -> list[WorkspaceInfo]:
        async with self.db.sessions() as session:
            memberships = await self._repo.memberships_of(session, user_id)
            infos = []
            for m in memberships:
                ws = await self._repo.get(session, m.workspace_id)
                assert ws is not None  # the foreign key keeps memberships pointing at workspaces
                infos.append(WorkspaceInfo(ws.id, ws.name, Role(m.role), ws.created_at))
            return infos

    async def create_workspace(
        self, name: str, creator_id: str, *, ip: str | None = None
    ) -> WorkspaceInfo:
        """Create a workspace with ``creator_id`` as its admin."""
        name = normalise_workspace_name(name)
        now = self._clock()
        try:
            async with self.db.sessions.begin() as session:
                if await self._users.get(session, creator_id) is None:
                    raise NotFoundError("user not found")
                ws = await self.insert(session, name)
                await self._repo.put_member(
                    session,
                    workspace_id=ws.id,
                    user_id=creator_id,
                    role=Role.ADMIN.value,
                    created_at=now,
                )
                await self.audit.record(
                    "workspace_created",
                    actor_id=creator_id,
                    object_type="workspace",
                    object_id=ws.id,
                    workspace_id=ws.id,
                    ip=ip,
                    details={"name": name},
                    session=session,
                )
        except IntegrityError as exc:
            raise ConflictError(
                f"a workspace named {name!r} already exists; choose another name", field="name"
            ) from exc
        return WorkspaceInfo(ws.id, ws.name, Role.ADMIN, ws.created_at)

    async def insert(self, session: AsyncSession, name: str) -> WorkspaceRecord:
        return await self._repo.insert(
            session, workspace_id=new_id("wsp"), name=name, created_at=self._clock()
        )

    async def members(self, workspace_id: str) -> list[MemberInfo]:
        async with self.db.sessions() as session:
            if await self._repo.get(session, workspace_id) is None:
                raise NotFoundError(_WORKSPACE_NOT_FOUND)
            return [_member(m) for m in await self._repo.members(session, workspace_id)]

    async def add_member(
        self,
        workspace_id: str,
        email: str,
        role: str | Role,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> MemberInfo:
        role = parse_role(role)
        email = email.strip().lower()
        async with self.db.sessions.begin() as session:
            await self._repo.lock(session, workspace_id)
            if await self._repo.get(session, workspace_id) is None:
                raise NotFoundError(_WORKSPACE_NOT_FOUND)
            user = await self._users.by_email(session, email)
            if user is None:
                raise NotFoundError(
                    f"no account for {email!r}; create it first (`nexus user create`)",
                    field="email",
                )
            if await self._repo.role_of(session, workspace_id, user.id) is not None:
                raise ConflictError(
                    f"{email} is already a member; change their role instead", field="email"
                )
            now = self._clock()
            await self._repo.put_member(
                session, workspace_id=workspace_id, user_id=user.id, role=role.value, created_at=now
            )
            await self.audit.record(
                "member_added",
                actor_id=actor_id,
                object_type="user",
                object_id=user.id,
                workspace_id=workspace_id,
                ip=ip,
                details={"email": email, "role": role.value},
                session=session,
            )
        return MemberInfo(user_id=user.id, email=user.email, role=role, joined_at=now)

    async def set_member_role(
        self,
        workspace_id: str,
        user_id: str,
        role: str | Role,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> MemberInfo:
        role = parse_role(role)
        async with self.db.sessions.begin() as session:
            await self._repo.lock(session, workspace_id)
            old = await self._repo.role_of(session, workspace_id, user_id)
            if old is None:
                raise NotFoundError("member not found in this workspace")
            await self._repo.put_member(
                session,
                workspace_id=workspace_id,
                user_id=user_id,
                role=role.value,
                created_at=self._clock(),
            )
            await self._keep_an_admin(session, workspace_id)
            await self.audit.record(
                "role_changed",
                actor_id=actor_id,
                object_type="user",
                object_id=user_id,
                workspace_id=workspace_id,
                ip=ip,
                details={"from": old, "to": role.value},
                session=session,
            )
            member = next(
                m for m in await self._repo.members(session, workspace_id) if m.user_id == user_id
            )
        return _member(member)

    async def remove_member(
        self,
        workspace_id: str,
        user_id: str,
        *,
        actor_id: str | None = None,
        ip: str | None = None,
    ) -> None:
        async with self.db.sessions.begin() as session:
            await self._repo.lock(session, workspace_id)
            if not await self._repo.delete_member(session, workspace_id, user_id):
                raise NotFoundError("member not found in this workspace")
            await self._keep_an_admin(session, workspace_id)
            await self.audit.record(
                "member_removed",
                actor_id=actor_id,
                object_type="user",
                object_id=user_id,
                workspace_id=workspace_id,
                ip=ip,
                session=session,
            )

    async def _keep_an_admin(self, session: AsyncSession, workspace_id: str) -> None:
        # Checked after the change, inside its transaction: raising rolls the change back.
        if await self._repo.count_role(session, workspace_id, Role.ADMIN.value) == 0:
            raise ConflictError(
                "a workspace needs at least one admin; make another member admin first"
            )
