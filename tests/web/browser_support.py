"""Shared parts of the browser tests: the server process, constants and screenshot helpers."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
NEXUS_BIN = REPO / ".venv" / "bin" / "nexus"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CONSOLE_LOGS = ARTIFACTS / "console"
PASSWORD = "correct horse battery staple"
ADMIN_EMAIL = "admin@nexus.test"
VIEWPORT = {"width": 1440, "height": 900}
# Generous: two cores shared with other work, and a cold server loads the embedded model lazily.
ACTION_TIMEOUT_MS = 20_000
EXPECT_TIMEOUT_MS = 15_000
START_TIMEOUT_S = 90.0


def web_dist() -> Path:
    configured = os.environ.get("NEXUS_WEB_DIST")
    return Path(configured) if configured else REPO / "web" / "dist"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NexusServer:
    """A ``nexus serve`` subprocess; ``api`` is an httpx client with the admin's API token."""

    url: str
    home: Path
    process: subprocess.Popen[bytes]
    log: Path
    api: httpx.Client = field(init=False)
    admin_email: str | None = None
    _users: int = 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def sign_up_admin(self, email: str = ADMIN_EMAIL) -> None:
        """The first account of the instance (its administrator), through the API."""
        with httpx.Client(base_url=self.url, timeout=30) as http:
            signed = http.post("/api/v1/auth/signup", json={"email": email, "password": PASSWORD})
            assert signed.status_code == 201, signed.text
            csrf = signed.json()["csrf_token"]
            created = http.post(
                "/api/v1/auth/tokens",
                json={"name": "browser tests"},
                headers={"X-CSRF-Token": csrf},
            )
            assert created.status_code == 201, created.text
            token = created.json()["token"]
        self.admin_email = email
        self.api = httpx.Client(
            base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {token}"}
        )

    def make_user(self, role: str, email: str | None = None) -> str:
        """A new user with ``role`` (admin | developer | viewer) in the first workspace."""
        self._users += 1
        email = email or f"{role}{self._users}@nexus.test"
        created = self.api.post(
            "/api/v1/users",
            json={"email": email, "password": PASSWORD, "role": role, "is_admin": role == "admin"},
        )
        assert created.status_code == 201, created.text
        return email

    def stop(self) -> None:
        if hasattr(self, "api"):
            self.api.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)


def start_server(home: Path, **env_overrides: str) -> NexusServer:
    """Migrate, seed and serve a fresh instance in ``home``; wait until ``/health`` answers."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXUS_")}
    env.update(
        NEXUS_HOME=str(home),
        NEXUS_WEB_DIST=str(web_dist()),
        # Every test signs in; the production limits (10 logins a minute per address) would
        # turn the suite into a rate-limit test.
        NEXUS_LOGIN_RATE_PER_IP_PER_MINUTE="100000",
        NEXUS_RUN_RATE_PER_MINUTE="100000",
        NEXUS_RUN_RATE_PER_IP_PER_MINUTE="100000",
        # Short replies from the embedded model keep the chat tests quick on two cores.
        NEXUS_LOCAL_MAX_TOKENS="48",
        NEXUS_LOCAL_THREADS="1",
        NO_PROXY="127.0.0.1,localhost",
        **env_overrides,
    )
    for command in ("migrate", "seed"):
        done = subprocess.run(
            [str(NEXUS_BIN), command], cwd=REPO, env=env, capture_output=True, timeout=300
        )
        assert done.returncode == 0, (
            f"nexus {command} failed:\n{done.stdout.decode()}\n{done.stderr.decode()}"
        )
    log = home / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(NEXUS_BIN), "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = NexusServer(url=f"http://127.0.0.1:{port}", home=home, process=process, log=log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            raise RuntimeError(
                f"nexus serve exited with {process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.url}/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"nexus serve did not answer /health:\n{server.log_tail()}")
        time.sleep(0.25)


def save_screenshot(page: Any, name: str) -> None:
    """An extra named screenshot (``test-artifacts/screenshots/<name>.png``)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


PageFactory = Callable[..., Any]


def canvas_nodes(page: Any) -> Any:
    """Every node drawn on the editor canvas (``data-testid="node-ID"`` with a ``data-status``)."""
    return page.locator('[data-testid^="node-"][data-status]')


def port_handle(page: Any, node_id: str, port: str, kind: str) -> Any:
    """The React Flow handle of ``port`` on node ``node_id``; ``kind`` is source or target."""
    return page.get_by_test_id(f"node-{node_id}").locator(
        f'.react-flow__handle.{kind}[data-handleid="{port}"]'
    )


def drag_between(page: Any, source: Any, target: Any) -> None:
    """Press on ``source``, move in steps (so React Flow sees a drag) and release on ``target``."""
    start = source.bounding_box()
    end = target.bounding_box()
    assert start is not None and end is not None, "both handles must be on screen"
    page.mouse.move(start["x"] + start["width"] / 2, start["y"] + start["height"] / 2)
    page.mouse.down()
    page.mouse.move(end["x"] + end["width"] / 2, end["y"] + end["height"] / 2, steps=12)
    page.mouse.up()


def create_workflow(server: NexusServer, spec: dict[str, Any]) -> str:
    """Create a workflow through the API (as the administrator); its id."""
    created = server.api.post("/api/v1/workflows", json=spec)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def workflow_executions(server: NexusServer, workflow_id: str) -> list[dict[str, Any]]:
    """The runs of ``workflow_id`` (with their node records), newest first, through the API."""
    listed = server.api.get("/api/v1/runs", params={"limit": 100})
    assert listed.status_code == 200, listed.text
    found = []
    for run in listed.json()["items"]:
        if run["kind"] != "workflow":
            continue
        execution = server.api.get(f"/api/v1/executions/{run['id']}").json()
        if execution.get("workflow_id") == workflow_id:
            found.append(execution)
    return found


GOOD_PROVIDER_KEY = "sk-nexus-browser-test-0123456789"


class _ModelsHandler(BaseHTTPRequestHandler):
    """``GET /v1/models`` as an OpenAI-compatible provider answers it: 200 for the one key it
    knows, 401 for any other. The server checks a provider key here before saving it."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") != "/v1/models":
            self.send_error(404)
            return
        good = self.headers.get("Authorization") == f"Bearer {GOOD_PROVIDER_KEY}"
        body = b'{"object": "list", "data": []}' if good else b'{"error": "bad key"}'
        self.send_response(200 if good else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class ProviderStub:
    """A local stand-in for OpenAI's key check (the tests never reach the internet)."""

    def __init__(self) -> None:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _ModelsHandler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
