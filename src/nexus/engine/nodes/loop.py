"""``loop``: apply one node type to every item of a list, concurrently, results in order.

The body is a node type plus properties (``body: {type, properties}``) rendered per item with
``item`` and ``index`` in the template context. A sub-graph body is a ``subworkflow`` body. Loops
are not drawn as cycles: a cycle in the graph is always a validation error.
"""

from __future__ import annotations

import asyncio
from typing import Any

from nexus.core.errors import InvalidInputError, LimitExceededError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, port


class LoopNode(NodeType):
    name = "loop"
    description = (
        "Runs `body` (`{type, properties}`) once per element of `items` (default: the input), "
        "at most `concurrency` at a time; outputs the results in item order."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "items": {"type": "array"},
            "body": {
                "type": "object",
                "properties": {
                    "type": {"type": "string", "minLength": 1},
                    "properties": {"type": "object"},
                },
                "required": ["type"],
                "additionalProperties": False,
            },
            "concurrency": {"type": "integer", "minimum": 1, "maximum": 256, "default": 4},
        },
        "required": ["body"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output", "list"),)
    raw_properties = frozenset({"body"})

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        body = properties.get("body")
        if not isinstance(body, dict) or not isinstance(body.get("type"), str):
            return []
        body_type = body["type"]
        if body_type not in registry:
            return [("properties.body.type", f"Unknown node type {body_type!r}.")]
        if body_type in ("loop", "approval", "input", "output"):
            return [("properties.body.type", f"A {body_type!r} node cannot be a loop body.")]
        issues = []
        for error in registry.validator(body_type).iter_errors(body.get("properties", {})):
            if isinstance(error.instance, str) and "{" in error.instance:
                continue
            where = "".join(f".{p}" for p in error.absolute_path)
            issues.append((f"properties.body.properties{where}", error.message))
        return issues

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        items = properties["items"] if "items" in properties else inputs.get("input")
        if not isinstance(items, list | tuple):
            raise InvalidInputError(
                f"Loop items must be a list, not {type(items).__name__}.", field="items"
            )
        limit = ctx.limits.max_loop_iterations
        if len(items) > limit:
            raise LimitExceededError(
                f"Loop over {len(items)} items exceeds limits.max_loop_iterations ({limit}); "
                "raise the limit or split the list."
            )
        body = properties["body"]
        body_type, body_properties = body["type"], body.get("properties", {})
        gate = asyncio.Semaphore(properties.get("concurrency", 4))

        async def one(index: int, item: Any) -> Any:
            async with gate:
                return await ctx.run_item(body_type, body_properties, item, index)

        results = await asyncio.gather(*(one(i, item) for i, item in enumerate(items)))
        return NodeResult({"output": list(results)})
