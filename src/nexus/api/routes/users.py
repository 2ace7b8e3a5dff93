"""``/api/v1/users``: accounts (administrators) and provider API keys (everyone, BYOK)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from nexus.api.audit import audit
from nexus.api.deps import AccountsDep, AdminDep, PrincipalDep, ServicesDep, client_ip
from nexus.api.routes.auth import user_public
from nexus.api.schemas.accounts import (
    ApiKeyCreate,
    ApiKeyPublic,
    UserCreate,
    UserPublic,
    UserUpdate,
)
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from nexus.security.key_check import verify_key
from nexus.security.principal import Principal, Role
from nexus.security.vault import CredentialInfo, CredentialScope

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=ERROR_RESPONSES)


def key_public(info: CredentialInfo) -> ApiKeyPublic:
    return ApiKeyPublic(
        id=info.id,
        scope=info.scope.value,
        provider=info.provider,
        name=info.name,
        masked=info.masked,
        verified=info.verified,
        workspace_id=info.workspace_id,
        created_at=info.created_at,
    )


def _may_manage(principal: Principal, info: CredentialInfo) -> bool:
    if info.scope is CredentialScope.USER:
        return info.owner_id == principal.user_id
    if info.scope is CredentialScope.WORKSPACE:
        return principal.role_in(info.workspace_id) is Role.ADMIN
    return principal.is_admin


@router.post("/api-keys", status_code=status.HTTP_201_CREATED)
async def add_api_key(
    request: Request, body: ApiKeyCreate, principal: PrincipalDep, services: ServicesDep
) -> ApiKeyPublic:
    """Store a provider key (encrypted). It is checked against the provider first when the
    provider answers: a rejected key is refused, an unreachable provider saves it unverified."""
    registry = services.providers
    try:
        info = registry.provider(body.provider)
    except NotFoundError as exc:
        raise InvalidInputError(exc.message, field="provider") from exc
    if body.scope == "workspace" and principal.role is not Role.ADMIN:
        raise PermissionDeniedError("only workspace admins add workspace keys")
    if body.scope == "instance" and not principal.is_admin:
        raise PermissionDeniedError("only instance administrators add instance-wide keys")
    verified: bool | None = None
    base_url = request.app.state.provider_base_urls.get(info.name)
    if base_url is not None:
        verified = await verify_key(
            info.name, body.secret, base_url=base_url, transport=request.app.state.key_transport
        )
        if verified is False:
            raise InvalidInputError(
                f"{info.name} rejected this key (401/403); check it and try again", field="secret"
            )
    vault = services.vault
    assert vault is not None
    stored = await vault.put(
        CredentialScope(body.scope),
        provider=info.name,
        name=body.name,
        secret=body.secret,
        owner_id=principal.user_id if body.scope == "user" else None,
        workspace_id=None if body.scope == "instance" else principal.workspace_id,
        created_by=principal.user_id,
        verified=bool(verified),
    )
    await audit(request, services, "key_created", "credential", stored.id, {"provider": info.name})
    return key_public(stored)


@router.get("/api-keys")
async def list_api_keys(principal: PrincipalDep, services: ServicesDep) -> list[ApiKeyPublic]:
    """The keys a run of the caller could use here (theirs, the workspace's, the instance's),
    masked."""
    vault = services.vault
    assert vault is not None
    own = await vault.list(
        owner_id=principal.user_id, workspace_id=principal.workspace_id, scope="user"
    )
    shared = await vault.list(workspace_id=principal.workspace_id, scope="workspace")
    instance = await vault.list(scope="instance")
    return [key_public(i) for i in (*own, *shared, *instance)]


@router.delete("/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_api_key(
    request: Request, key_id: str, principal: PrincipalDep, services: ServicesDep
) -> Response:
    vault = services.vault
    assert vault is not None
    try:
        info = await vault.get_info(key_id)
    except NotFoundError:
        info = None
    if info is None or not _may_manage(principal, info):
        raise NotFoundError(f"API key {key_id!r} not found")
    await vault.delete(key_id)
    await audit(request, services, "key_deleted", "credential", key_id, {"provider": info.provider})
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("")
async def list_users(_admin: AdminDep, accounts: AccountsDep) -> list[UserPublic]:
    return [user_public(u) for u in await accounts.list_users()]


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_user(
    request: Request, body: UserCreate, admin: AdminDep, accounts: AccountsDep
) -> UserPublic:
    """Invite someone: the account is created with a password to hand over."""
    user = await accounts.create_user(
        body.email,
        body.password,
        body.role,
        body.workspace,
        body.is_admin,
        actor_id=admin.user_id,
        ip=client_ip(request),
    )
    return user_public(user)


@router.get("/{user_id}")
async def get_user(user_id: str, _admin: AdminDep, accounts: AccountsDep) -> UserPublic:
    return user_public(await accounts.get_user(user_id))


@router.patch("/{user_id}")
async def update_user(
    request: Request, user_id: str, body: UserUpdate, admin: AdminDep, accounts: AccountsDep
) -> UserPublic:
    user = await accounts.set_active(
        user_id, body.is_active, actor_id=admin.user_id, ip=client_ip(request)
    )
    return user_public(user)
