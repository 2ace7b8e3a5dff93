"""``merge``: join branches, waiting for all of them or taking the first value that arrives.

Any input port name is accepted (connect each branch to its own port). ``all`` runs once every
incoming edge has fired or been skipped (a branch not taken is skipped) and outputs the values
that arrived, ordered by input port name; ``first`` runs
on the first value and ignores the rest.
"""

from __future__ import annotations

from typing import Any

from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, Trigger, port


class MergeNode(NodeType):
    name = "merge"
    description = (
        "Joins branches: `mode: all` waits for every branch (skipped ones are left out) and "
        "outputs a list in port order plus `by_port`; `mode: first` passes the first value on."
    )
    properties_schema = {
        "type": "object",
        "properties": {"mode": {"enum": ["all", "first"], "default": "all"}},
        "additionalProperties": False,
    }
    inputs = ()
    outputs = (port("output"), port("by_port", "json"))
    dynamic_inputs = True

    def trigger(self, properties: dict[str, Any]) -> Trigger:
        return "first" if properties.get("mode") == "first" else "all"

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        if properties.get("mode") == "first":
            value = next(iter(inputs.values()), None)
            return NodeResult({"output": value, "by_port": dict(inputs)})
        ordered = {k: inputs[k] for k in sorted(inputs)}
        return NodeResult({"output": list(ordered.values()), "by_port": ordered})
