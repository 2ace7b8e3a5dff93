"""The egress proxy of mode ``validation``: allow-listed HTTP(S) out, nothing else.

A ``validation`` sandbox has no network but ``lo``; its one way out is a Unix socket that this
proxy serves on the host, bound into the sandbox (the in-sandbox relay of
``nexus.sandbox.relay`` turns it into ``127.0.0.1:3128`` for ``HTTP(S)_PROXY``). Each call gets
its own socket, served with that call's allow-list. The proxy speaks the two forms proxies
speak:

* ``CONNECT host:port`` (https and anything tunnelled): the tunnel is opened only to an
  allow-listed host, then carries opaque bytes (TLS is end to end; the proxy sees no content);
* absolute-URI requests (``GET http://host/path``, plain http): forwarded in origin form with
  ``Connection: close`` and without ``Proxy-*`` headers, one request per connection.

Before connecting, the host name must match the allow-list (exact, case-insensitive, or
``*.domain`` for subdomains; ``host:port`` pins the port, else 80 and 443), and then passes the
SSRF guard of ``nexus.tools.ssrf``: every address it resolves to must be public, and the
connection goes to the address that was checked (no second lookup, so DNS rebinding cannot
redirect it). Refusals answer ``403`` with ``X-Nexus-Egress: refused`` and the reason in the
body. ``allow_loopback`` exists for tests only (a local test server on the host): it is a
constructor argument, never read from the environment or settings.

The proxy runs its own event loop on a daemon thread, so synchronous callers (the sandbox's
worker threads) and the API's loop can both use it.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import httpx

from nexus.core.errors import NexusError
from nexus.tools.ssrf import IPAddress, SSRFGuard, parse_ip_literal

MAX_HEAD_BYTES = 64 * 1024
CONNECT_TIMEOUT_S = 10.0
HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-connection",
        b"proxy-authorization",
        b"proxy-authenticate",
        b"te",
        b"trailer",
        b"upgrade",
    }
)


class EgressRefused(Exception):
    """A request the proxy will not forward (the message is the reason sent back)."""


@dataclass(frozen=True)
class AllowList:
    """Hosts a call may reach: ``host``, ``host:port`` or ``*.domain`` (any subdomain)."""

    entries: tuple[str, ...]

    @staticmethod
    def normal(host: str) -> str:
        return host.strip().lower().rstrip(".").strip("[]")

    def allows(self, host: str, port: int) -> bool:
        host = self.normal(host)
        for entry in self.entries:
            name, pinned = entry.strip().lower(), None
            if name.count(":") == 1 or name.startswith("["):
                name, _, port_text = name.rpartition(":")
                pinned = int(port_text) if port_text.isdigit() else -1
            name = self.normal(name)
            if pinned is None and port not in (80, 443):
                continue
            if pinned is not None and pinned != port:
                continue
            if name.startswith("*."):
                if host.endswith(name[1:]) and host != name[2:]:
                    return True
            elif host == name:
                return True
        return False


@dataclass
class EgressSession:
    """One call's socket: where it is, what it allows, and what was asked of it."""

    path: str
    allow: AllowList
    log: list[tuple[str, int, bool, str]] = field(default_factory=list)
    """``(host, port, allowed, reason)`` per request, in order."""

    server: asyncio.AbstractServer | None = None
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)


class EgressProxy:
    """Serves one Unix socket per call; see the module docstring."""

    def __init__(
        self,
        guard: SSRFGuard | None = None,
        *,
        allow_loopback: bool = False,
        connect_timeout_s: float = CONNECT_TIMEOUT_S,
    ) -> None:
        self._guard = guard if guard is not None else SSRFGuard()
        self._allow_loopback = allow_loopback
        self._connect_timeout_s = connect_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- the loop thread ----------------------------------------------------------------------

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(target=loop.run_forever, name="egress-proxy", daemon=True)
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    def _call(self, coro: Any) -> Any:
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        return future.result()

    def close(self) -> None:
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join()
            loop.close()

    # -- sessions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def session(
        self, allow_hosts: tuple[str, ...], path: str, owner_uid: int | None = None
    ) -> Iterator[EgressSession]:
        """Serve ``path`` with ``allow_hosts`` for the duration of the ``with`` block."""
        session = EgressSession(path=path, allow=AllowList(tuple(allow_hosts)))
        self._call(self._open(session))
        try:
            if owner_uid is not None:
                os.chown(path, owner_uid, owner_uid)
            os.chmod(path, 0o600)
            yield session
        finally:
            self._call(self._shut(session))

    async def _open(self, session: EgressSession) -> None:
        def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.ensure_future(self._handle(session, reader, writer))
            session.tasks.add(task)
            task.add_done_callback(session.tasks.discard)

        session.server = await asyncio.start_unix_server(
            handle, path=session.path, limit=MAX_HEAD_BYTES
        )

    async def _shut(self, session: EgressSession) -> None:
        if session.server is not None:
            session.server.close()
        for task in list(session.tasks):
            task.cancel()
        if session.tasks:
            await asyncio.gather(*session.tasks, return_exceptions=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(session.path)

    # -- one connection -----------------------------------------------------------------------

    async def _handle(
        self,
        session: EgressSession,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        upstream: asyncio.StreamWriter | None = None
        try:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                await _answer(writer, 400, "malformed or oversized request head")
                return
            try:
                up_reader, upstream, first = await self._open_upstream(session, head)
            except EgressRefused as exc:
                await _answer(writer, 403, str(exc), refused=True)
                return
            except OSError as exc:
                await _answer(writer, 502, f"could not connect: {exc.strerror or exc}")
                return
            if first is None:
                writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.write(first)
            await asyncio.gather(_pump(reader, upstream), _pump(up_reader, writer))
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            for stream in (upstream, writer):
                if stream is not None:
                    stream.close()

    async def _open_upstream(
        self, session: EgressSession, head: bytes
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, bytes | None]:
        """Check the request and connect; the bytes to send first (``None``: a tunnel)."""
        request_line, _, rest = head.partition(b"\r\n")
        parts = request_line.split(b" ")
        if len(parts) != 3:
            raise EgressRefused("malformed request line")
        method, target, version = parts
        try:
            if method == b"CONNECT":
                host, port = _split_authority(target.decode("ascii"))
                scheme, first = "https", None
            else:
                url = httpx.URL(target.decode("ascii"))
                if url.scheme != "http" or not url.host:
                    raise EgressRefused(
                        "only absolute http:// URLs and CONNECT are proxied (https goes "
                        "through CONNECT)"
                    )
                host, port, scheme = url.host, url.port or 80, "http"
                first = _origin_request(method, url, version, rest)
        except (UnicodeDecodeError, httpx.InvalidURL, ValueError) as exc:
            raise EgressRefused(f"malformed request target: {exc}") from exc
        if not session.allow.allows(host, port):
            reason = f"host {host}:{port} is not on this call's allow-list"
            session.log.append((host, port, False, reason))
            raise EgressRefused(reason)
        try:
            ip = await self._pin(scheme, host, port)
        except NexusError as exc:
            session.log.append((host, port, False, exc.message))
            raise EgressRefused(exc.message) from exc
        session.log.append((host, port, True, str(ip)))
        async with asyncio.timeout(self._connect_timeout_s):
            up_reader, up_writer = await asyncio.open_connection(str(ip), port)
        return up_reader, up_writer, first

    async def _pin(self, scheme: str, host: str, port: int) -> IPAddress:
        """The checked address to connect to (the SSRF guard; loopback only if allowed)."""
        if self._allow_loopback:
            literal = parse_ip_literal(host)
            if literal is not None and literal.is_loopback:
                return literal
            if AllowList.normal(host) == "localhost":
                return ipaddress.IPv4Address("127.0.0.1")
        shown = f"[{host}]" if ":" in host else host
        target = await self._guard.validate(f"{scheme}://{shown}:{port}/")
        return target.ip


def _split_authority(authority: str) -> tuple[str, int]:
    host, sep, port = authority.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ValueError("CONNECT needs host:port")
    number = int(port)
    if not 0 < number < 65536:
        raise ValueError("port out of range")
    return host.strip("[]"), number


def _origin_request(method: bytes, url: httpx.URL, version: bytes, rest: bytes) -> bytes:
    lines = [b" ".join([method, url.raw_path or b"/", version])]
    has_host = False
    for line in rest.split(b"\r\n"):
        if not line:
            continue
        name = line.partition(b":")[0].strip().lower()
        if name in HOP_BY_HOP:
            continue
        has_host = has_host or name == b"host"
        lines.append(line)
    if not has_host:
        lines.append(b"Host: " + url.netloc)
    lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        writer.close()


async def _answer(
    writer: asyncio.StreamWriter, status: int, reason: str, *, refused: bool = False
) -> None:
    titles = {400: "Bad Request", 403: "Forbidden", 502: "Bad Gateway"}
    body = f"nexus egress proxy: {reason}\n".encode()
    head = [
        f"HTTP/1.1 {status} {titles[status]}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
    ]
    if refused:
        head.append("X-Nexus-Egress: refused")
    with contextlib.suppress(ConnectionError, OSError):
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()
