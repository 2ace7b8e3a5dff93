"""The ``http_fetch`` built-in, and the one SSRF-guarded HTTP client of the platform.

``HttpFetcher.exchange`` sends any request: every hop (the first URL and each redirect) goes
through ``SSRFGuard``; the request then connects to the address the guard validated, while the
Host header and TLS SNI carry the original name. Redirects are followed here, not by httpx, so
that each one is checked, by the browsers' rules: 307/308 repeat the method and body; 303, and
301/302 after anything but GET/HEAD, continue as a GET without a body. Each exchange uses a fresh
client: no cookies and no pooled connection are shared. The body is read up to ``max_bytes``
(decoded bytes, so compression cannot expand past it).

``http_fetch`` (the tool) is its GET; workflow ``http`` nodes use the whole of it through
``nexus.engine.http_client.HttpRequester``.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from nexus.core.errors import InvalidInputError, ToolError
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


@dataclass(frozen=True)
class Exchange:
    """A response, after redirects: what ``HttpFetcher.exchange`` returns."""

    url: str
    status: int
    headers: httpx.Headers
    body: bytes
    truncated: bool
    redirects: list[str]


class HttpFetcher:
    """Sends HTTP requests through the SSRF guard (``fetch`` is a GET for the tool).

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
                got = await self.exchange("GET", url)
        except TimeoutError as exc:
            raise ToolError(
                f"fetching {url} took longer than {self._total_timeout:g} s; try a smaller page"
            ) from exc
        content_type = got.headers.get("content-type", "")
        return FetchResult(
            url=got.url,
            status=got.status,
            content_type=content_type,
            text=self.decode(got.body, content_type, got.truncated),
            truncated=got.truncated,
            redirects=got.redirects,
        )

    async def exchange(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Exchange:
        """Send ``method url`` and follow redirects, validating every hop.

        ``headers`` must already be checked by the caller (``Host`` is always the validated
        host's). Raises ``SSRFBlockedError`` for a refused address, ``ToolError`` when the
        exchange fails; the caller bounds the total time."""
        headers = dict(headers or {})
        redirects: list[str] = []
        target = await self._guard.validate(url)
        while True:
            status, got, data, truncated = await self._send(target, method, headers, body)
            location = got.get("location")
            if status not in REDIRECT_STATUSES or not location:
                return Exchange(str(target.url), status, got, data, truncated, redirects)
            if len(redirects) >= self._max_redirects:
                raise ToolError(
                    f"too many redirects (more than {self._max_redirects}) starting at {url}"
                )
            redirects.append(str(target.url))
            if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                method = "HEAD" if method == "HEAD" else "GET"
                body = None
                headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
            try:
                next_url = target.url.join(location)
            except (httpx.InvalidURL, ValueError) as exc:
                raise ToolError(f"redirect to an invalid URL {location!r}") from exc
            target = await self._guard.validate(next_url)

    async def _send(
        self,
        target: ValidatedTarget,
        method: str,
        headers: dict[str, str],
        body: bytes | None,
    ) -> tuple[int, httpx.Headers, bytes, bool]:
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        sent = {"User-Agent": self._user_agent, "Accept": "*/*", **headers}
        sent["Host"] = target.host_header
        try:
            request = httpx.Request(
                method, target.connect_url, headers=sent, content=body, extensions=extensions
            )
        except (httpx.HTTPError, ValueError, TypeError) as exc:
            raise InvalidInputError(f"The request is malformed: {exc}", field="headers") from exc
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
                    data, truncated = await self._read_capped(response)
                finally:
                    await response.aclose()
        except httpx.TimeoutException as exc:
            raise ToolError(f"{method} {target.url} timed out after {self._timeout:g} s") from exc
        except httpx.HTTPError as exc:
            raise ToolError(f"{method} {target.url} failed: {type(exc).__name__}: {exc}") from exc
        return response.status_code, response.headers, data, truncated

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

    def decode(self, body: bytes, content_type: str, truncated: bool) -> str:
        """The body as text (a note for binary content), marked when it was cut."""
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
