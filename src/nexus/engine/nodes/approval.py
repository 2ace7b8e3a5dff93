"""``approval``: pause the run until a person approves or rejects.

The first run returns a waiting result; the executor records it and the run goes to ``waiting``.
When the run is resumed with a decision for this node (``{"approved": bool, "by"?, "comment"?}``)
the node runs again and fires ``approved`` or ``rejected`` with its input, and ``decision``.
"""

from __future__ import annotations

from typing import Any

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class ApprovalNode(NodeType):
    name = "approval"
    description = (
        "Waits for a person to approve or reject (`message` is shown to them); then fires "
        "`approved` or `rejected` with its input, and `decision`."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "message": {"type": "string"},
            "approvers": {"type": "array", "items": {"type": "string"}},
        },
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("approved"), port("rejected"), port("decision", "json"))

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        decision = ctx.decision
        if decision is None:
            return NodeResult(
                {},
                waiting={
                    "kind": "approval",
                    "message": properties.get("message", ""),
                    "approvers": properties.get("approvers", []),
                    "input": inputs.get("input"),
                },
            )
        approved = decision.get("approved")
        if not isinstance(approved, bool):
            raise InvalidInputError(
                "An approval decision needs 'approved': true or false.", field="approved"
            )
        taken = "approved" if approved else "rejected"
        return NodeResult({taken: inputs.get("input"), "decision": dict(decision)})
