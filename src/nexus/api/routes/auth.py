"""``/api/v1/auth``: first-run sign-up, login/logout with a session cookie + CSRF, me, tokens."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

from fastapi import APIRouter, Request, Response, status

from nexus.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    AccountsDep,
    AdminDep,
    PrincipalDep,
    client_ip,
)
from nexus.api.schemas.accounts import (
    AuthStatus,
    Credentials,
    MePublic,
    SessionPublic,
    SignupSetting,
    TokenCreate,
    TokenCreated,
    TokenPublic,
    UserPublic,
    WorkspacePublic,
)
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.security.accounts import Accounts, LoginResult
from nexus.store.tables import utcnow

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], responses=ERROR_RESPONSES)


def user_public(user: object) -> UserPublic:
    return UserPublic.model_validate(asdict(user))  # type: ignore[call-overload]


def _set_session_cookies(request: Request, response: Response, result: LoginResult) -> None:
    settings = request.app.state.services.settings
    max_age = int(settings.session_ttl_hours * 3600)
    response.set_cookie(
        SESSION_COOKIE,
        result.session_secret,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )
    # Readable by the page's own script, which echoes it in X-CSRF-Token (double submit).
    response.set_cookie(
        CSRF_COOKIE,
        result.csrf_token,
        max_age=max_age,
        httponly=False,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


async def _login(
    request: Request, response: Response, accounts: Accounts, body: Credentials
) -> SessionPublic:
    request.app.state.rate_limits.check_login(client_ip(request))
    result = await accounts.login(body.email, body.password, ip=client_ip(request))
    _set_session_cookies(request, response, result)
    return SessionPublic(user=user_public(result.user), csrf_token=result.csrf_token)


@router.get("/status")
async def auth_status(accounts: AccountsDep) -> AuthStatus:
    """Public: whether this instance has users yet and whether sign-up is open."""
    return AuthStatus(
        has_users=await accounts.user_count() > 0, signup_open=await accounts.signup_open()
    )


@router.post("/signup", status_code=status.HTTP_201_CREATED)
async def signup(
    request: Request, response: Response, body: Credentials, accounts: AccountsDep
) -> SessionPublic:
    """Create an account. The first one on a fresh instance becomes its administrator;
    afterwards only while an administrator keeps sign-up open. Signs the new user in."""
    request.app.state.rate_limits.check_login(client_ip(request))
    await accounts.signup(body.email, body.password, ip=client_ip(request))
    return await _login(request, response, accounts, body)


@router.post("/login")
async def login(
    request: Request, response: Response, body: Credentials, accounts: AccountsDep
) -> SessionPublic:
    return await _login(request, response, accounts, body)


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, principal: PrincipalDep, accounts: AccountsDep) -> Response:
    secret = request.cookies.get(SESSION_COOKIE)
    if secret:
        await accounts.logout(secret, ip=client_ip(request))
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(CSRF_COOKIE, path="/")
    return response


@router.get("/me")
async def me(principal: PrincipalDep, accounts: AccountsDep) -> MePublic:
    user = await accounts.get_user(principal.user_id)
    workspaces = await accounts.list_workspaces(principal.user_id)
    return MePublic(
        user=user_public(user),
        workspace_id=principal.workspace_id,
        role=principal.role,
        workspaces=[WorkspacePublic.model_validate(asdict(w)) for w in workspaces],
        auth="token" if principal.token_id is not None else "session",
    )


@router.put("/signup-open")
async def set_signup_open(
    request: Request, body: SignupSetting, principal: AdminDep, accounts: AccountsDep
) -> AuthStatus:
    """Administrators open or close self-service sign-up."""
    await accounts.set_signup_open(body.open, actor_id=principal.user_id, ip=client_ip(request))
    return AuthStatus(has_users=True, signup_open=await accounts.signup_open())


@router.post("/tokens", status_code=status.HTTP_201_CREATED)
async def create_token(
    request: Request, body: TokenCreate, principal: PrincipalDep, accounts: AccountsDep
) -> TokenCreated:
    """A new API token for the caller. The token is in this response only."""
    expires = (
        utcnow() + timedelta(days=body.expires_in_days)
        if body.expires_in_days is not None
        else None
    )
    info, token = await accounts.create_token(
        principal.user_id, body.name, expires, actor_id=principal.user_id, ip=client_ip(request)
    )
    return TokenCreated(**asdict(info), token=token)


@router.get("/tokens")
async def list_tokens(principal: PrincipalDep, accounts: AccountsDep) -> list[TokenPublic]:
    return [
        TokenPublic.model_validate(asdict(t)) for t in await accounts.list_tokens(principal.user_id)
    ]


@router.delete("/tokens/{token_id}", status_code=status.HTTP_204_NO_CONTENT)
async def revoke_token(
    request: Request, token_id: str, principal: PrincipalDep, accounts: AccountsDep
) -> Response:
    await accounts.revoke_token(
        principal.user_id, token_id, actor_id=principal.user_id, ip=client_ip(request)
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
