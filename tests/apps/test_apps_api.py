"""Hosted apps through the API: a stdlib web app of a code project, started in the sandbox's
mode ``app``, answering at ``/apps/{id}/``; stopped by DELETE and at its TTL; a crash reported
and not restarted; ownership across workspaces; the app has no network."""

from __future__ import annotations

import asyncio
import socket
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from nexus.worker.apps import Apps

APP = """
import http.server, json, os, socket

def probe(address):
    try:
        socket.create_connection(address, timeout=2)
        return "ESCAPED"
    except OSError as exc:
        return f"OK {exc.errno}"

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def answer(self, payload, status=200, extra=()):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        for name, value in extra:
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path.startswith("/probe/"):
            port = int(self.path.rsplit("/", 1)[1])
            self.answer({"loopback": probe(("127.0.0.1", port)),
                         "internet": probe(("1.1.1.1", 443))})
            return
        self.answer(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}},
            extra=[("Set-Cookie", "nexus_session=hijack; Path=/"),
                   ("Set-Cookie", "app_pref=dark; Path=/")],
        )

    def do_POST(self):
        size = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(size)
        self.answer({"method": "POST", "size": len(body), "tail": body[-5:].decode()}, 201)

    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "42")
        self.send_header("Connection", "close")
        self.end_headers()

    def do_OPTIONS(self):
        self.send_response(204)
        self.send_header("Allow", "GET, HEAD, OPTIONS, POST")
        self.send_header("Connection", "close")
        self.end_headers()

    def log_message(self, *args):
        pass

address = (os.environ["HOST"], int(os.environ["PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""

CRASH = "import sys\nprint('cannot start: no config', file=sys.stderr)\nsys.exit(2)\n"


async def _project(http: httpx.AsyncClient, files: dict[str, str], **extra: Any) -> str:
    body = {"name": "web", "files": files, **extra}
    response = await http.post("/api/v1/code/projects", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def _start(http: httpx.AsyncClient, project_id: str, **extra: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/apps", json={"project_id": project_id, "entry": "server.py", **extra}
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
async def running(client) -> dict[str, Any]:
    project_id = await _project(client, {"server.py": APP})
    app = await _start(client, project_id)
    assert app["status"] == "running", app
    return app


async def test_app_answers_through_the_proxy(client, running, app: FastAPI) -> None:
    assert running["url"] == f"/apps/{running['id']}/"
    response = await client.get(
        running["url"] + "hello?x=1",
        headers={"X-Custom": "kept", "Cookie": "nexus_session=secret-session; theme=dark"},
    )
    assert response.status_code == 200, response.text
    seen = response.json()
    assert seen["path"] == "/hello?x=1"
    plain = await client.get(running["url"] + "a%2Fb/c")
    assert plain.json()["path"] == "/a%2Fb/c"  # as sent: no "?" added, escapes kept
    headers = seen["headers"]
    assert headers["x-custom"] == "kept"
    assert "authorization" not in headers  # the caller's API token stays with Nexus
    assert headers.get("cookie") == "theme=dark"  # the Nexus session cookie is not forwarded
    assert headers["x-forwarded-prefix"] == f"/apps/{running['id']}"
    assert response.headers["content-security-policy"].startswith("sandbox allow-scripts")
    cookies = response.headers.get_list("set-cookie")
    assert cookies == ["app_pref=dark; Path=/"]  # an app cannot overwrite the Nexus session


async def test_request_bodies_are_streamed_to_the_app(client, running) -> None:
    async def chunks():
        for _ in range(64):
            yield b"x" * 16384
        yield b"-end-"

    size = str(64 * 16384 + 5)
    response = await client.post(
        running["url"] + "upload", content=chunks(), headers={"Content-Length": size}
    )
    assert response.status_code == 201, response.text
    assert response.json() == {"method": "POST", "size": 64 * 16384 + 5, "tail": "-end-"}


async def test_head_and_options_reach_the_app(client, running) -> None:
    head = await client.head(running["url"] + "page")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == "42"
    assert head.headers["content-security-policy"].startswith("sandbox allow-scripts")
    options = await client.options(running["url"] + "page")
    assert options.status_code == 204
    assert options.headers["allow"] == "GET, HEAD, OPTIONS, POST"


async def test_list_and_get_show_status_uptime_and_resources(client, running) -> None:
    listed = (await client.get("/api/v1/apps")).json()
    assert [item["id"] for item in listed["items"]] == [running["id"]]
    one = (await client.get(f"/api/v1/apps/{running['id']}")).json()
    assert one["status"] == "running"
    assert one["uptime_s"] >= 0 and one["cpu_s"] > 0 and one["rss_bytes"] > 1_000_000
    assert one["expires_at"] is not None and one["ttl_s"] == 3600


async def test_delete_stops_the_app(client, running) -> None:
    response = await client.delete(f"/api/v1/apps/{running['id']}")
    assert response.status_code == 200, response.text
    stopped = response.json()
    assert stopped["status"] == "stopped" and stopped["exit_code"] < 0
    assert stopped["cpu_s"] is None
    gone = await client.get(running["url"])
    assert gone.status_code == 503 and "stopped" in gone.text
    again = await client.delete(f"/api/v1/apps/{running['id']}")
    assert again.json()["status"] == "stopped"


async def test_ttl_stops_the_app(client, running, app: FastAPI) -> None:
    apps = app.state.apps
    assert await apps.sweep() == []  # not yet
    later = apps.clock() + timedelta(seconds=3601)
    apps.clock = lambda: later
    assert await apps.sweep() == [running["id"]]
    expired = (await client.get(f"/api/v1/apps/{running['id']}")).json()
    assert expired["status"] == "expired" and expired["ended_at"] is not None
    assert (await client.get(running["url"])).status_code == 503


async def test_a_short_ttl_expires_in_the_background(client) -> None:
    project_id = await _project(client, {"server.py": APP})
    started = await _start(client, project_id, ttl_s=1)
    assert started["status"] == "running"
    for _ in range(100):  # the lifespan's sweeper runs every second
        status = (await client.get(f"/api/v1/apps/{started['id']}")).json()["status"]
        if status != "running":
            break
        await asyncio.sleep(0.1)
    assert status == "expired"


async def test_a_crashing_app_is_reported_not_restarted(client, app: FastAPI) -> None:
    project_id = await _project(client, {"server.py": CRASH})
    crashed = await _start(client, project_id)
    assert crashed["status"] == "crashed"
    assert crashed["exit_code"] == 2
    assert "cannot start: no config" in crashed["stderr_tail"]
    await app.state.apps.sweep()
    again = (await client.get(f"/api/v1/apps/{crashed['id']}")).json()
    assert again["status"] == "crashed" and again["ended_at"] == crashed["ended_at"]
    assert (await client.get(crashed["url"])).status_code == 503


async def test_a_crash_while_running_is_recorded(client, running, app: FastAPI) -> None:
    live = app.state.apps._live[running["id"]]
    await asyncio.to_thread(live.process.stop)  # as if the app died by itself
    record = await app.state.apps.repo.update(running["id"], status="running")
    assert record is not None
    seen = (await client.get(f"/api/v1/apps/{running['id']}")).json()
    assert seen["status"] == "crashed" and seen["exit_code"] < 0


async def test_the_app_has_no_network(client, running) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    try:
        response = await client.get(f"{running['url']}probe/{port}", timeout=20)
    finally:
        listener.close()
    assert response.json() == {"loopback": "OK 111", "internet": "OK 101"}


async def test_other_workspaces_get_404(client, running, make_user, anon) -> None:
    bob = await make_user("bob@nexus.test", role="developer", workspace="Team B")
    app_id = running["id"]
    for method, url in (
        ("GET", f"/api/v1/apps/{app_id}"),
        ("DELETE", f"/api/v1/apps/{app_id}"),
        ("GET", running["url"]),
        ("POST", running["url"] + "x"),
    ):
        response = await bob.request(method, url)
        assert response.status_code == 404, (method, url, response.text)
        assert response.json()["error"]["code"] == "not_found"
    assert (await bob.get("/api/v1/apps")).json()["total"] == 0
    assert (await anon.get(running["url"])).status_code == 401
    assert (await client.get(f"/api/v1/apps/{app_id}")).json()["status"] == "running"


async def test_access_levels(client, make_user, anon) -> None:
    project_id = await _project(client, {"server.py": APP}, visibility="workspace")
    private = await _start(client, project_id)
    shared = await _start(client, project_id, access="workspace")
    public = await _start(client, project_id, access="public")
    mate = await make_user("mate@nexus.test", role="developer")  # the admin's workspace
    assert (await mate.get(private["url"])).status_code == 404
    assert (await mate.get(shared["url"])).status_code == 200
    assert (await anon.get(shared["url"])).status_code == 401
    assert (await mate.delete(f"/api/v1/apps/{private['id']}")).status_code == 404
    stopped = await mate.delete(f"/api/v1/apps/{shared['id']}")  # workspace-shared: editable
    assert stopped.status_code == 200 and stopped.json()["status"] == "stopped"
    assert (await anon.get(public["url"] + "p")).json()["path"] == "/p"
    assert len(public["id"]) >= 28  # 144 random bits after the prefix


async def test_bad_requests_are_refused_without_a_record(client, make_user) -> None:
    project_id = await _project(client, {"server.py": APP})
    cases = [
        {"project_id": project_id, "entry": "missing.py"},
        {"project_id": project_id, "entry": "../server.py"},
        {"project_id": project_id, "entry": "server.py", "ttl_s": 5, "permanent": True},
        {"project_id": project_id, "entry": "server.py", "ttl_s": 0},
        {"project_id": project_id, "entry": "server.py", "access": "everyone"},
        {"project_id": project_id, "entry": "server.py", "surprise": 1},
    ]
    for body in cases:
        response = await client.post("/api/v1/apps", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["code"] == "invalid_input", response.text
    bob = await make_user("bob@nexus.test", role="developer", workspace="Team B")
    response = await bob.post("/api/v1/apps", json={"project_id": project_id, "entry": "server.py"})
    assert response.status_code == 404
    assert (await client.get("/api/v1/apps")).json()["total"] == 0


async def test_permanent_apps_have_no_ttl(client, app: FastAPI) -> None:
    project_id = await _project(client, {"server.py": APP})
    started = await _start(client, project_id, permanent=True)
    assert started["permanent"] and started["expires_at"] is None and started["ttl_s"] is None
    apps = app.state.apps
    later = apps.clock() + timedelta(days=30)
    apps.clock = lambda: later
    assert await apps.sweep() == []


async def test_a_permanent_app_comes_back_after_a_restart(client, app: FastAPI) -> None:
    project_id = await _project(client, {"server.py": APP})
    permanent = await _start(client, project_id, permanent=True)
    passing = await _start(client, project_id, ttl_s=600)
    # The project changes after the start: a restart must not deploy the edit.
    edited = await client.put(
        f"/api/v1/code/projects/{project_id}/files/server.py", json={"content": CRASH}
    )
    assert edited.status_code in (200, 201), edited.text

    old = app.state.apps
    await old.shutdown()  # what the lifespan does when Nexus stops
    restarted = Apps(old._sandbox, app.state.services.db)
    app.state.apps = restarted
    try:
        await restarted.recover()
        assert (await client.get(f"/api/v1/apps/{passing['id']}")).json()["status"] == "stopped"
        for _ in range(300):
            seen = (await client.get(f"/api/v1/apps/{permanent['id']}")).json()
            if seen["status"] != "starting":
                break
            await asyncio.sleep(0.1)
        assert seen["status"] == "running", seen
        answer = await client.get(permanent["url"] + "again")
        assert answer.status_code == 200 and answer.json()["path"] == "/again"
    finally:
        await restarted.shutdown()
        app.state.apps = old
