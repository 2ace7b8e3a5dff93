"""Does a provider accept an API key? One cheap authenticated request before the key is saved.

The answer has three values: ``True`` (accepted), ``False`` (rejected: 401/403) and ``None``
(could not tell: unreachable, timed out, rate-limited, redirected, a server error). A caller
saves on ``None`` with ``verified=False`` and refuses on ``False``. The key travels only in the
request header: it is not logged and no exception raised here can carry it.
"""

from __future__ import annotations

import logging

import httpx

from nexus.core.errors import InvalidInputError

ANTHROPIC_VERSION = "2023-06-01"

log = logging.getLogger(__name__)


def auth_headers(provider: str, secret: str) -> dict[str, str]:
    """The headers that authenticate ``secret`` with ``provider``'s API."""
    if provider == "anthropic":
        return {"x-api-key": secret, "anthropic-version": ANTHROPIC_VERSION}
    return {"Authorization": f"Bearer {secret}"}  # OpenAI and every OpenAI-compatible server


async def verify_key(
    provider: str,
    secret: str,
    *,
    base_url: str,
    transport: httpx.AsyncBaseTransport | None = None,
    timeout: float = 5.0,  # noqa: ASYNC109 (httpx per-phase timeout, not a deadline)
) -> bool | None:
    """``GET {base_url}/models`` with the key: True on 2xx, False on 401/403, else None."""
    if not secret or not secret.isascii() or not secret.isprintable() or " " in secret:
        # httpx would fail to encode it, with the value in the exception.
        raise InvalidInputError(
            "the key contains characters an API key cannot have (spaces, line breaks or "
            "non-ASCII); paste it again",
            field="secret",
        )
    try:
        url = httpx.URL(base_url.rstrip("/") + "/models")
    except httpx.InvalidURL:
        url = httpx.URL()
    if url.scheme not in ("http", "https") or not url.host:
        log.warning("key check for %s: the base URL is not an http(s) URL", provider)
        return None
    try:
        async with httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False
        ) as client:
            response = await client.get(url, headers=auth_headers(provider, secret))
    except httpx.HTTPError as exc:
        log.info("key check for %s: %s unreachable (%s)", provider, url.host, type(exc).__name__)
        return None
    if response.is_success:
        return True
    if response.status_code in (401, 403):
        return False
    log.info("key check for %s: %s answered %s", provider, url.host, response.status_code)
    return None
