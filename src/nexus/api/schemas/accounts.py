from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.security.principal import Role


class Credentials(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)


class UserPublic(BaseModel):
    id: str
    email: str
    is_admin: bool
    is_active: bool
    created_at: datetime


class SessionPublic(BaseModel):
    user: UserPublic
    csrf_token: str


class WorkspacePublic(BaseModel):
    id: str
    name: str
    role: Role
    created_at: datetime


class MePublic(BaseModel):
    user: UserPublic
    workspace_id: str
    role: Role
    workspaces: list[WorkspacePublic]
    auth: Literal["session", "token"]


class AuthStatus(BaseModel):
    has_users: bool
    signup_open: bool


class SignupSetting(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: bool


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenPublic(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked: bool


class TokenCreated(TokenPublic):
    token: str = Field(description="The token itself: shown once, store it now.")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=256)
    role: Role = Role.DEVELOPER
    workspace: str | None = Field(default=None, max_length=100, description="workspace name")
    is_admin: bool = False


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    is_active: bool


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)


class MemberPublic(BaseModel):
    user_id: str
    email: str
    role: Role
    joined_at: datetime


class MemberAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: str = Field(min_length=3, max_length=320)
    role: Role = Role.DEVELOPER


class MemberRole(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Role


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(min_length=1, max_length=100)
    name: str = Field(min_length=1, max_length=100)
    secret: str = Field(min_length=1, max_length=10_000, repr=False)
    scope: Literal["user", "workspace", "instance"] = "user"


class ApiKeyPublic(BaseModel):
    id: str
    scope: str
    provider: str
    name: str
    masked: str
    verified: bool
    workspace_id: str | None
    created_at: datetime


class AuditEntryPublic(BaseModel):
    id: int
    at: datetime
    actor_id: str | None
    action: str
    object_type: str | None
    object_id: str | None
    workspace_id: str | None
    ip: str | None
    details: dict[str, object]
