"""The built web app (``web/dist``) served at ``/`` with a single-page-app fallback.

Files under ``/assets`` are served as they are (content-hashed names, cached for a year); any other
GET outside the API's own prefixes answers ``index.html`` so client-side routes survive a reload.
Paths under the API's prefixes that match no route keep answering the API's JSON 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response

API_PREFIXES = ("api/", "ws", "apps/", "docs", "openapi.json", "health", "redoc")
NOT_BUILT = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nexus</title>
</head><body style="background:#0a0a1a;color:#e6e6f0;font-family:sans-serif;padding:2rem">
<h1>Nexus</h1><p>The web app is not built. Run <code>make web</code> (or <code>make run</code>),
then reload. The API and its documentation are at <a style="color:#00ffff" href="/docs">/docs</a>.
</p></body></html>"""


def default_dist() -> Path:
    """``web/dist`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parents[3] / "web" / "dist"


def install_web_ui(app: FastAPI, dist: Path | None) -> None:
    root = (dist or default_dist()).resolve()

    @app.get("/{path:path}", include_in_schema=False)
    async def web_app(path: str, request: Request) -> Response:
        if path.startswith(API_PREFIXES):
            return JSONResponse(
                {"error": {"code": "not_found", "message": f"no route {request.url.path}"}},
                status_code=404,
            )
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT)
        if path:
            candidate = (root / path).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                cache = (
                    "public, max-age=31536000, immutable"
                    if path.startswith("assets/")
                    else "no-cache"
                )
                return FileResponse(candidate, headers={"cache-control": cache})
            if path.startswith("assets/"):
                return JSONResponse(
                    {"error": {"code": "not_found", "message": f"no asset {path}"}},
                    status_code=404,
                )
        return FileResponse(index, headers={"cache-control": "no-cache"})
