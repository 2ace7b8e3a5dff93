"""The http node beyond GET: body encoding and headers in the node, and the SSRF-guarded
``HttpRequester`` behind it (methods, redirects, refused addresses and headers)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from nexus.core.errors import InvalidInputError, SSRFBlockedError
from nexus.core.status import RunStatus
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.http_client import HttpRequester
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.services import Services
from nexus.engine.spec import WorkflowSpec
from nexus.tools.http_fetch import HttpFetcher

SpecBuilder = Callable[..., WorkflowSpec]
DNS = {
    "api.example": ["93.184.216.34"],
    "cdn.example": ["93.184.216.35"],
    "inside.example": ["10.0.0.7"],
}


async def resolve(host: str, port: int) -> list[str]:
    return DNS[host]


class Server:
    """Answers from ``routes`` (path → response factory) and records every request."""

    def __init__(self, routes: dict[str, Callable[[httpx.Request], httpx.Response]]) -> None:
        self.routes = routes
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.routes[request.url.path](request)

    def requester(self) -> HttpRequester:
        return HttpRequester(
            HttpFetcher(resolver=resolve, transport_factory=lambda: httpx.MockTransport(self))
        )


def echo(request: httpx.Request) -> httpx.Response:
    return httpx.Response(
        201,
        json={
            "method": request.method,
            "body": request.content.decode(),
            "type": request.headers.get("content-type"),
            "auth": request.headers.get("authorization"),
            "host": request.headers.get("host"),
        },
        headers={"X-Trace": "t1"},
    )


# ----------------------------------------------------------------------------- the node


async def _run(
    spec: SpecBuilder, properties: dict[str, Any], inputs: dict[str, Any], services: Services
) -> Any:
    executor = WorkflowExecutor(InMemoryCheckpointer(), services=services)
    wf = spec(
        [
            {"id": "in", "type": "input"},
            {"id": "h", "type": "http", "properties": properties},
            {"id": "out", "type": "output", "properties": {"name": "r"}},
        ],
        ["in->h", "h->out"],
    )
    return await executor.start(executor.compile(wf), inputs, events=MemoryEventSink())


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
async def test_node_sends_templated_json_body_and_headers(spec: SpecBuilder, method: str) -> None:
    server = Server({"/items/7": echo})
    requester = server.requester()
    outcome = await _run(
        spec,
        {
            "method": method,
            "url": "https://api.example/items/{{ inputs.id }}",
            "headers": {"Authorization": "Bearer {{ inputs.token }}"},
            "body": {"name": "{{ inputs.name }}", "tags": ["a", "{{ inputs.id }}"]},
        },
        {"id": 7, "token": "s3cret", "name": "owl"},
        Services(http=requester.request),
    )
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    response = outcome.outputs["r"]
    assert response["status"] == 201
    assert response["headers"]["x-trace"] == "t1"
    assert response["body"] == {
        "method": method,
        "body": json.dumps({"name": "owl", "tags": ["a", 7]}),
        "type": "application/json",
        "auth": "Bearer s3cret",
        "host": "api.example",
    }
    (sent,) = server.requests
    assert sent.url.host == "93.184.216.34"  # pinned to the address the guard validated


async def test_node_sends_text_body_and_keeps_a_given_content_type(spec: SpecBuilder) -> None:
    server = Server({"/t": echo})
    outcome = await _run(
        spec,
        {"method": "POST", "url": "https://api.example/t", "body": "hi {{ inputs.who }}"},
        {"who": "there"},
        Services(http=server.requester().request),
    )
    body = outcome.outputs["r"]["body"]
    assert (body["body"], body["type"]) == ("hi there", "text/plain; charset=utf-8")
    outcome = await _run(
        spec,
        {
            "method": "PUT",
            "url": "https://api.example/t",
            "headers": {"Content-Type": "application/xml"},
            "body": "<a/>",
        },
        {},
        Services(http=server.requester().request),
    )
    assert outcome.outputs["r"]["body"]["type"] == "application/xml"


async def test_node_json_body_type_sends_a_rendered_json_string(spec: SpecBuilder) -> None:
    server = Server({"/j": echo})
    props = {
        "method": "POST",
        "url": "https://api.example/j",
        "body_type": "json",
        "body": "{{ inputs.payload | tojson }}",
    }
    ok = await _run(spec, props, {"payload": {"n": 1}}, Services(http=server.requester().request))
    assert ok.status is RunStatus.SUCCEEDED, ok.error
    assert json.loads(ok.outputs["r"]["body"]["body"]) == {"n": 1}
    bad = await _run(
        spec,
        {**props, "body": "not {{ inputs.x }}"},
        {"x": "json"},
        Services(http=server.requester().request),
    )
    assert bad.status is RunStatus.FAILED
    assert bad.error is not None and bad.error["code"] == "invalid_input"
    assert "not JSON" in bad.error["message"]
    assert len(server.requests) == 1


async def test_get_with_a_body_is_refused_at_validation(spec: SpecBuilder) -> None:
    executor = WorkflowExecutor(InMemoryCheckpointer())
    wf = spec(
        [{"id": "h", "type": "http", "properties": {"url": "https://x.example", "body": {}}}], []
    )
    with pytest.raises(InvalidInputError) as info:
        executor.compile(wf)
    assert info.value.details == [
        {"node": "h", "field": "properties.body", "message": "A GET request cannot have a body."}
    ]


async def test_node_refuses_a_private_address_through_the_guard(spec: SpecBuilder) -> None:
    server = Server({})
    outcome = await _run(
        spec,
        {"method": "POST", "url": "http://inside.example/admin", "body": {"drop": True}},
        {},
        Services(http=server.requester().request),
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["code"] == "ssrf_blocked"
    assert server.requests == []


# ----------------------------------------------------------------------------- the requester


def redirect(status: int, location: str) -> Callable[[httpx.Request], httpx.Response]:
    return lambda _request: httpx.Response(status, headers={"Location": location})


@pytest.mark.parametrize(
    ("status", "method", "body"),
    [(307, "POST", '{"a": 1}'), (308, "PUT", '{"a": 1}'), (303, "GET", ""), (302, "GET", "")],
)
async def test_redirects_follow_browser_rules(status: int, method: str, body: str) -> None:
    server = Server({"/start": redirect(status, "https://cdn.example/end"), "/end": echo})
    result = await server.requester().request(
        "POST" if status != 308 else "PUT",
        "https://api.example/start",
        headers={"Content-Type": "application/json"},
        body='{"a": 1}',
        timeout_s=5,
    )
    assert result["redirects"] == ["https://api.example/start"]
    assert result["url"] == "https://cdn.example/end"
    assert (result["body"]["method"], result["body"]["body"]) == (method, body)
    assert result["body"]["host"] == "cdn.example"


async def test_redirect_to_a_private_address_is_blocked() -> None:
    server = Server({"/start": redirect(307, "http://inside.example/")})
    with pytest.raises(SSRFBlockedError):
        await server.requester().request(
            "DELETE", "https://api.example/start", headers={}, body=None, timeout_s=5
        )
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"Host": "inside.example"}, "cannot be overridden"),
        ({"Content-Length": "1"}, "cannot be overridden"),
        ({"X-A": "1\r\nX-Injected: 1"}, "control character"),
        ({"Bad Name": "1"}, "not a valid header name"),
    ],
)
async def test_bad_headers_are_refused_before_sending(
    headers: dict[str, str], message: str
) -> None:
    server = Server({"/": echo})
    with pytest.raises(InvalidInputError, match=message):
        await server.requester().request(
            "GET", "https://api.example/", headers=headers, body=None, timeout_s=5
        )
    assert server.requests == []


async def test_unknown_method_and_non_json_answers() -> None:
    server = Server({"/": lambda _r: httpx.Response(200, text="plain")})
    with pytest.raises(InvalidInputError):
        await server.requester().request(
            "TRACE", "https://api.example/", headers={}, body=None, timeout_s=5
        )
    result = await server.requester().request(
        "get", "https://api.example/", headers={}, body=None, timeout_s=5
    )
    assert (result["status"], result["body"]) == (200, "plain")


async def test_requester_sends_through_the_given_fetchers_guard_and_transport() -> None:
    server = Server({"/": echo})
    fetcher = HttpFetcher(resolver=resolve, transport_factory=lambda: httpx.MockTransport(server))
    result = await HttpRequester(fetcher).request(
        "PATCH", "https://api.example/", headers={}, body="x", timeout_s=5
    )
    assert result["body"]["method"] == "PATCH"
    with pytest.raises(SSRFBlockedError):
        await HttpRequester(fetcher).request(
            "POST", "http://inside.example/", headers={}, body=None, timeout_s=5
        )
