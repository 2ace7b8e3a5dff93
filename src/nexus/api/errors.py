"""The only place where errors become HTTP: status per error class, one JSON body shape.

Every error response is ``{"error": {"code", "message", "field"?, "details"?}}``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from nexus.core import errors
from nexus.core.sandbox_types import SandboxUnavailableError

STATUS: tuple[tuple[type[errors.NexusError], int], ...] = (
    (errors.NotFoundError, 404),
    (errors.AuthenticationError, 401),
    (errors.PermissionDeniedError, 403),
    (errors.RateLimitedError, 429),
    (errors.VaultError, 503),
    (SandboxUnavailableError, 503),
    (errors.InvalidInputError, 422),
    (errors.ConflictError, 409),
    (errors.ConfigurationError, 400),
    (errors.ProviderError, 502),
    (errors.ToolError, 400),
    (errors.RunError, 409),
)


def status_for(exc: errors.NexusError) -> int:
    for cls, status in STATUS:
        if isinstance(exc, cls):
            return status
    return 400


def error_body(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, **extra}}


def _field(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path", "header")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _nexus_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.NexusError)
    headers: dict[str, str] = {}
    if isinstance(exc, errors.RateLimitedError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, errors.AuthenticationError):
        headers["WWW-Authenticate"] = 'Bearer realm="nexus"'
    return JSONResponse({"error": exc.to_dict()}, status_code=status_for(exc), headers=headers)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = [
        {
            # a JSON syntax error's loc ends in a character offset, not a field
            "field": "body" if e.get("type") == "json_invalid" else _field(tuple(e.get("loc", ()))),
            "message": e.get("msg", ""),
            "type": e.get("type"),
        }
        for e in exc.errors()
    ]
    first = details[0] if details else {"field": "", "message": "invalid request"}
    body = error_body(
        "invalid_input",
        f"{first['field'] or 'request'}: {first['message']}",
        field=first["field"],
        details=details,
    )
    return JSONResponse(body, status_code=422)


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
        exc.status_code, "http_error"
    )
    return JSONResponse(
        error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.NexusError, _nexus_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
