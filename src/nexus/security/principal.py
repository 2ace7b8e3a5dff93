"""Who is calling: the authenticated user, the workspace they act in, and their role there."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"  # everything in the workspace, including its members
    DEVELOPER = "developer"  # create, run and edit own and shared objects
    VIEWER = "viewer"  # read and run shared objects only

    @property
    def can_create(self) -> bool:
        return self is not Role.VIEWER


class Visibility(StrEnum):
    PRIVATE = "private"  # the owner (and workspace admins)
    WORKSPACE = "workspace"  # every member of the workspace
    PUBLIC = "public"  # everyone signed in: readable and clonable, never editable by others


@dataclass(frozen=True)
class Principal:
    user_id: str
    email: str
    is_admin: bool  # instance administrator (user management, instance-wide keys)
    workspace_id: str  # the workspace this request acts in
    role: Role  # the role in that workspace
    memberships: dict[str, Role] = field(default_factory=dict)
    token_id: str | None = None  # set when authenticated by API token
    session_id_hash: str | None = None  # set when authenticated by browser session

    def role_in(self, workspace_id: str | None) -> Role | None:
        if workspace_id is None:
            return None
        return self.memberships.get(workspace_id)
