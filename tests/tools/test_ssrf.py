import ipaddress
import socket

import pytest

from nexus.core.errors import SSRFBlockedError, ToolError
from nexus.tools.ssrf import SSRFGuard, blocked_reason, parse_ip_literal, system_resolver

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


class FakeResolver:
    """Answers from a table; records every lookup. Unknown names fail like real DNS."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


DNS = {
    "public.example": [PUBLIC_V4],
    "dual.example": [PUBLIC_V4, PUBLIC_V6],
    "localhost": ["127.0.0.1", "::1"],
    "mixed.example": [PUBLIC_V4, "10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "internal.example": ["192.168.0.10"],
    "v6private.example": [PUBLIC_V6, "fd12:3456::1"],
    "garbage.example": ["not-an-ip"],
    "empty.example": [],
}


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver(DNS)


@pytest.fixture
def guard(resolver: FakeResolver) -> SSRFGuard:
    return SSRFGuard(resolver)


BLOCKED = [
    ("http://127.0.0.1/", "127.0.0.1, which is a loopback address"),
    ("http://127.255.255.254:8080/admin", "127.255.255.254, which is a loopback address"),
    ("http://localhost/", "host 'localhost' resolves to 127.0.0.1, which is a loopback address"),
    ("http://[::1]/", "::1, which is a loopback address"),
    ("http://0.0.0.0/", "0.0.0.0, which is the unspecified address"),
    ("http://0/", "0.0.0.0, which is the unspecified address"),
    ("http://[::]/", "http://[::]/: ::, which is the unspecified address"),
    ("http://10.0.0.1/", "10.0.0.1, which is a private address"),
    ("http://10.255.255.255/", "10.255.255.255, which is a private address"),
    ("http://172.16.0.1/", "172.16.0.1, which is a private address"),
    ("http://172.31.255.254/", "172.31.255.254, which is a private address"),
    ("http://192.168.1.1/", "192.168.1.1, which is a private address"),
    (
        "http://169.254.169.254/latest/meta-data/",
        "169.254.169.254, which is the cloud metadata address",
    ),
    ("http://169.254.1.1/", "169.254.1.1, which is a link-local address"),
    ("http://100.64.0.1/", "100.64.0.1, which is a shared (carrier-grade NAT) address"),
    ("http://100.127.255.254/", "which is a shared (carrier-grade NAT) address"),
    ("http://224.0.0.1/", "224.0.0.1, which is a multicast address"),
    ("http://240.0.0.1/", "240.0.0.1, which is a reserved address"),
    ("http://255.255.255.255/", "255.255.255.255, which is a reserved address"),
    ("http://192.0.2.1/", "192.0.2.1, which is a private address"),
    ("http://[fd00::1]/", "fd00::1, which is a private address"),
    ("http://[fc00::1]/", "fc00::1, which is a private address"),
    ("http://[fe80::1]/", "fe80::1, which is a link-local address"),
    ("http://[fe80::1%25eth0]/", "which is an IPv6 address with a zone identifier"),
    ("http://[fec0::1]/", "fec0::1, which is a site-local address"),
    ("http://[ff02::1]/", "ff02::1, which is a multicast address"),
    (
        "http://[::ffff:127.0.0.1]/",
        "which is the IPv4-mapped IPv6 form of 127.0.0.1, a loopback address",
    ),
    ("http://[::ffff:7f00:1]/", "the IPv4-mapped IPv6 form of 127.0.0.1, a loopback address"),
    ("http://[::ffff:a9fe:a9fe]/", "the IPv4-mapped IPv6 form of 169.254.169.254"),
    ("http://[::127.0.0.1]/", "the IPv4-compatible IPv6 form of 127.0.0.1"),
    ("http://[::10.0.0.1]/", "the IPv4-compatible IPv6 form of 10.0.0.1, a private address"),
    ("http://[::8.8.8.8]/", "an IPv4-compatible IPv6 address (deprecated form)"),
    ("http://[2002:7f00:1::]/", "the 6to4 IPv6 form of 127.0.0.1, a loopback address"),
    ("http://[2002:c0a8:101::1]/", "the 6to4 IPv6 form of 192.168.1.1, a private address"),
    ("http://[64:ff9b::a9fe:a9fe]/", "the NAT64 IPv6 form of 169.254.169.254"),
    ("http://[64:ff9b::10.0.0.1]/", "the NAT64 IPv6 form of 10.0.0.1, a private address"),
    ("http://[64:ff9b:1::1]/", "which is a local-use NAT64 address"),
    ("http://2130706433/", "127.0.0.1, which is a loopback address"),
    ("http://0x7f000001/", "127.0.0.1, which is a loopback address"),
    ("http://017700000001/", "127.0.0.1, which is a loopback address"),
    ("http://0x7f.1/", "127.0.0.1, which is a loopback address"),
    ("http://127.1/", "127.0.0.1, which is a loopback address"),
    ("http://127.0.1/", "127.0.0.1, which is a loopback address"),
    ("http://0xa9.0xfe.0xa9.0xfe/", "169.254.169.254, which is the cloud metadata address"),
    ("http://2852039166/", "169.254.169.254, which is the cloud metadata address"),
    ("http://127.0.0.1./", "127.0.0.1, which is a loopback address"),
    ("http://evil@127.0.0.1/", "127.0.0.1, which is a loopback address"),
    ("http://public.example@127.0.0.1/", "127.0.0.1, which is a loopback address"),
    ("http://127.0.0.1:80@public.example@127.0.0.1/", "127.0.0.1, which is a loopback address"),
    ("http://user:secret@public.example/", "URLs with credentials (user@host) are not allowed"),
    (
        "http://mixed.example/",
        "host 'mixed.example' resolves to 10.0.0.5, which is a private address",
    ),
    ("http://metadata.example/", "resolves to 169.254.169.254, which is the cloud metadata"),
    ("https://internal.example/", "resolves to 192.168.0.10, which is a private address"),
    ("http://v6private.example/", "resolves to fd12:3456::1, which is a private address"),
    ("http://garbage.example/", "it resolved to 'not-an-ip', which is not an address"),
    ("ftp://public.example/file", "scheme 'ftp' is not allowed"),
    ("file:///etc/passwd", "scheme 'file' is not allowed"),
    ("gopher://127.0.0.1:70/_", "scheme 'gopher' is not allowed"),
    ("javascript:alert(1)", "scheme 'javascript' is not allowed"),
    ("//public.example/", "scheme '(none)' is not allowed"),
    ("http:///path", "the URL has no host"),
]


@pytest.mark.parametrize(("url", "reason"), BLOCKED, ids=[url for url, _ in BLOCKED])
async def test_blocks(guard: SSRFGuard, url: str, reason: str) -> None:
    with pytest.raises(SSRFBlockedError) as caught:
        await guard.validate(url)
    assert reason in caught.value.message
    assert caught.value.code == "ssrf_blocked"


async def test_blocked_message_says_what_to_do(guard: SSRFGuard) -> None:
    with pytest.raises(SSRFBlockedError) as caught:
        await guard.validate("http://10.1.2.3:8080/x")
    assert caught.value.message == (
        "refused http://10.1.2.3:8080/x: 10.1.2.3, which is a private address; "
        "only public internet addresses can be fetched"
    )


@pytest.mark.parametrize(
    "url", ["http://alice:hunter2@public.example/", "http://alice:hunter2@10.0.0.1/"]
)
async def test_messages_never_echo_credentials(guard: SSRFGuard, url: str) -> None:
    with pytest.raises(SSRFBlockedError) as caught:
        await guard.validate(url)
    assert "hunter2" not in caught.value.message
    assert "alice" not in caught.value.message


async def test_ip_literals_never_reach_the_resolver(
    guard: SSRFGuard, resolver: FakeResolver
) -> None:
    for url in ["http://2130706433/", "http://[::1]/", "http://8.8.8.8/", "http://0x08.8.8.8/"]:
        try:
            await guard.validate(url)
        except SSRFBlockedError:
            pass
    assert resolver.lookups == []


async def test_allows_public_name_and_pins_its_address(
    guard: SSRFGuard, resolver: FakeResolver
) -> None:
    target = await guard.validate("https://public.example/a/b?q=1")
    assert target.host == "public.example"
    assert target.port == 443
    assert target.ip == ipaddress.IPv4Address(PUBLIC_V4)
    assert str(target.connect_url) == f"https://{PUBLIC_V4}/a/b?q=1"
    assert target.host_header == "public.example"
    assert resolver.lookups == [("public.example", 443)]


async def test_allows_public_ipv6_and_keeps_explicit_port(guard: SSRFGuard) -> None:
    target = await guard.validate("http://dual.example:8080/")
    assert target.ip == ipaddress.IPv4Address(PUBLIC_V4)
    assert target.host_header == "dual.example:8080"
    literal = await guard.validate(f"http://[{PUBLIC_V6}]/")
    assert str(literal.connect_url) == f"http://[{PUBLIC_V6}]/"


@pytest.mark.parametrize(
    "url",
    ["http://8.8.8.8/", "http://134744072/", "http://0x08080808/", "http://[::ffff:8.8.8.8]/"],
)
async def test_allows_public_literals(guard: SSRFGuard, url: str) -> None:
    target = await guard.validate(url)
    assert blocked_reason(target.ip) is None


async def test_allows_idna_host_in_ascii_form() -> None:
    resolver = FakeResolver({"xn--exmple-cua.example": [PUBLIC_V4]})
    target = await SSRFGuard(resolver).validate("https://exämple.example/")
    assert target.host == "xn--exmple-cua.example"
    assert resolver.lookups == [("xn--exmple-cua.example", 443)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://unknown.example/", "could not resolve host 'unknown.example'"),
        ("http://empty.example/", "host 'empty.example' did not resolve to any address"),
        ("http://public.example:0/", "port 0 is out of range"),
        ("http://public.example:99999/", "port 99999 is out of range"),
        ("http://exa mple.com:abc/", "invalid URL"),
        # httpx itself rejects a dotted quad with an octal part: refused before any lookup.
        ("http://0177.0.0.1/", "invalid URL: Invalid IPv4 address: '0177.0.0.1'"),
    ],
)
async def test_unusable_urls_are_tool_errors(guard: SSRFGuard, url: str, message: str) -> None:
    with pytest.raises(ToolError) as caught:
        await guard.validate(url)
    assert not isinstance(caught.value, SSRFBlockedError)
    assert message in caught.value.message


async def test_slow_resolver_times_out() -> None:
    import asyncio

    async def hang(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return [PUBLIC_V4]

    with pytest.raises(ToolError, match="resolving host 'slow.example' timed out"):
        await SSRFGuard(hang, resolve_timeout=0.01).validate("http://slow.example/")


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.65535", "10.1.255.255"),
        ("0", "0.0.0.0"),
        ("1.2.3.4.", "1.2.3.4"),
        ("[::1]", "::1"),
        ("::ffff:7f00:1", "::ffff:7f00:1"),
        ("public.example", None),
        ("08.1.1.1", None),  # not valid octal: a name for the resolver to judge
        ("1.2.3.256", None),
        ("256.1.1.1", None),
        ("4294967296", None),
        ("1.2.3.4.5", None),
        ("", None),
    ],
)
def test_parse_ip_literal(host: str, expected: str | None) -> None:
    parsed = parse_ip_literal(host)
    assert (str(parsed) if parsed is not None else None) == expected


async def test_system_resolver_handles_numeric_hosts_without_dns() -> None:
    assert await system_resolver("127.0.0.1", 80) == ["127.0.0.1"]
