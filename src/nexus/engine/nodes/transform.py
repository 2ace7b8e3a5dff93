"""``transform``: build a value from a template (text, or JSON)."""

from __future__ import annotations

import json
from typing import Any

from nexus.core.errors import InvalidInputError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, port


class TransformNode(NodeType):
    name = "transform"
    description = (
        "Renders `template` (a string, or a JSON structure of templates). `output_type: text` "
        "gives a string; `json` keeps native values and parses a rendered string as JSON."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "template": {},
            "output_type": {"enum": ["text", "json"], "default": "json"},
        },
        "required": ["template"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        value = properties["template"]
        if properties.get("output_type", "json") == "text":
            if not isinstance(value, str):
                value = json.dumps(value, ensure_ascii=False)
            return NodeResult({"output": value})
        if isinstance(value, str):
            text = value.strip()
            if text[:1] in ("{", "[", '"') or text in ("true", "false", "null"):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise InvalidInputError(
                        f"Transform output is not valid JSON ({exc}); use output_type: text.",
                        field="template",
                    ) from exc
        return NodeResult({"output": value})
