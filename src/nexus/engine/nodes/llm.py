"""``llm``: one prompt to a model; with an output schema, JSON validated with repair-and-retry.

With ``output_schema`` the prompt asks for JSON matching it (and the platform's ``llm`` service
asks the provider for structured output when the schema is an object). When the answer does not
parse or does not match the schema, the model gets its answer and the errors back and is asked for
corrected JSON, up to ``max_repairs`` times; then the node fails with ``provider_error``.
The tokens of every call (repairs included) count in the node's usage.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jsonschema import Draft202012Validator

from nexus.core.errors import ProviderError
from nexus.engine.context import NodeContext
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, port

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


def parse_json_answer(text: str) -> Any:
    """The JSON in a model answer, allowing a Markdown code fence around it."""
    stripped = text.strip()
    fenced = _FENCE.match(stripped)
    return json.loads(fenced.group(1) if fenced else stripped)


class LLMNode(NodeType):
    name = "llm"
    description = (
        "Sends the rendered `prompt` (and `system`) to `model` (`provider:model`). With "
        "`output_schema` the answer must be JSON matching it; invalid answers are repaired by "
        "asking again with the errors, up to `max_repairs` times. Streams `token` events."
    )
    properties_schema = {
        "type": "object",
        "properties": {
            "prompt": {"type": "string", "minLength": 1},
            "model": {"type": "string", "minLength": 1},
            "system": {"type": "string"},
            "output_schema": {"type": "object"},
            "max_repairs": {"type": "integer", "minimum": 0, "maximum": 5, "default": 2},
        },
        "required": ["prompt", "model"],
        "additionalProperties": False,
    }
    inputs = (port("input"),)
    outputs = (port("output"),)

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        schema = properties.get("output_schema")
        if isinstance(schema, dict):
            try:
                Draft202012Validator.check_schema(schema)
            except Exception as exc:
                return [("properties.output_schema", f"Not a valid JSON Schema: {exc}")]
        return []

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        llm = ctx.services.require("llm")
        schema = properties.get("output_schema")
        prompt = str(properties["prompt"])
        call = {"model": properties["model"], "system": properties.get("system"), "schema": schema}
        if schema is None:
            text = ctx.answer(await llm(prompt, **call, on_token=ctx.emit_token))
            return NodeResult({"output": text})
        ask = f"{prompt}\n\nAnswer with only JSON matching this schema:\n{json.dumps(schema)}"
        answer = ctx.answer(await llm(ask, **call, on_token=ctx.emit_token))
        validator = Draft202012Validator(schema)
        repairs = properties.get("max_repairs", 2)
        for attempt in range(repairs + 1):
            problems = _problems(answer, validator)
            if isinstance(problems, tuple):
                return NodeResult({"output": problems[0]})
            if attempt == repairs:
                raise ProviderError(
                    f"The model's answer did not match the output schema after {repairs} "
                    f"repair attempts: {problems}"
                )
            repair = (
                f"{prompt}\n\nYour previous answer was:\n{answer}\n\nIt is invalid: {problems}\n"
                f"Answer again with only JSON matching this schema:\n{json.dumps(schema)}"
            )
            answer = ctx.answer(await llm(repair, **call, on_token=ctx.emit_token))
        raise AssertionError("unreachable")


def _problems(answer: str, validator: Draft202012Validator) -> tuple[Any] | str:
    """``(value,)`` when valid, else a description of what is wrong."""
    try:
        value = parse_json_answer(answer)
    except json.JSONDecodeError as exc:
        return f"not JSON ({exc})"
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if not errors:
        return (value,)
    return "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors[:5]
    )
