"""``tool``: call any registered tool with templated arguments."""

from __future__ import annotations

from typing import Any

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class ToolNode(NodeType):
    name = "tool"
    description = "Calls the registered tool `tool` with `arguments` (templates allowed)."
    properties_schema = {
        "type": "object",
        "properties": {
            "tool": {"type": "string", "minLength": 1},
            "arguments": {"type": "object"},
        },
        "required": ["tool"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        tool = ctx.services.require("tool")
        arguments = properties.get("arguments", {})
        if not isinstance(arguments, dict):
            raise InvalidInputError("Tool arguments must render to an object.", field="arguments")
        output = await tool(properties["tool"], arguments, idempotency_key=ctx.idempotency_key)
        return NodeResult({"output": output})
