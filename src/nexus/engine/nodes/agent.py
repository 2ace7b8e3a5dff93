"""``agent``: run a stored agent on one input."""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class AgentNode(NodeType):
    name = "agent"
    description = (
        "Runs the stored agent `agent` (id or name) on `input` (a template; default: the "
        "node's input) and outputs its final answer. Streams `token` events."
    )
    properties_schema = {
        "type": "object",
        "properties": {"agent": {"type": "string", "minLength": 1}, "input": {}},
        "required": ["agent"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        agent = ctx.services.require("agent")
        value = properties["input"] if "input" in properties else inputs.get("input")
        output = ctx.answer(
            await agent(
                properties["agent"],
                value,
                idempotency_key=ctx.idempotency_key,
                on_token=ctx.emit_token,
            )
        )
        return NodeResult({"output": output})
