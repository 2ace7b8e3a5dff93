"""``http``: an HTTP request through the SSRF-guarded client the platform provides."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class HttpNode(NodeType):
    name = "http"
    description = (
        "Sends `method` `url` with `headers` and `body` through the SSRF guard (private, "
        "loopback and metadata addresses are refused); outputs `{status, headers, body}`."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "method": {"enum": ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]},
            "url": {"type": "string", "minLength": 1},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "body": {},
            "timeout_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 300},
        },
        "required": ["url"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output", "json"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        http = ctx.services.require("http")
        url = str(properties["url"])
        if urlsplit(url).scheme not in ("http", "https"):
            raise InvalidInputError(
                f"Only http and https URLs are allowed, not {url!r}.", field="url"
            )
        response = await http(
            properties.get("method", "GET"),
            url,
            headers=dict(properties.get("headers", {})),
            body=properties.get("body"),
            timeout_s=float(properties.get("timeout_s", 30.0)),
        )
        return NodeResult({"output": response})
