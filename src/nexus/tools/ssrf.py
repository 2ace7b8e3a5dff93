"""The SSRF guard: decides whether an outbound request may go to a URL, and pins the address.

A URL passes only if it is ``http``/``https``, carries no credentials, and EVERY address its host
stands for is a public internet address. The guard returns the validated IP so the caller connects
to exactly that address (no second DNS lookup, so DNS rebinding cannot swap it afterwards).

Host forms that a C resolver would read as an IPv4 address (``2130706433``, ``0x7f.1``,
``017700000001``, ``127.1``) are normalised here and checked without asking the resolver, and
IPv6 forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64) are judged by
the address they embed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from nexus.core.errors import SSRFBlockedError, ToolError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

Resolver = Callable[[str, int], Awaitable[list[str]]]
"""``async (host, port) -> [ip, ...]``: every address the host resolves to, as text."""

ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

_SHARED = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598 carrier-grade NAT
_METADATA = ipaddress.IPv4Address("169.254.169.254")
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215, site-defined embedding
_IPV4_PART = re.compile(r"(0x[0-9a-f]*|0[0-7]*|[1-9][0-9]*)", re.IGNORECASE)


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve ``host`` with the event loop's ``getaddrinfo`` (runs in the default executor)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_ip_literal(host: str) -> IPAddress | None:
    """The address ``host`` denotes by itself, or ``None`` when it is a name to resolve.

    Accepts every IPv4 spelling that ``inet_aton`` accepts (1 to 4 parts, each decimal, octal
    with a leading ``0`` or hex with ``0x``) and IPv6 (with or without brackets).
    """
    text = unquote(host).strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if text.endswith("."):
        text = text[:-1]
    if ":" in text:
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    return _parse_loose_ipv4(text)


def _parse_loose_ipv4(text: str) -> ipaddress.IPv4Address | None:
    parts = text.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    values: list[int] = []
    for part in parts:
        if not _IPV4_PART.fullmatch(part):
            return None
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(value > 0xFF for value in head) or last >= 1 << (8 * (4 - len(head))):
        return None
    number = 0
    for value in head:
        number = (number << 8) | value
    number = (number << (8 * (4 - len(head)))) | last
    return ipaddress.IPv4Address(number)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address an IPv6 address carries, with the name of the form, if any."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped IPv6", ip.ipv4_mapped
    if ip in _NAT64_WELL_KNOWN:
        return "NAT64 IPv6", ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return "6to4 IPv6", ip.sixtofour
    if 1 < int(ip) <= 0xFFFFFFFF:
        return "IPv4-compatible IPv6", ipaddress.IPv4Address(int(ip))
    return None


def blocked_reason(ip: IPAddress) -> str | None:
    """Why a request must not go to ``ip`` (e.g. ``"a loopback address"``), or ``None``."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "an IPv6 address with a zone identifier"
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            form, inner = embedded
            inner_reason = blocked_reason(inner)
            if inner_reason is not None:
                return f"the {form} form of {inner}, {inner_reason}"
            if form == "IPv4-compatible IPv6":
                return "an IPv4-compatible IPv6 address (deprecated form)"
            return None
        if ip in _NAT64_LOCAL:
            return "a local-use NAT64 address"
    if ip.is_unspecified:
        return "the unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip == _METADATA:
        return "the cloud metadata address (link-local)"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED:
        return "a shared (carrier-grade NAT) address"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if ip.is_reserved:
        return "a reserved address"
    if ip.is_private:
        return "a private address"
    if not ip.is_global:
        return "not a globally routable address"
    return None


@dataclass(frozen=True)
class ValidatedTarget:
    """A URL that passed the guard, pinned to the address that was checked."""

    url: httpx.URL
    """The URL as given (host name kept: used for the Host header, SNI and relative redirects)."""

    host: str
    """The host name in ASCII (IDNA) form."""

    port: int
    """The port, explicit or the scheme's default."""

    ip: IPAddress
    """The validated address to connect to."""

    @property
    def connect_url(self) -> httpx.URL:
        """The URL with the host replaced by the validated address."""
        return self.url.copy_with(host=str(self.ip))

    @property
    def host_header(self) -> str:
        """The Host header value the original URL implies."""
        return self.url.netloc.decode("ascii")


class SSRFGuard:
    """Validates URLs for outbound requests.

    ``resolver`` is injectable so tests never touch DNS; by default the event loop's
    ``getaddrinfo`` is used.
    """

    def __init__(self, resolver: Resolver | None = None, *, resolve_timeout: float = 5.0) -> None:
        self._resolver = resolver if resolver is not None else system_resolver
        self._resolve_timeout = resolve_timeout

    async def validate(self, url: str | httpx.URL) -> ValidatedTarget:
        """Check ``url``; raise ``SSRFBlockedError`` (or ``ToolError`` for a malformed URL)."""
        try:
            parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise ToolError(f"invalid URL: {exc}") from exc
        shown = parsed.copy_with(userinfo=b"")  # never echo credentials
        if parsed.scheme not in ALLOWED_SCHEMES:
            raise SSRFBlockedError(
                f"refused {shown}: scheme {parsed.scheme or '(none)'!r} is not allowed; "
                "only http and https URLs can be fetched"
            )
        host = parsed.raw_host.decode("ascii")
        if not host:
            raise SSRFBlockedError(f"refused {shown}: the URL has no host")
        port = parsed.port if parsed.port is not None else DEFAULT_PORTS[parsed.scheme]
        if not 0 < port < 65536:
            raise ToolError(f"invalid URL {str(shown)!r}: port {port} is out of range")

        literal = parse_ip_literal(host)
        addresses = [literal] if literal is not None else await self._resolve(host, port)
        for ip in addresses:
            reason = blocked_reason(ip)
            if reason is not None:
                via = "" if literal is not None else f"host {host!r} resolves to "
                raise SSRFBlockedError(
                    f"refused {shown}: {via}{ip}, which is {reason}; "
                    "only public internet addresses can be fetched"
                )
        if parsed.userinfo:
            raise SSRFBlockedError(
                f"refused {shown}: URLs with credentials (user@host) are not allowed"
            )
        return ValidatedTarget(url=parsed, host=host, port=port, ip=addresses[0])

    async def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            async with asyncio.timeout(self._resolve_timeout):
                answers = await self._resolver(host, port)
        except TimeoutError as exc:
            raise ToolError(f"resolving host {host!r} timed out") from exc
        except OSError as exc:  # socket.gaierror and friends
            raise ToolError(f"could not resolve host {host!r}: {exc}") from exc
        if not answers:
            raise ToolError(f"host {host!r} did not resolve to any address")
        addresses: list[IPAddress] = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer))
            except ValueError as exc:
                raise SSRFBlockedError(
                    f"refused host {host!r}: it resolved to {answer!r}, which is not an address"
                ) from exc
        return addresses
