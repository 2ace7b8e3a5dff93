"""``compile_bundle``: specs become SDK agents with tools, handoffs (cycles too), agents as tools,
output types and guardrails; a bundle survives its JSON snapshot."""

from __future__ import annotations

import pytest
from agents import Agent, FunctionTool, Handoff, RunContextWrapper

from nexus.agents.compiler import AgentBundle, compile_bundle
from nexus.agents.output_schema import JsonSchemaOutput
from nexus.agents.spec import AgentSpec
from nexus.core.errors import InvalidInputError
from nexus.tools.registry import default_registry

SCHEMA = {
    "type": "object",
    "properties": {"label": {"type": "string"}},
    "required": ["label"],
    "additionalProperties": False,
}


def spec(name: str, **fields) -> AgentSpec:
    return AgentSpec.model_validate({"name": name, "model": f"test:{name}", **fields})


@pytest.fixture
def compile(providers):
    def run(bundle: AgentBundle):
        for s in [bundle.root, *bundle.reachable.values()]:
            providers.scripted(s.model.split(":", 1)[1])
        return compile_bundle(bundle, models=providers.get_model, tools=default_registry())

    return run


def handoff_targets(agent: Agent) -> list[str]:
    return [h.agent_name if isinstance(h, Handoff) else h.name for h in agent.handoffs]


def test_a_single_agent(compile, providers) -> None:
    root = spec(
        "solo",
        instructions="Count.",
        tools=[{"name": "calculator"}],
        model_settings={"temperature": 0.3, "max_tokens": 50},
        output_schema=SCHEMA,
        input_guardrails=[{"type": "keyword", "name": "kw", "keywords": ["x"]}],
    )
    compiled = compile(AgentBundle(root))
    agent = compiled.root
    assert (agent.name, agent.instructions) == ("solo", "Count.")
    assert agent.model is providers.scripted("solo")
    assert [t.name for t in agent.tools] == ["calculator"]
    assert (agent.model_settings.temperature, agent.model_settings.max_tokens) == (0.3, 50)
    assert isinstance(agent.output_type, JsonSchemaOutput)
    assert agent.output_type.json_schema() == SCHEMA
    assert [g.get_name() for g in agent.input_guardrails] == ["kw"]
    assert agent.handoffs == []
    assert compiled.model_of == {"solo": "test:solo"}


async def target_of(handoff: Handoff) -> Agent:
    return await handoff.on_invoke_handoff(RunContextWrapper(None), "")


async def test_handoff_cycle(compile) -> None:
    a = spec("alpha", handoffs=[{"agent": "beta"}])
    b = spec("beta", description="Second opinion", handoffs=[{"agent": "alpha"}])
    compiled = compile(AgentBundle(a, {"beta": b}))
    alpha = compiled.root
    assert handoff_targets(alpha) == ["beta"]
    (to_beta,) = alpha.handoffs
    assert to_beta.tool_name == Handoff.default_tool_name(Agent(name="beta"))
    beta = await target_of(to_beta)
    assert (beta.name, beta.handoff_description, handoff_targets(beta)) == (
        "beta",
        "Second opinion",
        ["alpha"],
    )
    assert await target_of(beta.handoffs[0]) is alpha
    assert compiled.model_of == {"alpha": "test:alpha", "beta": "test:beta"}


def test_handoff_by_id_and_description(compile) -> None:
    a = spec("alpha", handoffs=[{"agent": "agt_123", "description": "Ask beta."}])
    compiled = compile(AgentBundle(a, {"agt_123": spec("beta")}))
    (to_beta,) = compiled.root.handoffs
    assert (to_beta.agent_name, to_beta.tool_description) == ("beta", "Ask beta.")


def test_agent_as_tool(compile) -> None:
    a = spec("manager", handoffs=[{"agent": "Expert Bot", "mode": "tool"}])
    compiled = compile(AgentBundle(a, {"Expert Bot": spec("Expert Bot", model="test:expert")}))
    tools = compiled.root.tools
    assert [(t.name, type(t)) for t in tools] == [("ask_expert_bot", FunctionTool)]
    assert tools[0].description == "Ask the Expert Bot agent."
    assert compiled.root.handoffs == []


def test_unknown_handoff_target_names_the_field(compile) -> None:
    with pytest.raises(InvalidInputError) as info:
        compile(
            AgentBundle(
                spec("alpha", handoffs=[{"agent": "beta"}, {"agent": "ghost"}]),
                {"beta": spec("beta")},
            )
        )
    assert info.value.field == "handoffs[1].agent"


def test_bundle_round_trips_through_its_snapshot() -> None:
    bundle = AgentBundle(
        spec("alpha", handoffs=[{"agent": "agt_b"}]), {"agt_b": spec("beta", output_schema=SCHEMA)}
    )
    assert AgentBundle.from_dict(bundle.to_dict()) == bundle
