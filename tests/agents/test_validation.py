"""``validate_references``: the first reference to something unknown is named by its field."""

from __future__ import annotations

import pytest

from nexus.agents.spec import AgentSpec
from nexus.agents.validation import validate_references
from nexus.core.errors import InvalidInputError, UnknownModelError
from nexus.tools.registry import default_registry

STORED = {"helper", "agt_helper"}


async def exists(ref: str) -> bool:
    return ref in STORED


async def check(providers, **fields) -> None:
    providers.scripted("a")
    spec = AgentSpec.model_validate({"name": "a", "model": "test:a", **fields})
    await validate_references(
        spec, providers=providers, tools=default_registry(), agent_exists=exists
    )


async def test_a_valid_spec_passes(providers) -> None:
    providers.scripted("judge")
    await check(
        providers,
        tools=[{"name": "calculator"}, {"name": "current_datetime"}],
        handoffs=[{"agent": "helper"}, {"agent": "agt_helper", "mode": "tool"}],
        model_settings={"tool_choice": "calculator"},
        input_guardrails=[{"type": "llm", "criteria": "rude", "model": "test:judge"}],
    )


@pytest.mark.parametrize(
    ("fields", "error", "field"),
    [
        ({"model": "test:nope"}, UnknownModelError, "model"),
        ({"model": "nope:x"}, UnknownModelError, "model"),
        (
            {"tools": [{"name": "calculator"}, {"name": "teleport"}]},
            InvalidInputError,
            "tools[1].name",
        ),
        ({"tools": [{"name": "calculator"}, {"name": "calculator"}]}, InvalidInputError, "tools"),
        (
            {"handoffs": [{"agent": "helper"}, {"agent": "ghost"}]},
            InvalidInputError,
            "handoffs[1].agent",
        ),
        (
            {"model_settings": {"tool_choice": "calculator"}},
            InvalidInputError,
            "model_settings.tool_choice",
        ),
        (
            {"output_guardrails": [{"type": "llm", "criteria": "c", "model": "test:nope"}]},
            UnknownModelError,
            "output_guardrails[0].model",
        ),
    ],
)
async def test_unknown_references_name_the_field(providers, fields, error, field) -> None:
    with pytest.raises(error) as info:
        await check(providers, **fields)
    assert type(info.value) is error
    assert info.value.field == field
    assert info.value.message


@pytest.mark.parametrize("choice", ["auto", "required", "none"])
async def test_builtin_tool_choices_need_no_tool(providers, choice) -> None:
    await check(providers, model_settings={"tool_choice": choice})


async def test_a_handoff_to_itself_is_refused_with_its_field(providers) -> None:
    with pytest.raises(InvalidInputError, match="cannot hand off to itself") as caught:
        await check(providers, handoffs=[{"agent": "helper"}, {"agent": "a"}])
    assert caught.value.field == "handoffs[1].agent"
