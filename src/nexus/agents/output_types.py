"""Ready-made output schemas an agent can use as its ``output_schema``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus.core.errors import NotFoundError


@dataclass(frozen=True)
class OutputType:
    name: str
    description: str
    schema: dict[str, Any] | None  # None: plain text


def _obj(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


OUTPUT_TYPES: tuple[OutputType, ...] = (
    OutputType("text", "Free text (no schema).", None),
    OutputType(
        "classification",
        "One label from a list, with a confidence.",
        _obj({"label": {"type": "string"}, "confidence": {"type": "number"}}),
    ),
    OutputType(
        "sentiment",
        "Sentiment of the input.",
        _obj(
            {
                "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative"]},
                "reason": {"type": "string"},
            }
        ),
    ),
    OutputType(
        "summary",
        "A title, a short summary and key points.",
        _obj(
            {
                "title": {"type": "string"},
                "summary": {"type": "string"},
                "key_points": {"type": "array", "items": {"type": "string"}},
            }
        ),
    ),
    OutputType(
        "entities",
        "Named entities found in the input.",
        _obj(
            {
                "entities": {
                    "type": "array",
                    "items": _obj({"name": {"type": "string"}, "kind": {"type": "string"}}),
                }
            }
        ),
    ),
)


def get_output_type(name: str) -> OutputType:
    for output_type in OUTPUT_TYPES:
        if output_type.name == name:
            return output_type
    names = ", ".join(t.name for t in OUTPUT_TYPES)
    raise NotFoundError(f"unknown output type {name!r}; available: {names}")
