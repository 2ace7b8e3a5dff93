"""Key checks against a provider, through httpx.MockTransport only (never the network)."""

from __future__ import annotations

import logging

import httpx
import pytest

from nexus.core.errors import InvalidInputError
from nexus.security.key_check import verify_key

SECRET = "sk-test-0123456789abcdefghij"


def answering(status: int, seen: list[httpx.Request] | None = None) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if seen is not None:
            seen.append(request)
        return httpx.Response(status, json={"data": []})

    return httpx.MockTransport(handler)


def failing(error: type[httpx.HTTPError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("boom", request=request)  # type: ignore[call-arg]

    return httpx.MockTransport(handler)


async def test_openai_compatible_key_goes_as_bearer_to_models() -> None:
    seen: list[httpx.Request] = []
    result = await verify_key(
        "openai", SECRET, base_url="https://api.example.test/v1/", transport=answering(200, seen)
    )
    assert result is True
    [request] = seen
    assert (request.method, str(request.url)) == ("GET", "https://api.example.test/v1/models")
    assert request.headers["authorization"] == f"Bearer {SECRET}"
    assert "x-api-key" not in request.headers


async def test_anthropic_key_goes_in_x_api_key_with_version() -> None:
    seen: list[httpx.Request] = []
    result = await verify_key(
        "anthropic",
        SECRET,
        base_url="https://api.anthropic.test/v1",
        transport=answering(200, seen),
    )
    assert result is True
    [request] = seen
    assert str(request.url) == "https://api.anthropic.test/v1/models"
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, True), (204, True), (401, False), (403, False), (404, None), (429, None),
     (500, None), (503, None), (302, None)],
)  # fmt: skip
async def test_status_decides(status: int, expected: bool | None) -> None:
    result = await verify_key("openai", SECRET, base_url="https://x.test/v1",
                              transport=answering(status))  # fmt: skip
    assert result is expected


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout, httpx.ReadTimeout, httpx.RemoteProtocolError],
)
async def test_unreachable_provider_is_unknown_and_logs_no_secret(
    error: type[httpx.HTTPError], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        result = await verify_key(
            "openai", SECRET, base_url="https://x.test/v1", transport=failing(error)
        )
    assert result is None
    assert caplog.records, "the unreachable provider is logged"
    assert all(SECRET not in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("base_url", ["ftp://nowhere.test/v1", "not a url", "", "http:///v1"])
async def test_bad_base_url_is_unknown_and_sends_nothing(base_url: str) -> None:
    seen: list[httpx.Request] = []
    transport = answering(200, seen)
    assert await verify_key("openai", SECRET, base_url=base_url, transport=transport) is None
    assert seen == []


@pytest.mark.parametrize("secret", ["sk-with space", "sk-line\nbreak", "sk-ünïcode", ""])
async def test_unsendable_key_is_refused_without_echoing_it(secret: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await verify_key("openai", secret, base_url="https://x.test/v1", transport=answering(200))
    assert caught.value.field == "secret"
    assert not secret or secret not in str(caught.value)
