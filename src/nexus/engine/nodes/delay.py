"""``delay``: wait, then pass the input on."""

from __future__ import annotations

import asyncio
from typing import Any

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class DelayNode(NodeType):
    name = "delay"
    description = "Waits `seconds` (bounded by the run time limit), then passes its input on."
    properties_schema = {
        "type": "object",
        "properties": {"seconds": {"type": "number", "minimum": 0}},
        "required": ["seconds"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        seconds = properties["seconds"]
        if not isinstance(seconds, int | float) or seconds < 0:
            raise InvalidInputError(f"Delay seconds must be a number >= 0, not {seconds!r}.")
        if seconds > ctx.limits.max_run_time_s:
            raise InvalidInputError(
                f"Delay of {seconds}s is over the run time limit "
                f"({ctx.limits.max_run_time_s}s); raise limits.max_run_time_s.",
                field="seconds",
            )
        await asyncio.sleep(seconds)
        return NodeResult({"output": inputs.get("input")})
