"""``/api/v1/workspaces``: the caller's workspaces, their members and roles."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request, Response, status

from nexus.api.deps import AccountsDep, PrincipalDep, client_ip
from nexus.api.schemas.accounts import (
    MemberAdd,
    MemberPublic,
    MemberRole,
    WorkspaceCreate,
    WorkspacePublic,
)
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.core.errors import NotFoundError, PermissionDeniedError
from nexus.security.principal import Principal, Role

router = APIRouter(prefix="/api/v1/workspaces", tags=["workspaces"], responses=ERROR_RESPONSES)


def _member_of(principal: Principal, workspace_id: str) -> Role:
    role = principal.role_in(workspace_id)
    if role is None:  # not a member: the workspace is not there for this caller
        raise NotFoundError(f"workspace {workspace_id!r} not found")
    return role


def _admin_of(principal: Principal, workspace_id: str) -> None:
    if _member_of(principal, workspace_id) is not Role.ADMIN:
        raise PermissionDeniedError("only the workspace's admins manage its members")


@router.get("")
async def list_workspaces(principal: PrincipalDep, accounts: AccountsDep) -> list[WorkspacePublic]:
    return [
        WorkspacePublic.model_validate(asdict(w))
        for w in await accounts.list_workspaces(principal.user_id)
    ]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_workspace(
    request: Request, body: WorkspaceCreate, principal: PrincipalDep, accounts: AccountsDep
) -> WorkspacePublic:
    """A new workspace; its creator is its admin. Viewers cannot create workspaces."""
    if not principal.role.can_create and not principal.is_admin:
        raise PermissionDeniedError("viewers cannot create workspaces")
    created = await accounts.create_workspace(body.name, principal.user_id, ip=client_ip(request))
    return WorkspacePublic.model_validate(asdict(created))


@router.get("/{workspace_id}/members")
async def list_members(
    workspace_id: str, principal: PrincipalDep, accounts: AccountsDep
) -> list[MemberPublic]:
    _member_of(principal, workspace_id)
    return [MemberPublic.model_validate(asdict(m)) for m in await accounts.members(workspace_id)]


@router.post("/{workspace_id}/members", status_code=status.HTTP_201_CREATED)
async def add_member(
    request: Request,
    workspace_id: str,
    body: MemberAdd,
    principal: PrincipalDep,
    accounts: AccountsDep,
) -> MemberPublic:
    _admin_of(principal, workspace_id)
    member = await accounts.add_member(
        workspace_id, body.email, body.role, actor_id=principal.user_id, ip=client_ip(request)
    )
    return MemberPublic.model_validate(asdict(member))


@router.put("/{workspace_id}/members/{user_id}")
async def set_member_role(
    request: Request,
    workspace_id: str,
    user_id: str,
    body: MemberRole,
    principal: PrincipalDep,
    accounts: AccountsDep,
) -> MemberPublic:
    _admin_of(principal, workspace_id)
    member = await accounts.set_member_role(
        workspace_id, user_id, body.role, actor_id=principal.user_id, ip=client_ip(request)
    )
    return MemberPublic.model_validate(asdict(member))


@router.delete("/{workspace_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_member(
    request: Request,
    workspace_id: str,
    user_id: str,
    principal: PrincipalDep,
    accounts: AccountsDep,
) -> Response:
    _admin_of(principal, workspace_id)
    await accounts.remove_member(
        workspace_id, user_id, actor_id=principal.user_id, ip=client_ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
