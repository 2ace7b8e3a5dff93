from __future__ import annotations

import json

import pytest
from agents import Agent, function_tool, handoff

from nexus.core.errors import ProviderError
from nexus.providers.llamacpp_tools import (
    ToolPlan,
    ToolSpec,
    decoding_grammar,
    parse_tool_call,
    plan_tools,
    tool_specs,
    tools_prompt,
)


@function_tool
def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return city


WEATHER = ToolSpec(
    "get_weather",
    "Get the weather.",
    {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
)
CLOCK = ToolSpec("now", "The time.", {})


def test_tool_specs_cover_function_tools_and_handoffs():
    specs = tool_specs([get_weather], [handoff(Agent(name="billing"))])
    assert [s.name for s in specs] == ["get_weather", "transfer_to_billing"]
    assert specs[0].parameters["properties"] == {"city": {"title": "City", "type": "string"}}
    assert specs[1].description.startswith("Handoff to the billing agent")


@pytest.mark.parametrize(
    ("choice", "names", "required"),
    [
        (None, ["get_weather", "now"], False),
        ("auto", ["get_weather", "now"], False),
        ("required", ["get_weather", "now"], True),
        ("now", ["now"], True),
        ("none", [], False),
    ],
)
def test_plan_tools_applies_tool_choice(choice, names, required):
    plan = plan_tools([WEATHER, CLOCK], choice)
    assert ([s.name for s in plan.tools], plan.required) == (names, required)


def test_plan_tools_rejects_unknown_tool_name():
    with pytest.raises(ProviderError, match="names no available tool"):
        plan_tools([WEATHER], "launch")


def test_prompt_describes_tools_and_call_format():
    text = tools_prompt(ToolPlan([WEATHER], required=True))
    assert "- get_weather: Get the weather. Arguments schema: {" in text
    assert '{"tool": "<name>", "arguments": {...}}' in text
    assert text.endswith("You must call one of the tools now.")


def test_no_tools_and_no_schema_means_unconstrained():
    assert decoding_grammar(ToolPlan([], required=False), None) is None


def _rules(grammar: str) -> dict[str, str]:
    return dict(line.split(" ::= ", 1) for line in grammar.splitlines() if " ::= " in line)


def test_auto_grammar_offers_each_tool_or_text():
    grammar = decoding_grammar(ToolPlan([WEATHER, CLOCK], required=False), None)
    rules = _rules(grammar)
    assert rules["root"] == "nexus-call | nexus-text"
    assert '"\\"get_weather\\""' in grammar and '"\\"now\\""' in grammar
    assert rules["nexus-text"].startswith("[^{ \\t\\r\\n]")


def test_forced_tool_grammar_has_only_that_call():
    grammar = decoding_grammar(plan_tools([WEATHER, CLOCK], "get_weather"), None)
    rules = _rules(grammar)
    assert rules["root"] == "nexus-call"
    assert "nexus-text" not in grammar and '"\\"now\\""' not in grammar


def test_output_schema_alone_becomes_the_root():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    grammar = decoding_grammar(ToolPlan([], required=False), schema)
    assert _rules(grammar)["root"].startswith('"{"')


def test_output_schema_with_tools_offers_call_or_answer():
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    grammar = decoding_grammar(ToolPlan([WEATHER], required=False), schema)
    assert _rules(grammar)["root"] == "nexus-call | nexus-answer"


def test_parse_tool_call_returns_name_arguments_and_unique_ids():
    plan = ToolPlan([WEATHER], required=False)
    text = ' {"tool": "get_weather", "arguments": {"city": "Paris"}} '
    first, second = parse_tool_call(text, plan), parse_tool_call(text, plan)
    assert (first.name, json.loads(first.arguments)) == ("get_weather", {"city": "Paris"})
    assert first.call_id.startswith("call_") and first.call_id != second.call_id


def test_text_or_foreign_json_is_an_answer_unless_a_call_is_required():
    auto = ToolPlan([WEATHER], required=False)
    assert parse_tool_call("Paris is sunny.", auto) is None
    assert parse_tool_call('{"n": 1}', auto) is None
    with pytest.raises(ProviderError, match="not a call"):
        parse_tool_call('{"n": 1}', ToolPlan([WEATHER], required=True))
    with pytest.raises(ProviderError, match="unreadable"):
        parse_tool_call('{"tool": ', ToolPlan([WEATHER], required=True))
