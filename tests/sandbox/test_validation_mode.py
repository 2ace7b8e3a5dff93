"""Mode ``validation``: HTTP(S) out only to the call's allow-list, through the host's egress
proxy; no other network. A local HTTP server on the host stands in for an allowed site; the
proxy of these sandboxes allows loopback (a constructor argument for tests, never config)."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from nexus.core.errors import InvalidInputError
from nexus.core.sandbox_types import ExecRequest, ExecResult
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox
from nexus.sandbox.egress_proxy import AllowList, EgressProxy
from nexus.tools.ssrf import SSRFGuard


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"host-server {self.path} via {self.headers.get('Host')}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def host_server() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def egress_box(test_limits) -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(
        BubblewrapConfig(defaults=test_limits, warm_pool={}),
        egress=EgressProxy(allow_loopback=True),
    )
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


@pytest.fixture(scope="module")
def guarded_box(test_limits) -> Iterator[BubblewrapSandbox]:
    """The production proxy: the SSRF guard refuses loopback even when allow-listed."""
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={}))
    box.start()
    try:
        yield box
    finally:
        box.close()


def validate(box: BubblewrapSandbox, code: str, *allow: str) -> ExecResult:
    return box.execute_sync(
        ExecRequest(language="python", code=code, mode="validation", allow_hosts=allow)
    )


FETCH = """
import urllib.request, urllib.error
try:
    with urllib.request.urlopen({url!r}, timeout=5) as response:
        print("BODY", response.read().decode())
except urllib.error.HTTPError as exc:
    print("STATUS", exc.code, exc.headers.get("X-Nexus-Egress"), exc.read().decode().strip())
except OSError as exc:
    print("ERROR", exc)
"""


def test_allowed_host_is_reachable_through_the_proxy(egress_box, host_server) -> None:
    url = f"http://127.0.0.1:{host_server}/hello?x=1"
    result = validate(egress_box, FETCH.format(url=url), f"127.0.0.1:{host_server}")
    assert result.exit_code == 0, result.stderr
    assert f"BODY host-server /hello?x=1 via 127.0.0.1:{host_server}" in result.stdout


def test_the_environment_points_at_the_in_sandbox_relay(egress_box) -> None:
    result = validate(egress_box, "import os; print(os.environ['HTTPS_PROXY'])")
    assert result.stdout.strip() == "http://127.0.0.1:3128"


def test_connect_tunnel_to_an_allowed_host(egress_box, host_server) -> None:
    code = f"""
import socket
s = socket.create_connection(("127.0.0.1", 3128), timeout=5)
s.sendall(b"CONNECT 127.0.0.1:{host_server} HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
head = b""
while b"\\r\\n\\r\\n" not in head:
    head += s.recv(1)
print("HEAD", head.split(b"\\r\\n")[0].decode())
s.sendall(b"GET /tunnelled HTTP/1.0\\r\\nHost: t\\r\\n\\r\\n")
data = b""
while chunk := s.recv(4096):
    data += chunk
print("TUNNEL", data.split(b"\\r\\n\\r\\n", 1)[1].decode())
"""
    result = validate(egress_box, code, f"127.0.0.1:{host_server}")
    assert "HEAD HTTP/1.1 200 Connection established" in result.stdout, result.stderr
    assert "TUNNEL host-server /tunnelled via t" in result.stdout


def test_host_not_on_the_allow_list_is_refused(egress_box, host_server) -> None:
    url = f"http://127.0.0.1:{host_server}/"
    result = validate(egress_box, FETCH.format(url=url), "example.com")
    assert "STATUS 403 refused" in result.stdout, result.stdout + result.stderr
    assert "not on this call's allow-list" in result.stdout
    assert "BODY" not in result.stdout


def test_no_allow_list_means_nothing_is_reachable(egress_box, host_server) -> None:
    result = validate(egress_box, FETCH.format(url=f"http://127.0.0.1:{host_server}/"))
    assert "STATUS 403 refused" in result.stdout


def test_ssrf_guard_refuses_loopback_even_when_allow_listed(guarded_box, host_server) -> None:
    url = f"http://127.0.0.1:{host_server}/"
    result = validate(guarded_box, FETCH.format(url=url), f"127.0.0.1:{host_server}")
    assert "STATUS 403 refused" in result.stdout, result.stdout + result.stderr
    assert "loopback" in result.stdout
    assert "BODY" not in result.stdout


@pytest.mark.parametrize(
    ("family", "address"),
    [
        ("AF_INET", "('1.1.1.1', 443)"),
        ("AF_INET", "('169.254.169.254', 80)"),
        ("AF_INET6", "('2606:4700:4700::1111', 443)"),
    ],
    ids=["ipv4", "metadata", "ipv6"],
)
def test_direct_connections_are_impossible(egress_box, family: str, address: str) -> None:
    code = f"""
import socket
try:
    socket.create_connection({address}, timeout=2) if "{family}" == "AF_INET" else \\
        socket.socket(socket.{family}).connect({address})
    print("ESCAPED")
except OSError as exc:
    print("OK", exc.errno)
"""
    result = validate(egress_box, code, "1.1.1.1", "169.254.169.254")
    assert "OK" in result.stdout and "ESCAPED" not in result.stdout, result.stdout


def test_the_hosts_loopback_is_not_the_sandboxes(egress_box, host_server) -> None:
    code = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {host_server}), timeout=2)
    print("ESCAPED")
except OSError as exc:
    print("OK", exc.errno)
"""
    result = validate(egress_box, code, f"127.0.0.1:{host_server}")
    assert "OK 111" in result.stdout, result.stdout  # ECONNREFUSED: nothing listens in here


def test_dns_is_impossible(egress_box) -> None:
    code = """
import socket
try:
    print("ESCAPED", socket.getaddrinfo("example.com", 443))
except OSError as exc:
    print("OK", type(exc).__name__)
"""
    result = validate(egress_box, code, "example.com")
    assert "OK gaierror" in result.stdout, result.stdout + result.stderr


def test_allow_hosts_needs_validation_mode(egress_box) -> None:
    with pytest.raises(InvalidInputError) as caught:
        egress_box.execute_sync(
            ExecRequest(language="python", code="print(1)", allow_hosts=("example.com",))
        )
    assert caught.value.field == "allow_hosts"


def test_mode_app_is_not_an_execution(egress_box) -> None:
    with pytest.raises(InvalidInputError) as caught:
        egress_box.execute_sync(ExecRequest(language="python", code="print(1)", mode="app"))
    assert caught.value.field == "mode"


@pytest.mark.parametrize(
    ("entries", "host", "port", "allowed"),
    [
        (("example.com",), "example.com", 443, True),
        (("example.com",), "EXAMPLE.com.", 80, True),
        (("example.com",), "example.com", 8443, False),
        (("example.com:8443",), "example.com", 8443, True),
        (("example.com:8443",), "example.com", 443, False),
        (("example.com",), "api.example.com", 443, False),
        (("*.example.com",), "api.example.com", 443, True),
        (("*.example.com",), "example.com", 443, False),
        (("*.example.com",), "evil-example.com", 443, False),
        (("[::1]:80",), "::1", 80, True),
        ((), "example.com", 443, False),
    ],
)
def test_allow_list_matching(entries, host: str, port: int, allowed: bool) -> None:
    assert AllowList(entries).allows(host, port) is allowed


async def _private(host: str, port: int) -> list[str]:
    return ["10.1.2.3"]


def test_allow_listed_name_resolving_to_a_private_address_is_refused(test_limits) -> None:
    """DNS answers are checked by the SSRF guard after the allow-list (rebinding-safe pin)."""
    proxy = EgressProxy(SSRFGuard(resolver=_private))
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={}), egress=proxy)
    box.start()
    try:
        result = validate(box, FETCH.format(url="http://internal.test/"), "internal.test")
    finally:
        box.close()
    assert "STATUS 403 refused" in result.stdout, result.stdout + result.stderr
    assert "10.1.2.3" in result.stdout and "private" in result.stdout
