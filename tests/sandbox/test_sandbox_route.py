"""``POST /api/v1/sandbox/exec`` on a minimal app holding only the sandbox router.

The caller dependency is overridden (auth is tested with the other routes); the sandbox is
the real bubblewrap one.
"""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from nexus.api.deps import require_creator
from nexus.api.errors import install_error_handlers
from nexus.api.routes import sandbox as sandbox_route


@pytest.fixture
def app(sandbox) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(sandbox_route.router)
    app.state.sandbox = sandbox
    app.dependency_overrides[require_creator] = lambda: object()
    return app


async def post(app: FastAPI, body: dict[str, object]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.post("/api/v1/sandbox/exec", json=body)


async def test_exec_python_with_files(app: FastAPI) -> None:
    response = await post(
        app,
        {
            "language": "python",
            "code": "print(open('a.txt').read()); open('b.txt', 'w').write('B')",
            "files": {"a.txt": "A"},
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert 0 < body.pop("duration_ms") < 10_000
    assert body == {
        "exit_code": 0,
        "stdout": "A\n",
        "stderr": "",
        "timed_out": False,
        "killed_reason": None,
        "files_changed": {"b.txt": "B"},
    }


async def test_exec_timeout(app: FastAPI) -> None:
    response = await post(app, {"language": "bash", "code": "sleep 10", "timeout_s": 0.3})
    body = response.json()
    assert (response.status_code, body["timed_out"], body["killed_reason"]) == (
        200,
        True,
        "timeout",
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"language": "ruby", "code": "p 1"}, "language"),
        ({"language": "python", "code": "1", "timeout_s": 100_000}, "timeout_s"),
        ({"language": "python", "code": "1", "network": True}, "network"),
        ({"language": "python", "code": "1", "files": {"../x": ""}}, "files"),
        ({"language": "python", "code": "1", "extra": 1}, "extra"),
        ({"language": "python", "code": "1", "allow_hosts": ["example.com"]}, "allow_hosts"),
        ({"language": "python", "code": "1", "mode": "app"}, "mode"),
        (
            {"language": "python", "code": "1", "mode": "validation", "allow_hosts": [""]},
            "allow_hosts[0]",
        ),
    ],
)
async def test_bad_requests_are_422_naming_the_field(
    app: FastAPI, body: dict[str, object], field: str
) -> None:
    response = await post(app, body)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == field


async def test_validation_mode_reaches_only_the_allow_list(app: FastAPI) -> None:
    """Through the API the production proxy applies: a host off the list is refused by the
    proxy (403 with the reason), and nothing else of the network exists."""
    code = (
        "import urllib.request, urllib.error, socket\n"
        "try:\n"
        "    urllib.request.urlopen('http://not-on-the-list.example/', timeout=5)\n"
        "except urllib.error.HTTPError as exc:\n"
        "    print('REFUSED', exc.code, exc.headers.get('X-Nexus-Egress'))\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 80), timeout=2)\n"
        "    print('DIRECT OK')\n"
        "except OSError:\n"
        "    print('DIRECT BLOCKED')\n"
    )
    response = await post(
        app,
        {"language": "python", "code": code, "mode": "validation", "allow_hosts": ["nexus.test"]},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert "REFUSED 403 refused" in body["stdout"], body
    assert "DIRECT BLOCKED" in body["stdout"], body
