"""Hosted apps: ``/api/v1/apps`` to start, list, read and stop them, and ``/apps/{id}/…``, the
reverse proxy to a running app's Unix socket.

Management follows the ownership rule (``nexus.security.access``): an app the caller may not
see is 404. The proxy checks ``access``: ``private`` (its owner and the workspace's admins) and
``workspace`` (members of its workspace) need the normal authentication and answer 404 to
anyone else; ``public`` answers anyone holding the URL (the id carries 144 random bits).

What the proxy forwards: method, path, query, body (streamed both ways) and end-to-end headers.
It never forwards ``Authorization``, ``X-CSRF-Token`` or Nexus's own cookies, and drops
hop-by-hop headers both ways. Responses get ``Content-Security-Policy: sandbox …`` (without
``allow-same-origin``): the app's pages run as an opaque origin, so its scripts cannot call the
Nexus API with the visitor's session, and a ``Set-Cookie`` for a Nexus cookie is dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import httpx
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.background import BackgroundTask

from nexus.api.audit import audit
from nexus.api.deps import (
    CSRF_COOKIE,
    SESSION_COOKIE,
    CreatorDep,
    PagingDep,
    PrincipalDep,
    ServicesDep,
    get_accounts,
    get_principal,
)
from nexus.api.routes.code import ProjectsDep, lookup_project
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.core.errors import NotFoundError, PermissionDeniedError
from nexus.security.access import can_edit, can_see
from nexus.security.principal import Principal, Role
from nexus.store.apps import StoredApp, visible_clause
from nexus.worker.apps import MAX_TTL_S, Apps

router = APIRouter(prefix="/api/v1/apps", tags=["apps"], responses=ERROR_RESPONSES)
proxy_router = APIRouter(tags=["apps"])

Access = Literal["private", "workspace", "public"]
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
NEVER_FORWARDED = frozenset({"authorization", "x-csrf-token", "cookie", "x-nexus-workspace"})
NEXUS_COOKIES = frozenset({SESSION_COOKIE, CSRF_COOKIE})
APP_CSP = (
    "sandbox allow-scripts allow-forms allow-popups allow-modals allow-downloads; "
    "frame-ancestors 'none'"
)
PROXY_METHODS = ["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"]
"""HEAD and OPTIONS are not proxied (405): the API's own auth matrix covers exactly these."""


class AppCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    project_id: str = Field(min_length=1, max_length=40)
    entry: str = Field(min_length=1, max_length=255)
    """The file to run (``.py``, ``.sh`` or ``.js``); it serves HTTP on 127.0.0.1:$PORT."""
    ttl_s: int | None = Field(default=None, ge=1, le=MAX_TTL_S)
    """Seconds until the app is stopped (default 3600)."""
    permanent: bool = False
    """No TTL: runs until deleted (or until Nexus restarts)."""
    access: Access = "private"

    @model_validator(mode="after")
    def _ttl_or_permanent(self) -> AppCreate:
        if self.permanent and self.ttl_s is not None:
            raise ValueError("give ttl_s or permanent, not both")
        return self


class AppPublic(BaseModel):
    id: str
    url: str
    project_id: str
    entry: str
    access: Access
    status: Literal["starting", "running", "crashed", "stopped", "expired"]
    permanent: bool
    ttl_s: int | None
    expires_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    uptime_s: float | None
    cpu_s: float | None
    rss_bytes: float | None
    exit_code: int | None
    killed_reason: str | None
    error: str | None
    stderr_tail: str | None
    owner_id: str | None
    workspace_id: str | None


def get_apps(request: Request) -> Apps:
    return request.app.state.apps


AppsDep = Annotated[Apps, Depends(get_apps)]


def _public(app: StoredApp, apps: Apps) -> AppPublic:
    return AppPublic(
        id=app.id,
        url=f"/apps/{app.id}/",
        project_id=app.project_id,
        entry=app.entry,
        access=app.access,  # type: ignore[arg-type]
        status=app.status,  # type: ignore[arg-type]
        permanent=app.permanent,
        ttl_s=app.ttl_s,
        expires_at=app.expires_at,
        created_at=app.created_at,
        started_at=app.started_at,
        ended_at=app.ended_at,
        exit_code=app.exit_code,
        killed_reason=app.killed_reason,
        error=app.error,
        stderr_tail=app.stderr_tail,
        owner_id=app.owner_id,
        workspace_id=app.workspace_id,
        **apps.usage(app),
    )


async def lookup_app(p: Principal, apps: Apps, app_id: str, need: str = "read") -> StoredApp:
    app = await apps.repo.get(app_id)
    if app is None or not can_see(p, app):
        raise NotFoundError(f"app {app_id!r} not found")
    if need == "edit" and not can_edit(p, app):
        raise PermissionDeniedError("you may see this app but not stop it")
    return await apps.refresh(app)


@router.post("", status_code=status.HTTP_201_CREATED)
async def start_app(
    request: Request,
    body: AppCreate,
    principal: CreatorDep,
    projects: ProjectsDep,
    apps: AppsDep,
    services: ServicesDep,
) -> AppPublic:
    """Start the project's ``entry`` as a web app; answers once it serves HTTP (or crashed)."""
    project = await lookup_project(principal, projects, body.project_id, "read")
    app = await apps.start(
        project_id=project.id,
        entry=body.entry,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
        access=body.access,
        ttl_s=body.ttl_s,
        permanent=body.permanent,
    )
    await audit(request, services, "app_started", "app", app.id)
    return _public(app, apps)


@router.get("")
async def list_apps(principal: PrincipalDep, apps: AppsDep, paging: PagingDep) -> Page[AppPublic]:
    admin = [ws for ws, role in principal.memberships.items() if role is Role.ADMIN]
    where = visible_clause(principal.user_id, list(principal.memberships), admin)
    items, total = await apps.repo.list(where=where, offset=paging.offset, limit=paging.limit)
    refreshed = [await apps.refresh(app) for app in items]
    return Page(
        items=[_public(app, apps) for app in refreshed],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )


@router.get("/{app_id}")
async def get_app(app_id: str, principal: PrincipalDep, apps: AppsDep) -> AppPublic:
    return _public(await lookup_app(principal, apps, app_id), apps)


@router.delete("/{app_id}")
async def stop_app(
    request: Request, app_id: str, principal: PrincipalDep, apps: AppsDep, services: ServicesDep
) -> AppPublic:
    """Stop the app (its sandbox is killed); the record stays, with status ``stopped``."""
    app = await lookup_app(principal, apps, app_id, "edit")
    app = await apps.stop(app.id)
    await audit(request, services, "app_stopped", "app", app.id)
    return _public(app, apps)


# --------------------------------------------------------------------------- reverse proxy


async def proxy(request: Request, app_id: str, path: str) -> Response:
    """Forward the request to the app (see the module docstring for what is forwarded)."""
    apps: Apps = request.app.state.apps
    app = await apps.repo.get(app_id)
    if app is None:
        raise NotFoundError(f"app {app_id!r} not found")
    if app.access != "public":
        principal = await get_principal(request, get_accounts(request))
        if not can_see(principal, app):
            raise NotFoundError(f"app {app_id!r} not found")
    transport = apps.transport(app.id)
    if transport is None:
        app = await apps.refresh(app)
        return Response(
            f"app {app_id} is not running (status: {app.status})\n",
            status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
            media_type="text/plain",
        )
    upstream = httpx.AsyncClient(transport=transport, base_url="http://app", timeout=None)
    outgoing = upstream.build_request(
        request.method,
        httpx.URL("http://app").copy_with(raw_path=_target(request, app.id, path)),
        headers=_request_headers(request, app),
        content=request.stream() if request.method not in ("GET", "HEAD") else None,
    )
    try:
        answer = await upstream.send(outgoing, stream=True)
    except httpx.HTTPError:
        await upstream.aclose()
        return Response(
            f"app {app_id} did not answer\n",
            status_code=status.HTTP_502_BAD_GATEWAY,
            media_type="text/plain",
        )

    async def close() -> None:
        await answer.aclose()
        await upstream.aclose()

    response = StreamingResponse(
        answer.aiter_raw(), status_code=answer.status_code, background=BackgroundTask(close)
    )
    response.raw_headers = _response_headers(answer.headers)  # repeated Set-Cookie kept
    return response


def _target(request: Request, app_id: str, path: str) -> bytes:
    """The path and query as the client sent them (still percent-encoded), minus the prefix."""
    prefix = f"/apps/{app_id}/".encode()
    raw: bytes = request.scope.get("raw_path") or b""
    rest = raw[len(prefix) - 1 :] if raw.startswith(prefix) else b"/" + path.encode()
    query: bytes = request.scope.get("query_string", b"")
    return rest + b"?" + query if query else rest


def _request_headers(request: Request, app: StoredApp) -> list[tuple[str, str]]:
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name not in HOP_BY_HOP and name not in NEVER_FORWARDED
    ]
    cookies = [
        f"{name}={value}" for name, value in request.cookies.items() if name not in NEXUS_COOKIES
    ]
    if cookies:
        headers.append(("cookie", "; ".join(cookies)))
    headers += [
        ("host", request.headers.get("host", "app")),
        ("x-forwarded-prefix", f"/apps/{app.id}"),
        ("x-forwarded-proto", request.url.scheme),
    ]
    return headers


def _response_headers(headers: httpx.Headers) -> list[tuple[bytes, bytes]]:
    out: list[tuple[bytes, bytes]] = []
    for name, value in headers.multi_items():
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "set-cookie" and value.split("=", 1)[0].strip() in NEXUS_COOKIES:
            continue
        out.append((lower.encode("latin-1"), value.encode("latin-1")))
    out.append((b"content-security-policy", APP_CSP.encode()))
    return out


for _method in PROXY_METHODS:  # one operation per method: distinct operation ids in the spec
    proxy_router.add_api_route(
        "/apps/{app_id}/{path:path}",
        proxy,
        methods=[_method],
        name=f"proxy_app_{_method.lower()}",
        response_class=Response,
    )
