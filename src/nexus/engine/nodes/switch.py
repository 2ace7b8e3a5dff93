"""``switch``: n cases, each an expression and an output port; the first true case fires."""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.condition import _check_expression
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, port
from nexus.engine.spec import PortSpec

DEFAULT_PORT = "default"


class SwitchNode(NodeType):
    name = "switch"
    description = (
        "Evaluates `cases` in order (`{port, when}`) and fires the port of the first true one "
        "with its input, or `default` when none is true."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "cases": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "port": {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_-]{0,63}$"},
                        "when": {"type": "string", "minLength": 1},
                    },
                    "required": ["port", "when"],
                    "additionalProperties": False,
                },
            }
        },
        "required": ["cases"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port(DEFAULT_PORT),)
    raw_properties = frozenset({"cases"})

    def output_ports(self, properties: dict[str, Any]) -> list[PortSpec]:
        cases = properties.get("cases")
        names = [c["port"] for c in cases if isinstance(c, dict) and "port" in c] if cases else []
        return [port(n) for n in names] + [port(DEFAULT_PORT)]

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        issues: list[tuple[str, str]] = []
        seen: set[str] = {DEFAULT_PORT}
        for i, case in enumerate(properties.get("cases") or []):
            if not isinstance(case, dict):
                continue
            name = case.get("port")
            if name in seen:
                issues.append((f"properties.cases[{i}].port", f"Port {name!r} is used twice."))
            seen.add(name)
            issues += _check_expression(case.get("when"), f"properties.cases[{i}].when")
        return issues

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        value = inputs.get("input")
        for case in properties["cases"]:
            if ctx.evaluate(case["when"]):
                return NodeResult({case["port"]: value})
        return NodeResult({DEFAULT_PORT: value})
