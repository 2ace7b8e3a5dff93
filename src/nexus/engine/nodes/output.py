"""``output``: one named value of the run's result."""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class OutputNode(NodeType):
    name = "output"
    description = "Makes its input (or the rendered `value`) the run output called `name`."
    properties_schema = {
        "type": "object",
        "properties": {"name": {"type": "string", "minLength": 1}, "value": {}},
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        if "value" in properties:
            return NodeResult({"output": properties["value"]})
        return NodeResult({"output": inputs.get("input")})
