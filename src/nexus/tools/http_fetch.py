"""The ``http_fetch`` built-in: GET a public web page, guarded against SSRF.

Every hop (the first URL and each redirect) goes through ``SSRFGuard``; the request then connects
to the address the guard validated, while the Host header and TLS SNI carry the original name.
Redirects are followed here, not by httpx, so that each one is checked. Each fetch uses a fresh
client: no cookies and no pooled connection are shared between fetches.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from nexus.core.errors import ToolError
from nexus.tools.registry import ToolSpec
from nexus.tools.ssrf import Resolver, SSRFGuard, ValidatedTarget

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TEXT_TYPES = ("text/", "application/json", "application/xml", "application/xhtml+xml")
TEXT_SUFFIXES = ("+json", "+xml", "javascript")
_CHARSET = re.compile(r"charset=[\"']?([\w.:-]+)", re.IGNORECASE)

TransportFactory = Callable[[], httpx.AsyncBaseTransport]


@dataclass(frozen=True)
class FetchResult:
    """What a fetch returns to the model."""

    url: str
    """The final URL, after redirects."""

    status: int
    content_type: str
    text: str
    """The body decoded as text (or a note for binary content), cut at ``max_bytes``."""

    truncated: bool
    redirects: list[str]
    """The URLs that redirected, in order."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "status": self.status,
            "content_type": self.content_type,
            "truncated": self.truncated,
            "redirects": list(self.redirects),
            "text": self.text,
        }


class HttpFetcher:
    """Fetches URLs with GET through the SSRF guard.

    ``resolver`` and ``transport_factory`` are injectable: tests pass a fake resolver and a
    factory returning ``httpx.MockTransport``, so they never touch DNS or the network.
    """

    def __init__(
        self,
        *,
        resolver: Resolver | None = None,
        transport_factory: TransportFactory | None = None,
        timeout: float = 10.0,
        total_timeout: float = 30.0,
        max_bytes: int = 1_000_000,
        max_redirects: int = 5,
        user_agent: str = "Nexus-http_fetch/0.1",
    ) -> None:
        self._guard = SSRFGuard(resolver)
        self._transport_factory = transport_factory
        self._timeout = timeout
        self._total_timeout = total_timeout
        self._max_bytes = max_bytes
        self._max_redirects = max_redirects
        self._user_agent = user_agent

    async def fetch(self, url: str) -> FetchResult:
        """GET ``url``; raise ``SSRFBlockedError`` or ``ToolError`` when it cannot be fetched."""
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._follow(url)
        except TimeoutError as exc:
            raise ToolError(
                f"fetching {url} took longer than {self._total_timeout:g} s; try a smaller page"
            ) from exc

    async def _follow(self, url: str) -> FetchResult:
        redirects: list[str] = []
        target = await self._guard.validate(url)
        while True:
            status, headers, body, truncated = await self._get(target)
            location = headers.get("location")
            if status in REDIRECT_STATUSES and location:
                if len(redirects) >= self._max_redirects:
                    raise ToolError(
                        f"too many redirects (more than {self._max_redirects}) starting at {url}"
                    )
                redirects.append(str(target.url))
                try:
                    next_url = target.url.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise ToolError(f"redirect to an invalid URL {location!r}") from exc
                target = await self._guard.validate(next_url)
                continue
            content_type = headers.get("content-type", "")
            return FetchResult(
                url=str(target.url),
                status=status,
                content_type=content_type,
                text=self._decode(body, content_type, truncated),
                truncated=truncated,
                redirects=redirects,
            )

    async def _get(self, target: ValidatedTarget) -> tuple[int, httpx.Headers, bytes, bool]:
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        request = httpx.Request(
            "GET",
            target.connect_url,
            headers={
                "Host": target.host_header,
                "User-Agent": self._user_agent,
                "Accept": "*/*",
            },
            extensions=extensions,
        )
        transport = (
            self._transport_factory()
            if self._transport_factory is not None
            else httpx.AsyncHTTPTransport(retries=0, trust_env=False)
        )
        try:
            async with httpx.AsyncClient(
                transport=transport,
                timeout=self._timeout,
                follow_redirects=False,
                trust_env=False,
            ) as client:
                response = await client.send(request, stream=True)
                try:
                    body, truncated = await self._read_capped(response)
                finally:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            raise ToolError(f"fetching {target.url} timed out after {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"fetching {target.url} failed: {type(exc).__name__}: {exc}") from exc
        return response.status_code, response.headers, body, truncated

    async def _read_capped(self, response: httpx.Response) -> tuple[bytes, bool]:
        # Count decoded bytes, so a compressed body cannot expand past the cap.
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size > self._max_bytes:
                return b"".join(chunks)[: self._max_bytes], True
        return b"".join(chunks), False

    def _decode(self, body: bytes, content_type: str, truncated: bool) -> str:
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type and not (
            media_type.startswith(TEXT_TYPES) or media_type.endswith(TEXT_SUFFIXES)
        ):
            return f"[binary content ({media_type}), {len(body)} bytes not shown]"
        match = _CHARSET.search(content_type)
        charset = match.group(1) if match is not None else "utf-8"
        try:
            text = body.decode(charset, errors="replace")
        except LookupError:  # unknown charset name in the header
            text = body.decode("utf-8", errors="replace")
        if truncated:
            text += f"\n[truncated: the response was larger than {self._max_bytes} bytes]"
        return text


HTTP_FETCH_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "url": {
            "type": "string",
            "description": "Absolute http:// or https:// URL of a public web page.",
        }
    },
    "required": ["url"],
    "additionalProperties": False,
}


def http_fetch_tool(fetcher: HttpFetcher | None = None) -> ToolSpec:
    """The ``http_fetch`` tool spec, using ``fetcher`` (a default ``HttpFetcher`` if omitted)."""
    active = fetcher if fetcher is not None else HttpFetcher()

    async def handle(arguments: dict[str, Any]) -> dict[str, Any]:
        result = await active.fetch(arguments["url"])
        return result.to_dict()

    return ToolSpec(
        name="http_fetch",
        description=(
            "Fetch a public web page with HTTP GET and return its status, content type and text. "
            "Private, local and cloud-metadata addresses are refused."
        ),
        parameters=HTTP_FETCH_PARAMETERS,
        handler=handle,
    )
