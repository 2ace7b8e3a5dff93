"""``input``: where workflow inputs enter the graph."""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port

_MISSING = object()


class InputNode(NodeType):
    name = "input"
    description = "Emits the workflow inputs, or one field of them (`field`, with `default`)."
    properties_schema = {
        "type": "object",
        "properties": {"field": {"type": "string"}, "default": {}},
        "additionalProperties": False,
    }
    inputs = ()
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        workflow_inputs = ctx.scope["inputs"]
        field = properties.get("field")
        if field is None:
            return NodeResult({"output": workflow_inputs})
        value = workflow_inputs.get(field, properties.get("default", _MISSING))
        if value is _MISSING:
            from nexus.core.errors import InvalidInputError

            raise InvalidInputError(
                f"Workflow input {field!r} is missing; pass it or set a default.", field=field
            )
        return NodeResult({"output": value})
