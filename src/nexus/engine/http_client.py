"""The SSRF-guarded HTTP client behind ``http`` nodes: any method, headers and a body.

It is ``nexus.tools.http_fetch.HttpFetcher`` (same guard, same pinned connection to the address
the guard validated, same size cap and decoding, same injectable resolver and transport) with
the request generalised: every hop, the first URL and each redirect, is validated again.
Redirects follow the browsers' rules: 307/308 repeat the method and body; 303, and 301/302
after anything but GET/HEAD, continue as a GET without a body.

User headers cannot override ``Host`` (it must name the validated host) nor the framing headers
httpx computes; header names and values with control characters are refused.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

from nexus.core.errors import InvalidInputError, ToolError
from nexus.tools.http_fetch import REDIRECT_STATUSES, HttpFetcher
from nexus.tools.ssrf import ValidatedTarget

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_JSON_TYPES = ("application/json",)


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Valid, non-reserved headers; ``InvalidInputError`` naming the first bad one."""
    clean: dict[str, str] = {}
    for name, value in headers.items():
        if not isinstance(value, str):
            raise InvalidInputError(
                f"Header {name!r} must be a string, not {type(value).__name__}.", field="headers"
            )
        if not _TOKEN.match(name):
            raise InvalidInputError(f"{name!r} is not a valid header name.", field="headers")
        if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in value):
            raise InvalidInputError(
                f"Header {name!r} has a control character in its value.", field="headers"
            )
        if name.lower() in RESERVED_HEADERS:
            raise InvalidInputError(
                f"Header {name!r} is set by the client and cannot be overridden.",
                field="headers",
            )
        clean[name] = value
    return clean


class HttpRequester(HttpFetcher):
    """``request(method, url, headers=, body=, timeout_s=)`` → ``{status, headers, body}``."""

    @classmethod
    def like(cls, fetcher: HttpFetcher) -> HttpRequester:
        """A requester with ``fetcher``'s guard, transport, limits and user agent."""
        requester = cls.__new__(cls)
        requester.__dict__.update(vars(fetcher))
        return requester

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: dict[str, str],
        body: str | bytes | None,
        timeout_s: float,
    ) -> dict[str, Any]:
        """Send the request; ``SSRFBlockedError``/``ToolError`` when it cannot be made.

        The result's ``body`` is the parsed value for a JSON response, else the text."""
        method = method.upper()
        if method not in METHODS:
            raise InvalidInputError(f"HTTP method {method!r} is not supported.", field="method")
        headers = check_headers(headers)
        try:
            async with asyncio.timeout(timeout_s):
                return await self._exchange(method, url, headers, body)
        except TimeoutError as exc:
            raise ToolError(f"{method} {url} took longer than {timeout_s:g} s") from exc

    async def _exchange(
        self, method: str, url: str, headers: dict[str, str], body: str | bytes | None
    ) -> dict[str, Any]:
        redirects: list[str] = []
        target = await self._guard.validate(url)
        while True:
            status, got, data, truncated = await self._send(target, method, headers, body)
            location = got.get("location")
            if status in REDIRECT_STATUSES and location:
                if len(redirects) >= self._max_redirects:
                    raise ToolError(
                        f"too many redirects (more than {self._max_redirects}) starting at {url}"
                    )
                redirects.append(str(target.url))
                if status == 303 or (status in (301, 302) and method not in ("GET", "HEAD")):
                    method = "GET" if method != "HEAD" else method
                    body = None
                    headers = {k: v for k, v in headers.items() if k.lower() != "content-type"}
                try:
                    next_url = target.url.join(location)
                except (httpx.InvalidURL, ValueError) as exc:
                    raise ToolError(f"redirect to an invalid URL {location!r}") from exc
                target = await self._guard.validate(next_url)
                continue
            content_type = got.get("content-type", "")
            text = self._decode(data, content_type, truncated)
            value: Any = text
            media = content_type.split(";", 1)[0].strip().lower()
            if not truncated and (media in _JSON_TYPES or media.endswith("+json")):
                try:
                    value = json.loads(text)
                except ValueError:
                    value = text
            return {
                "status": status,
                "headers": {k.lower(): v for k, v in got.items()},
                "body": value,
                "url": str(target.url),
                "redirects": redirects,
                "truncated": truncated,
            }

    async def _send(
        self,
        target: ValidatedTarget,
        method: str,
        headers: dict[str, str],
        body: str | bytes | None,
    ) -> tuple[int, httpx.Headers, bytes, bool]:
        extensions: dict[str, Any] = {}
        if target.url.scheme == "https":
            extensions["sni_hostname"] = target.host
        sent = {"User-Agent": self._user_agent, "Accept": "*/*", **headers}
        sent["Host"] = target.host_header
        try:
            request = httpx.Request(
                method,
                target.connect_url,
                headers=sent,
                content=body.encode() if isinstance(body, str) else body,
                extensions=extensions,
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
