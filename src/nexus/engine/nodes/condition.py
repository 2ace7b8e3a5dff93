"""``condition``: if/else on an expression; fires `true` or `false` with the input value."""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, port
from nexus.engine.templates import TemplateRenderError


class ConditionNode(NodeType):
    name = "condition"
    description = (
        "Evaluates `expression` (Jinja2, e.g. `inputs.count > 3`) and fires `true` or `false` "
        "with its input; the untaken branch is skipped."
    )
    properties_schema = {
        "type": "object",
        "properties": {"expression": {"type": "string", "minLength": 1}},
        "required": ["expression"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("true"), port("false"))
    raw_properties = frozenset({"expression"})

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        return _check_expression(properties.get("expression"), "properties.expression")

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        taken = "true" if ctx.evaluate(properties["expression"]) else "false"
        return NodeResult({taken: inputs.get("input")})


def _check_expression(expression: object, field: str) -> list[tuple[str, str]]:
    if not isinstance(expression, str):
        return []
    from nexus.engine.templates import TemplateEngine

    try:
        TemplateEngine().compile_expression(expression)
    except TemplateRenderError as exc:
        return [(field, exc.message)]
    return []
