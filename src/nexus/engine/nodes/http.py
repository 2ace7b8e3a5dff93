"""``http``: an HTTP request (any method, headers, JSON or text body) through the SSRF-guarded
client the platform provides (``nexus.engine.http_client.HttpRequester`` in production).

The node encodes the body: with ``body_type`` ``json`` (the default for objects, lists, numbers
and booleans) it is sent as JSON with ``Content-Type: application/json``; with ``text`` (the
default for strings) as UTF-8 text with ``Content-Type: text/plain``. A ``Content-Type`` header
given in ``headers`` wins. A ``json`` string body must itself be JSON (a rendered template).
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, port

NO_BODY_METHODS = ("GET", "HEAD")


def encode_body(
    body: Any, body_type: str, headers: dict[str, str]
) -> tuple[str | None, dict[str, str]]:
    """``(text to send, headers with a content type)`` for a property ``body``."""
    if body is None:
        return None, headers
    kind = body_type if body_type != "auto" else ("text" if isinstance(body, str) else "json")
    if kind == "text":
        text = body if isinstance(body, str) else json.dumps(body)
        media = "text/plain; charset=utf-8"
    else:
        if isinstance(body, str):
            try:
                json.loads(body)
            except ValueError as exc:
                raise InvalidInputError(
                    f"body_type is json but the body is not JSON: {exc}", field="body"
                ) from exc
            text = body
        else:
            try:
                text = json.dumps(body, ensure_ascii=False, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(
                    f"The body cannot be sent as JSON: {exc}", field="body"
                ) from exc
        media = "application/json"
    if not any(k.lower() == "content-type" for k in headers):
        headers = {**headers, "Content-Type": media}
    return text, headers


class HttpNode(NodeType):
    name = "http"
    description = (
        "Sends `method` (GET, POST, PUT, PATCH, DELETE, HEAD) `url` with `headers` and a JSON or "
        "text `body` (templates allowed everywhere) through the SSRF guard (private, loopback "
        "and metadata addresses are refused, on every redirect too); outputs "
        "`{status, headers, body, url, redirects, truncated}`, `body` parsed when the response "
        "is JSON."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
            "url": {"type": "string", "minLength": 1},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {},
            "body_type": {"enum": ["auto", "json", "text"]},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output", "json"),)

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        method = properties.get("method", "GET")
        if method in NO_BODY_METHODS and properties.get("body") is not None:
            return [("properties.body", f"A {method} request cannot have a body.")]
        return []

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        http = ctx.services.require("http")
        url = str(properties["url"])
        if urlsplit(url).scheme not in ("http", "https"):
            raise InvalidInputError(
                f"Only http and https URLs are allowed, not {url!r}.", field="url"
            )
        method = str(properties.get("method", "GET"))
        headers = properties.get("headers", {})
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise InvalidInputError("Headers must render to string values.", field="headers")
        body, headers = encode_body(
            properties.get("body"), str(properties.get("body_type", "auto")), dict(headers)
        )
        if body is not None and method in NO_BODY_METHODS:
            raise InvalidInputError(f"A {method} request cannot have a body.", field="body")
        response = await http(
            method,
            url,
            headers=headers,
            body=body,
            timeout_s=float(properties.get("timeout_s", 30.0)),
        )
        return NodeResult({"output": response})
