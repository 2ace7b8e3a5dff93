"""Request dependencies (``Annotated`` aliases): services, the caller, and objects by id.

Authentication: ``Authorization: Bearer nx_…`` (API token) or the ``nexus_session`` cookie
(browser), which also needs the ``X-CSRF-Token`` header on every state-changing request.
``X-Nexus-Workspace`` picks the workspace to act in (default: the caller's first).
Objects named in the path are fetched only through ``Access`` (the ownership helper).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from nexus.core.errors import AuthenticationError, PermissionDeniedError
from nexus.security.access import Access
from nexus.security.accounts import Accounts
from nexus.security.principal import Principal
from nexus.security.tokens import constant_time_equals
from nexus.store.agent_repository import StoredAgent
from nexus.store.run_repository import StoredRun
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.services import RunServices

SESSION_COOKIE = "nexus_session"
CSRF_COOKIE = "nexus_csrf"
CSRF_HEADER = "x-csrf-token"
WORKSPACE_HEADER = "x-nexus-workspace"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_services(request: Request) -> RunServices:
    return request.app.state.services


def get_runner(request: Request) -> AgentRunner:
    return request.app.state.runner


def get_accounts(request: Request) -> Accounts:
    return request.app.state.accounts


ServicesDep = Annotated[RunServices, Depends(get_services)]
RunnerDep = Annotated[AgentRunner, Depends(get_runner)]
AccountsDep = Annotated[Accounts, Depends(get_accounts)]


def get_access(services: ServicesDep) -> Access:
    return Access(services.db)


AccessDep = Annotated[Access, Depends(get_access)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


async def get_principal(request: Request, accounts: AccountsDep) -> Principal:
    """The authenticated caller, or 401. Browser sessions must echo their CSRF token."""
    principal: Principal | None = None
    workspace = request.headers.get(WORKSPACE_HEADER) or None
    authorization = request.headers.get("authorization")
    if authorization is not None:
        scheme, _, credential = authorization.partition(" ")
        if scheme.lower() != "bearer" or not credential.strip():
            raise AuthenticationError("use 'Authorization: Bearer nx_…'")
        principal = await accounts.authenticate_token(credential.strip(), workspace_id=workspace)
        if principal is None:
            raise AuthenticationError("the API token is unknown, expired or revoked")
    else:
        secret = request.cookies.get(SESSION_COOKIE)
        if secret:
            principal = await accounts.authenticate_session(secret, workspace_id=workspace)
            if principal is not None and request.method not in SAFE_METHODS:
                expected = await accounts.session_csrf(secret)
                sent = request.headers.get(CSRF_HEADER, "")
                if expected is None or not constant_time_equals(sent, expected):
                    raise PermissionDeniedError(
                        "missing or wrong CSRF token: send the X-CSRF-Token header "
                        "returned at login"
                    )
    if principal is None:
        raise AuthenticationError("sign in, or send an API token as 'Authorization: Bearer nx_…'")
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_instance_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("only administrators may do this")
    return principal


AdminDep = Annotated[Principal, Depends(require_instance_admin)]


def require_creator(principal: PrincipalDep, access: AccessDep) -> Principal:
    access.require_create(principal)
    return principal


CreatorDep = Annotated[Principal, Depends(require_creator)]


async def readable_agent(agent_id: str, principal: PrincipalDep, access: AccessDep) -> StoredAgent:
    return await access.lookup_agent(principal, agent_id, "read")


async def editable_agent(agent_id: str, principal: PrincipalDep, access: AccessDep) -> StoredAgent:
    return await access.lookup_agent(principal, agent_id, "edit")


AgentDep = Annotated[StoredAgent, Depends(readable_agent)]
EditableAgentDep = Annotated[StoredAgent, Depends(editable_agent)]


async def readable_run(run_id: str, principal: PrincipalDep, access: AccessDep) -> StoredRun:
    return await access.lookup_run(principal, run_id, "read")


RunDep = Annotated[StoredRun, Depends(readable_run)]


class Paging:
    def __init__(
        self,
        page: Annotated[int, Query(ge=1, le=1_000_000)] = 1,
        limit: Annotated[int, Query(ge=1, le=100)] = 20,
    ) -> None:
        self.page = page
        self.limit = limit

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.limit


PagingDep = Annotated[Paging, Depends()]
