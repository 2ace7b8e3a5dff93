import gzip
import json
import socket
from collections.abc import Callable

import httpx
import pytest

from nexus.core.errors import SSRFBlockedError, ToolError
from nexus.tools.http_fetch import HttpFetcher, http_fetch_tool
from nexus.tools.registry import default_registry

PUBLIC = "93.184.216.34"
DOCUMENTATION_NET = "198.51.100.7"  # TEST-NET-2: looks public, is not globally routable
CDN = "151.101.1.69"

DNS = {
    "public.example": [PUBLIC],
    "cdn.example": [CDN],
    "internal.example": ["10.0.0.7"],
    "mixed.example": [CDN, "192.168.1.20"],
}


class FakeResolver:
    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        if host not in self.table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return list(self.table[host])


class Recorder:
    """A MockTransport handler that records requests and answers from a function."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)

    def factory(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


def make_fetcher(
    recorder: Recorder, resolver: FakeResolver | None = None, **options
) -> HttpFetcher:
    return HttpFetcher(
        resolver=resolver if resolver is not None else FakeResolver(DNS),
        transport_factory=recorder.factory,
        **options,
    )


def page(text: str = "hello", content_type: str = "text/plain; charset=utf-8") -> Callable:
    return lambda request: httpx.Response(200, text=text, headers={"content-type": content_type})


async def test_fetch_connects_to_validated_ip_with_original_host_header() -> None:
    recorder = Recorder(page("<h1>hi</h1>", "text/html; charset=utf-8"))
    result = await make_fetcher(recorder).fetch("http://public.example/path?q=1")
    assert result.to_dict() == {
        "url": "http://public.example/path?q=1",
        "status": 200,
        "content_type": "text/html; charset=utf-8",
        "truncated": False,
        "redirects": [],
        "text": "<h1>hi</h1>",
    }
    (request,) = recorder.requests
    assert request.method == "GET"
    assert str(request.url) == f"http://{PUBLIC}/path?q=1"
    assert request.headers["host"] == "public.example"
    assert "sni_hostname" not in request.extensions


async def test_https_sends_sni_for_the_original_name_and_keeps_port() -> None:
    recorder = Recorder(page())
    await make_fetcher(recorder).fetch("https://public.example:8443/")
    (request,) = recorder.requests
    assert str(request.url) == f"https://{PUBLIC}:8443/"
    assert request.headers["host"] == "public.example:8443"
    assert request.extensions["sni_hostname"] == "public.example"


async def test_no_second_lookup_so_dns_rebinding_cannot_switch_the_address() -> None:
    class Rebinding(FakeResolver):
        async def __call__(self, host: str, port: int) -> list[str]:
            self.lookups.append(host)
            return [PUBLIC] if len(self.lookups) == 1 else ["127.0.0.1"]

    resolver = Rebinding({})
    recorder = Recorder(page())
    result = await make_fetcher(recorder, resolver).fetch("http://rebind.example/")
    assert result.status == 200
    assert resolver.lookups == ["rebind.example"]
    assert recorder.requests[0].url.host == PUBLIC


async def test_follows_redirects_rechecking_each_hop() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.host == PUBLIC and request.url.path == "/start":
            return httpx.Response(302, headers={"location": "/moved"})
        if request.url.host == PUBLIC and request.url.path == "/moved":
            return httpx.Response(301, headers={"location": "https://cdn.example/final"})
        return httpx.Response(200, text="arrived", headers={"content-type": "text/plain"})

    resolver = FakeResolver(DNS)
    recorder = Recorder(answer)
    result = await make_fetcher(recorder, resolver).fetch("http://public.example/start")
    assert result.url == "https://cdn.example/final"
    assert result.redirects == ["http://public.example/start", "http://public.example/moved"]
    assert result.text == "arrived"
    assert [str(r.url) for r in recorder.requests] == [
        f"http://{PUBLIC}/start",
        f"http://{PUBLIC}/moved",
        f"https://{CDN}/final",
    ]
    assert recorder.requests[2].headers["host"] == "cdn.example"
    assert resolver.lookups == ["public.example", "public.example", "cdn.example"]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://127.0.0.1/admin", "127.0.0.1, which is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "the cloud metadata address"),
        ("http://internal.example/", "resolves to 10.0.0.7, which is a private address"),
        ("http://mixed.example/", "resolves to 192.168.1.20, which is a private address"),
        ("http://[::ffff:10.0.0.1]/", "the IPv4-mapped IPv6 form of 10.0.0.1"),
        ("http://2130706433/", "127.0.0.1, which is a loopback address"),
        ("file:///etc/passwd", "scheme 'file' is not allowed"),
        (f"http://{DOCUMENTATION_NET}/", "198.51.100.7, which is a private address"),
    ],
)
async def test_redirect_to_a_refused_address_is_blocked(location: str, reason: str) -> None:
    recorder = Recorder(lambda request: httpx.Response(302, headers={"location": location}))
    with pytest.raises(SSRFBlockedError) as caught:
        await make_fetcher(recorder).fetch("http://public.example/")
    assert reason in caught.value.message
    assert len(recorder.requests) == 1  # the refused hop was never requested


async def test_too_many_redirects() -> None:
    recorder = Recorder(lambda request: httpx.Response(302, headers={"location": "/again"}))
    with pytest.raises(ToolError) as caught:
        await make_fetcher(recorder, max_redirects=3).fetch("http://public.example/")
    assert caught.value.message == (
        "too many redirects (more than 3) starting at http://public.example/"
    )
    assert len(recorder.requests) == 4


async def test_redirect_without_location_is_returned_as_is() -> None:
    recorder = Recorder(lambda request: httpx.Response(302, text="gone"))
    result = await make_fetcher(recorder).fetch("http://public.example/")
    assert (result.status, result.redirects, result.text) == (302, [], "gone")


async def test_blocked_first_url_sends_nothing() -> None:
    recorder = Recorder(page())
    with pytest.raises(SSRFBlockedError, match="127.0.0.1, which is a loopback address"):
        await make_fetcher(recorder).fetch("http://evil@127.0.0.1/")
    assert recorder.requests == []


async def test_response_is_capped_with_a_note() -> None:
    recorder = Recorder(page("x" * 5000))
    result = await make_fetcher(recorder, max_bytes=1000).fetch("http://public.example/")
    assert result.truncated is True
    assert result.text == "x" * 1000 + "\n[truncated: the response was larger than 1000 bytes]"


async def test_cap_applies_to_decompressed_size() -> None:
    bomb = gzip.compress(b"a" * 200_000)
    recorder = Recorder(
        lambda request: httpx.Response(
            200, content=bomb, headers={"content-encoding": "gzip", "content-type": "text/plain"}
        )
    )
    result = await make_fetcher(recorder, max_bytes=10_000).fetch("http://public.example/")
    assert result.truncated is True
    assert result.text.startswith("a" * 10_000 + "\n[truncated")


async def test_decodes_declared_charset_and_describes_binary() -> None:
    latin = Recorder(
        lambda request: httpx.Response(
            200,
            content="café".encode("latin-1"),
            headers={"content-type": "text/plain; charset=ISO-8859-1"},
        )
    )
    assert (await make_fetcher(latin).fetch("http://public.example/")).text == "café"
    image = Recorder(
        lambda request: httpx.Response(
            200, content=b"\x89PNG" * 10, headers={"content-type": "image/png"}
        )
    )
    result = await make_fetcher(image).fetch("http://public.example/logo.png")
    assert result.text == "[binary content (image/png), 40 bytes not shown]"


@pytest.mark.parametrize(
    ("error", "message"),
    [
        (httpx.ConnectTimeout("slow"), "GET http://public.example/ timed out after 10 s"),
        (httpx.ConnectError("refused"), "GET http://public.example/ failed: ConnectError"),
    ],
)
async def test_transport_errors_become_tool_errors(error: Exception, message: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    with pytest.raises(ToolError) as caught:
        await make_fetcher(Recorder(fail)).fetch("http://public.example/")
    assert message in caught.value.message


async def test_total_timeout() -> None:
    import asyncio

    async def slow(host: str, port: int) -> list[str]:
        await asyncio.sleep(10)
        return [PUBLIC]

    fetcher = HttpFetcher(
        resolver=slow, transport_factory=Recorder(page()).factory, total_timeout=0.01
    )
    with pytest.raises(ToolError, match="took longer than 0.01 s"):
        await fetcher.fetch("http://public.example/")


async def test_tool_through_registry_returns_text_and_errors() -> None:
    recorder = Recorder(page("ok"))
    registry = default_registry(http_fetcher=make_fetcher(recorder))
    text = await registry.invoke("http_fetch", json.dumps({"url": "http://public.example/"}))
    assert json.loads(text) == {
        "url": "http://public.example/",
        "status": 200,
        "content_type": "text/plain; charset=utf-8",
        "truncated": False,
        "redirects": [],
        "text": "ok",
    }
    refused = await registry.invoke("http_fetch", json.dumps({"url": "http://10.0.0.1/"}))
    assert refused == (
        "error: refused http://10.0.0.1/: 10.0.0.1, which is a private address; "
        "only public internet addresses can be fetched"
    )
    assert len(recorder.requests) == 1


def test_spec_shape() -> None:
    spec = http_fetch_tool(HttpFetcher(resolver=FakeResolver(DNS)))
    assert spec.name == "http_fetch"
    assert spec.parameters["required"] == ["url"]
    assert spec.parameters["additionalProperties"] is False
