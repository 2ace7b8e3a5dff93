"""The escape battery, continued for modes ``validation`` and ``app``: the one opening each mode
has (an egress proxy with an allow-list; a Unix socket the API connects to) must not become a
way out. Every case asserts a positive sign of refusal, as in ``test_escape_battery``."""

from __future__ import annotations

import os
import socket
import stat
import threading
from collections.abc import Iterator

import httpx
import pytest

from nexus.core.sandbox_types import ExecRequest, ExecResult
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox

CONNECT = """
import socket
try:
    socket.socket(socket.{family}, socket.SOCK_STREAM).connect({address})
    print("ESCAPED")
except OSError as exc:
    print("OK", exc.errno)
"""

THROUGH_PROXY = """
import socket
s = socket.create_connection(("127.0.0.1", 3128), timeout=10)
s.sendall({request!r})
data = b""
while chunk := s.recv(4096):
    data += chunk
print(data.split(b"\\r\\n")[0].decode(), "|", data.split(b"\\r\\n\\r\\n", 1)[-1].decode().strip())
"""


@pytest.fixture(scope="module")
def box(test_limits) -> Iterator[BubblewrapSandbox]:
    sandbox = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={}))
    sandbox.start()
    sandbox.check_available()
    try:
        yield sandbox
    finally:
        sandbox.close()


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP service on the host's loopback (stands for Postgres/Redis): must stay unreached."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[object] = []
    threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
        assert accepted == [], "something reached the host's loopback service"


def validate(box: BubblewrapSandbox, code: str, *allow: str) -> ExecResult:
    return box.execute_sync(
        ExecRequest(language="python", code=code, mode="validation", allow_hosts=allow)
    )


# -- validation mode -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "address", "errno"),
    [
        ("AF_INET", "('1.1.1.1', 443)", 101),
        ("AF_INET", "('169.254.169.254', 80)", 101),
        ("AF_INET6", "('2606:4700:4700::1111', 443)", 101),
        ("AF_INET6", "('::ffff:1.1.1.1', 443)", 101),
    ],
    ids=["ipv4", "metadata", "ipv6", "mapped-ipv6"],
)
def test_validation_has_no_direct_route(box, family, address, errno: int) -> None:
    # Even with the very address allow-listed: only the proxy goes out.
    result = validate(box, CONNECT.format(family=family, address=address), "1.1.1.1")
    assert result.stdout.strip() == f"OK {errno}", result.stdout + result.stderr


def test_validation_cannot_reach_the_hosts_loopback_directly(box, host_listener) -> None:
    code = CONNECT.format(family="AF_INET", address=f"('127.0.0.1', {host_listener})")
    assert validate(box, code).stdout.strip() == "OK 111"  # its own lo: nothing there


@pytest.mark.parametrize(
    ("request_bytes", "allow", "reason"),
    [
        (b"CONNECT example.org:443 HTTP/1.1\r\n\r\n", ("example.com",), "allow-list"),
        (b"CONNECT 1.1.1.1:443 HTTP/1.1\r\n\r\n", ("example.com",), "allow-list"),
        (b"GET http://1.1.1.1/ HTTP/1.1\r\nHost: example.com\r\n\r\n", ("example.com",), "allow"),
        (b"CONNECT 169.254.169.254:80 HTTP/1.1\r\n\r\n", ("169.254.169.254:80",), "metadata"),
        (b"CONNECT 127.0.0.1:{port} HTTP/1.1\r\n\r\n", ("127.0.0.1:{port}",), "loopback"),
        (b"CONNECT [::1]:{port} HTTP/1.1\r\n\r\n", ("[::1]:{port}",), "loopback"),
        (b"CONNECT 10.0.0.1:443 HTTP/1.1\r\n\r\n", ("10.0.0.1",), "private"),
        (b"CONNECT 0x7f.1:{port} HTTP/1.1\r\n\r\n", ("0x7f.1:{port}",), "loopback"),
        (
            b"CONNECT [::ffff:127.0.0.1]:{port} HTTP/1.1\r\n\r\n",
            ("[::ffff:127.0.0.1]:{port}",),
            "127",
        ),
        (b"GET https://example.com/ HTTP/1.1\r\n\r\n", ("example.com",), "CONNECT"),
        (b"GET /relative HTTP/1.1\r\nHost: example.com\r\n\r\n", ("example.com",), "absolute"),
    ],
    ids=[
        "other-host",
        "raw-ip-not-listed",
        "host-header-spoof",
        "metadata-listed",
        "loopback-listed",
        "ipv6-loopback-listed",
        "private-listed",
        "hex-loopback-listed",
        "mapped-loopback-listed",
        "https-without-connect",
        "origin-form",
    ],
)
def test_validation_proxy_refuses(box, host_listener, request_bytes, allow, reason: str) -> None:
    port = str(host_listener)
    wire = request_bytes.replace(b"{port}", port.encode())
    allowed = tuple(entry.replace("{port}", port) for entry in allow)
    result = validate(box, THROUGH_PROXY.format(request=wire), *allowed)
    status, _, body = result.stdout.partition("|")
    assert status.split()[1:2] in (["403"], ["400"]), result.stdout + result.stderr
    assert reason in body, body


def test_validation_has_no_dns(box) -> None:
    code = """
import socket
for name in ("example.com", "localhost6", "metadata.google.internal"):
    try:
        print("ESCAPED", socket.getaddrinfo(name, 80, proto=socket.IPPROTO_TCP)[0][4])
    except OSError as exc:
        print("OK", name)
"""
    lines = validate(box, code, "example.com").stdout.splitlines()
    assert "ESCAPED" not in " ".join(lines) and len(lines) == 3, lines
    udp = """
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"x", ("8.8.8.8", 53))
    print("ESCAPED")
except OSError as exc:
    print("OK", exc.errno)
"""
    assert validate(box, udp, "8.8.8.8").stdout.strip() == "OK 101"


def test_validation_socket_is_the_calls_own(box) -> None:
    """Each call gets a fresh socket directory; nothing of another call's is visible."""
    code = "import os; print(sorted(os.listdir('/run/egress')))"
    assert validate(box, code).stdout.strip() == "['proxy.sock']"
    assert box.execute_sync(ExecRequest(language="bash", code="ls /run/egress")).exit_code != 0


# -- app mode ------------------------------------------------------------------------------------

PROBE_APP = """
import http.server, json, os, socket, subprocess

def connect(family, address):
    try:
        socket.socket(family, socket.SOCK_STREAM).connect(address)
        return "ESCAPED"
    except OSError as exc:
        return f"OK {exc.errno}"

def resolve(name):
    try:
        socket.getaddrinfo(name, 80)
        return "ESCAPED"
    except OSError:
        return "OK"

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":  # the health check
            self.send_response(204)
            self.end_headers()
            return
        port = int(self.path.strip("/"))
        result = {
            "host-loopback": connect(socket.AF_INET, ("127.0.0.1", port)),
            "host-loopback-v6": connect(socket.AF_INET6, ("::1", port)),
            "internet": connect(socket.AF_INET, ("1.1.1.1", 443)),
            "internet-v6": connect(socket.AF_INET6, ("2606:4700:4700::1111", 443)),
            "metadata": connect(socket.AF_INET, ("169.254.169.254", 80)),
            "dns": resolve("example.com"),
            "socket-dir": sorted(os.listdir("/run/app")),
            "egress": os.path.exists("/run/egress"),
        }
        data = json.dumps(result).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

address = (os.environ["HOST"], int(os.environ["PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""


def test_app_mode_has_no_way_out(box, host_listener) -> None:
    app = box.start_app({"probe.py": PROBE_APP}, "probe.py")
    try:
        assert app.wait_healthy(15), app.output_tail()
        with httpx.Client(transport=httpx.HTTPTransport(uds=app.socket_path)) as client:
            seen = client.get(f"http://app/{host_listener}", timeout=20).json()
    finally:
        app.stop()
    assert seen == {
        "host-loopback": "OK 111",
        "host-loopback-v6": "OK 111",
        "internet": "OK 101",
        "internet-v6": "OK 101",
        "metadata": "OK 101",
        "dns": "OK",
        "socket-dir": ["app.sock"],
        "egress": False,
    }, seen


def test_app_socket_directory_is_private(box) -> None:
    app = box.start_app({"probe.py": PROBE_APP}, "probe.py")
    try:
        assert app.wait_healthy(15)
        directory = os.path.dirname(app.socket_path)
        mode = stat.S_IMODE(os.stat(directory).st_mode)
        assert mode & 0o077 == 0, oct(mode)  # only the app's own uid (and root) get in
    finally:
        app.stop()
    assert not os.path.exists(directory)  # removed with the app
