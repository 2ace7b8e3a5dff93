"""Tool calling and structured output for the embedded model, by constrained decoding.

The model is told about its tools in the system prompt and decoding is constrained by a GBNF
grammar whose root is either one JSON tool call per tool, ``{"tool": "<name>", "arguments":
{...}}``, or free text that does not start with ``{`` (or whitespace). The first character
therefore tells which branch the model took, so text answers still stream token by token.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agents.handoffs import Handoff
from agents.tool import FunctionTool, Tool

from nexus.core.errors import ProviderError

# Text branch: the first character may be neither "{" nor whitespace; the rest is free.
_TEXT_RULES = "nexus-text ::= [^{ \\t\\r\\n] nexus-any*\nnexus-any ::= [^\\x00]\n"
_ROOT_RULE = re.compile(r"^root\s*::=", re.MULTILINE)


@dataclass(frozen=True)
class ToolSpec:
    """A callable the model may choose: a function tool or a handoff."""

    name: str
    description: str
    parameters: dict[str, Any]


def tool_specs(tools: Sequence[Tool], handoffs: Sequence[Handoff[Any, Any]]) -> list[ToolSpec]:
    specs: list[ToolSpec] = []
    for tool in tools:
        if not isinstance(tool, FunctionTool):
            raise ProviderError(
                f"the local model supports function tools only, not {type(tool).__name__}; "
                "use a remote model for hosted tools"
            )
        specs.append(ToolSpec(tool.name, tool.description or "", tool.params_json_schema))
    for handoff in handoffs:
        specs.append(
            ToolSpec(handoff.tool_name, handoff.tool_description or "", handoff.input_json_schema)
        )
    return specs


@dataclass(frozen=True)
class ToolPlan:
    """Which tools the model may call for one request, and whether it must call one."""

    tools: list[ToolSpec]
    required: bool


def plan_tools(specs: list[ToolSpec], choice: Any) -> ToolPlan:
    """Apply a ``tool_choice`` ("auto", "required", "none" or a tool name) to the tool list."""
    if not specs or choice == "none":
        return ToolPlan([], required=False)
    if choice in (None, "auto"):
        return ToolPlan(specs, required=False)
    if choice == "required":
        return ToolPlan(specs, required=True)
    if isinstance(choice, str):
        chosen = [spec for spec in specs if spec.name == choice]
        if not chosen:
            names = ", ".join(spec.name for spec in specs)
            raise ProviderError(f"tool_choice {choice!r} names no available tool ({names})")
        return ToolPlan(chosen, required=True)
    raise ProviderError(f"the local model does not support tool_choice {choice!r}")


def tools_prompt(plan: ToolPlan) -> str:
    """System-prompt text describing the tools and the exact call format."""
    lines = ["You can call these tools:"]
    for spec in plan.tools:
        schema = json.dumps(_arguments_schema(spec.parameters), ensure_ascii=False)
        lines.append(f"- {spec.name}: {spec.description} Arguments schema: {schema}")
    lines.append(
        'To call a tool, answer with only the JSON {"tool": "<name>", "arguments": {...}}.'
    )
    if plan.required:
        lines.append("You must call one of the tools now.")
    else:
        lines.append("Otherwise answer in plain text.")
    return "\n".join(lines)


def output_prompt(schema: dict[str, Any]) -> str:
    return "Answer with only a JSON object that matches this JSON schema: " + json.dumps(
        schema, ensure_ascii=False
    )


def _arguments_schema(parameters: dict[str, Any]) -> dict[str, Any]:
    if parameters:
        return parameters
    return {"type": "object", "properties": {}, "additionalProperties": False}


def _call_schema(plan: ToolPlan) -> dict[str, Any]:
    alternatives = [
        {
            "type": "object",
            "properties": {
                "tool": {"const": spec.name},
                "arguments": _arguments_schema(spec.parameters),
            },
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for spec in plan.tools
    ]
    if len(alternatives) == 1:
        return alternatives[0]
    return {"anyOf": alternatives}


def schema_grammar(schema: dict[str, Any], *, prop_order: Sequence[str] = ()) -> str:
    """GBNF for one JSON schema (llama-cpp-python's converter, as ``response_format`` uses)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema), list(prop_order))
    except Exception as exc:
        raise ProviderError(f"the local model cannot follow this JSON schema: {exc}") from exc


def _renamed_root(grammar: str, name: str) -> str:
    if not _ROOT_RULE.search(grammar):
        raise ProviderError("internal error: generated grammar has no root rule")
    return _ROOT_RULE.sub(f"{name} ::=", grammar, count=1).rstrip("\n") + "\n"


def decoding_grammar(plan: ToolPlan, output_schema: dict[str, Any] | None) -> str | None:
    """The GBNF grammar for one request, or None when decoding is unconstrained.

    The answer alternative is free text, or the output schema's JSON when one is given.
    """
    answer: str | None = None
    if output_schema is not None:
        answer = _renamed_root(schema_grammar(output_schema), "nexus-answer")
    if not plan.tools:
        return None if answer is None else answer.replace("nexus-answer ::=", "root ::=", 1)
    call = _renamed_root(
        schema_grammar(_call_schema(plan), prop_order=("tool", "arguments")), "nexus-call"
    )
    if plan.required:
        return f"root ::= nexus-call\n{call}"
    if answer is None:
        return f"root ::= nexus-call | nexus-text\n{call}{_TEXT_RULES}"
    # Both branches are JSON objects; the two generated rule sets may share helper names
    # (the converter is deterministic, so shared names define identical rules): keep one.
    return "root ::= nexus-call | nexus-answer\n" + _merge_rules(call, answer)


def _merge_rules(*grammars: str) -> str:
    seen: dict[str, str] = {}
    for grammar in grammars:
        for line in grammar.splitlines():
            if "::=" not in line:
                continue
            name = line.split("::=", 1)[0].strip()
            if name in seen and seen[name] != line:
                raise ProviderError(
                    "the local model cannot combine these tools with this output schema; "
                    "use tool_choice or a remote model"
                )
            seen[name] = line
    return "\n".join(seen.values()) + "\n"


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str  # JSON text
    call_id: str


def parse_tool_call(text: str, plan: ToolPlan) -> ParsedCall | None:
    """Read a tool call from the model's output; None when the output is an answer."""
    stripped = text.strip()
    if not plan.tools or not stripped.startswith("{"):
        return None
    try:
        data = json.loads(stripped)
    except json.JSONDecodeError as exc:
        if plan.required:
            raise ProviderError(f"the local model wrote an unreadable tool call: {exc}") from exc
        return None
    names = {spec.name for spec in plan.tools}
    if not (
        isinstance(data, dict)
        and set(data) == {"tool", "arguments"}
        and data["tool"] in names
        and isinstance(data["arguments"], dict)
    ):
        if plan.required:
            raise ProviderError("the local model's output is not a call of an available tool")
        return None
    return ParsedCall(
        name=data["tool"],
        arguments=json.dumps(data["arguments"], ensure_ascii=False),
        call_id=new_call_id(),
    )


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"
