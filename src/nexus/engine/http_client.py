"""What ``http`` nodes send requests with: checks on top of the platform's one SSRF-guarded client.

``nexus.tools.http_fetch.HttpFetcher.exchange`` does the sending (the guard on every hop, the
pinned connection to the validated address, the size cap, the browsers' redirect rules); this
module checks the method and the user's headers first and parses JSON responses.

User headers cannot override ``Host`` (it must name the validated host) nor the framing headers
httpx computes; header names and values with control characters are refused.
"""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

from nexus.core.errors import InvalidInputError, ToolError
from nexus.tools.http_fetch import HttpFetcher

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


class HttpRequester:
    """``request(method, url, headers=, body=, timeout_s=)`` → ``{status, headers, body, …}``.

    A checked front of ``fetcher`` (default: a fresh ``HttpFetcher``), the platform's one
    SSRF-guarded client: the same guard, limits, transport and redirect rules as ``http_fetch``.
    """

    def __init__(self, fetcher: HttpFetcher | None = None) -> None:
        self.fetcher = fetcher if fetcher is not None else HttpFetcher()

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
        content = body.encode() if isinstance(body, str) else body
        try:
            async with asyncio.timeout(timeout_s):
                got = await self.fetcher.exchange(method, url, headers=headers, body=content)
        except TimeoutError as exc:
            raise ToolError(f"{method} {url} took longer than {timeout_s:g} s") from exc
        content_type = got.headers.get("content-type", "")
        text = self.fetcher.decode(got.body, content_type, got.truncated)
        value: Any = text
        media = content_type.split(";", 1)[0].strip().lower()
        if not got.truncated and (media in _JSON_TYPES or media.endswith("+json")):
            try:
                value = json.loads(text)
            except ValueError:
                value = text
        return {
            "status": got.status,
            "headers": {k.lower(): v for k, v in got.headers.items()},
            "body": value,
            "url": got.url,
            "redirects": got.redirects,
            "truncated": got.truncated,
        }
