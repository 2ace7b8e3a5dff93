"""Mode ``app``: a web app in a sandbox, answering on a Unix socket through the in-sandbox relay;
started, health-checked, measured, stopped; a crash is reported, never restarted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from nexus.core.errors import ConflictError, InvalidInputError
from nexus.core.sandbox_types import SandboxLimits
from nexus.sandbox.app_mode import process_tree_usage
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox

APP = """
import http.server, json, os, socket, sys

def probe(address):
    try:
        socket.create_connection(address, timeout=2)
        return "ESCAPED"
    except OSError as exc:
        return f"OK {exc.errno}"

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path.startswith("/probe/"):
            port = int(self.path.rsplit("/", 1)[1])
            body = json.dumps({
                "host_loopback": probe(("127.0.0.1", port)),
                "internet": probe(("1.1.1.1", 443)),
            })
        else:
            body = json.dumps({"path": self.path, "auth": self.headers.get("Authorization")})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        print("request", self.path, file=sys.stderr, flush=True)

address = (os.environ["HOST"], int(os.environ["PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""

CRASH = """
import sys
print("starting", flush=True)
print("Traceback: the app fell over", file=sys.stderr)
sys.exit(3)
"""


@pytest.fixture(scope="module")
def app_box() -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(BubblewrapConfig(warm_pool={}, max_apps=2))
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


def test_app_answers_on_its_socket_and_stops(app_box) -> None:
    app = app_box.start_app({"web/app.py": APP, "README": "x"}, "web/app.py")
    try:
        assert app.wait_healthy(15), app.output_tail()
        with httpx.Client(transport=httpx.HTTPTransport(uds=app.socket_path)) as client:
            response = client.get("http://app/hello?x=1")
        assert response.json() == {"path": "/hello?x=1", "auth": None}
        usage = app.usage()
        assert usage["cpu_s"] > 0 and usage["rss_bytes"] > 1_000_000
        assert app.running and app.exit_info() is None
    finally:
        ended = app.stop()
    assert ended is not None and ended.stopped and ended.exit_code < 0
    assert "request /hello?x=1" in ended.stderr_tail
    assert not app.running and not app.answers()


def test_crashing_app_is_reported_not_restarted(app_box) -> None:
    app = app_box.start_app({"crash.py": CRASH}, "crash.py")
    assert not app.wait_healthy(15)
    ended = app.exit_info()
    assert ended is not None
    assert ended.exit_code == 3 and not ended.stopped
    assert "the app fell over" in ended.stderr_tail
    assert app.output_tail("stdout") == "starting\n"
    assert not app.running  # and it stays down: nothing restarts it
    assert not app.answers()


def test_app_cannot_reach_the_hosts_loopback_or_the_internet(app_box) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    app = app_box.start_app({"app.py": APP}, "app.py")
    try:
        assert app.wait_healthy(15), app.output_tail()
        with httpx.Client(transport=httpx.HTTPTransport(uds=app.socket_path)) as client:
            result = client.get(f"http://app/probe/{port}", timeout=10).json()
    finally:
        app.stop()
        listener.close()
    assert result["host_loopback"] == "OK 111", result  # its own lo: nothing listens there
    assert result["internet"] == "OK 101", result  # ENETUNREACH
    assert accepted == []


def test_app_slots_are_limited_and_freed(app_box) -> None:
    first = app_box.start_app({"app.py": APP}, "app.py")
    second = app_box.start_app({"app.py": APP}, "app.py")
    try:
        with pytest.raises(ConflictError):
            app_box.start_app({"app.py": APP}, "app.py")
    finally:
        first.stop()
        second.stop()
    third = app_box.start_app({"crash.py": CRASH}, "crash.py")
    assert not third.wait_healthy(15)


@pytest.mark.parametrize(
    ("files", "entry"),
    [
        ({"app.py": APP}, "other.py"),
        ({"app.py": APP}, "../app.py"),
        ({"app.txt": APP}, "app.txt"),
        ({"app.py": APP}, "/app.py"),
    ],
    ids=["missing", "dotdot", "not-a-program", "absolute"],
)
def test_bad_entry_is_refused(app_box, files, entry: str) -> None:
    with pytest.raises(InvalidInputError):
        app_box.start_app(files, entry)


def test_app_rlimits_apply(app_box) -> None:
    limits = SandboxLimits(cpu_s=1, timeout_s=60, memory_mb=256, workspace_mb=16)
    spin = "while True:\n    pass\n"
    app = app_box.start_app({"spin.py": spin}, "spin.py", limits)
    assert not app.wait_healthy(20)
    ended = app.exit_info()
    assert ended is not None and ended.killed_reason == "cpu_limit", ended


def test_process_tree_usage_of_a_missing_process_is_zero() -> None:
    assert process_tree_usage(2**22 + 12345) == {"cpu_s": 0.0, "rss_bytes": 0.0}
