"""``subworkflow``: run another stored workflow at a pinned version, depth-limited."""

from __future__ import annotations

from typing import Any

from nexus.core.errors import InvalidInputError, RunError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class SubworkflowNode(NodeType):
    name = "subworkflow"
    description = (
        "Runs workflow `workflow_id` at pinned `version` with `inputs` (templates allowed; "
        "default: the node's input) and outputs its outputs. Nesting is limited by "
        "`limits.max_subworkflow_depth`."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "workflow_id": {"type": "string", "minLength": 1},
            "version": {"type": "integer", "minimum": 1},
            "inputs": {},
        },
        "required": ["workflow_id", "version"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output", "json"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        depth = ctx.depth + 1
        if depth > ctx.limits.max_subworkflow_depth:
            raise RunError(
                f"Sub-workflow nesting is deeper than limits.max_subworkflow_depth "
                f"({ctx.limits.max_subworkflow_depth}); check for a workflow that calls itself."
            )
        sub_inputs = properties["inputs"] if "inputs" in properties else inputs.get("input", {})
        if not isinstance(sub_inputs, dict):
            raise InvalidInputError("Sub-workflow inputs must be an object.", field="inputs")
        run = ctx.services.require("subworkflow")
        outputs = await run(
            properties["workflow_id"],
            properties["version"],
            sub_inputs,
            depth=depth,
            idempotency_key=ctx.idempotency_key,
        )
        # The child's tokens count in this node, so in the parent run's usage too.
        return NodeResult({"output": ctx.answer(outputs)})
