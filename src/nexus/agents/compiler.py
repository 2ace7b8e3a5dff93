"""Compile stored ``AgentSpec``s into OpenAI Agents SDK ``Agent`` objects.

Handoffs and agents-as-tools refer to other specs by id or name; the caller passes every spec
the run may reach (``AgentBundle``), so a run never reads the database mid-flight and always
uses the versions that existed when it started. Cycles (A hands off to B, B back to A) are
fine: agents are created first, then wired.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agents import Agent, ModelSettings, handoff
from agents.extensions.handoff_filters import remove_all_tools

from nexus.agents.guardrails import (
    ModelResolver,
    build_input_guardrails,
    build_output_guardrails,
)
from nexus.agents.output_schema import JsonSchemaOutput
from nexus.agents.spec import AgentSpec
from nexus.core.errors import InvalidInputError
from nexus.tools.registry import ToolRegistry


@dataclass(frozen=True)
class AgentBundle:
    """The agent a run starts with, plus every agent reachable through its handoffs."""

    root: AgentSpec
    reachable: Mapping[str, AgentSpec] = field(default_factory=dict)  # by the ref used

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.root.model_dump(mode="json"),
            "agents": {ref: s.model_dump(mode="json") for ref, s in self.reachable.items()},
        }

    def providers(self) -> set[str]:
        """Every provider the bundle's agents and LLM guardrails call."""
        specs = [self.root, *self.reachable.values()]
        ids = {s.model for s in specs}
        for spec in specs:
            for guard in (*spec.input_guardrails, *spec.output_guardrails):
                model = getattr(guard, "model", None)
                if model is not None:
                    ids.add(model)
        return {model_id.partition(":")[0] for model_id in ids}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AgentBundle:
        return cls(
            root=AgentSpec.model_validate(data["agent"]),
            reachable={
                ref: AgentSpec.model_validate(s) for ref, s in data.get("agents", {}).items()
            },
        )


@dataclass(frozen=True)
class CompiledAgents:
    """The SDK agents of a bundle. Shared by every run of the same bundle and keys
    (``CompiledAgentCache``): nothing here may be changed once compiled."""

    root: Agent[Any]
    model_of: dict[str, str]  # SDK agent name → "provider:model", for usage accounting


def _model_settings(spec: AgentSpec) -> ModelSettings:
    s = spec.model_settings
    return ModelSettings(
        temperature=s.temperature,
        top_p=s.top_p,
        max_tokens=s.max_tokens,
        tool_choice=s.tool_choice,
    )


def compile_bundle(
    bundle: AgentBundle,
    *,
    models: ModelResolver,
    tools: ToolRegistry,
) -> CompiledAgents:
    """``models`` turns a ``provider:model`` id into an SDK model (with the caller's keys)."""
    specs: dict[str, AgentSpec] = {bundle.root.name: bundle.root}
    for spec in bundle.reachable.values():
        specs[spec.name] = spec
    by_ref = {**{name: name for name in specs}, **{r: s.name for r, s in bundle.reachable.items()}}

    built: dict[str, Agent[Any]] = {}
    for name, spec in specs.items():
        built[name] = Agent(
            name=name,
            handoff_description=spec.description or None,
            instructions=spec.instructions,
            model=models(spec.model),
            model_settings=_model_settings(spec),
            tools=[tools.to_sdk_tool(ref.name) for ref in spec.tools],
            input_guardrails=build_input_guardrails(
                spec.input_guardrails, default_model=spec.model, resolve_model=models
            ),
            output_guardrails=build_output_guardrails(
                spec.output_guardrails, default_model=spec.model, resolve_model=models
            ),
            output_type=JsonSchemaOutput(spec.output_schema) if spec.output_schema else None,
        )

    for name, spec in specs.items():
        agent = built[name]
        for index, ref in enumerate(spec.handoffs):
            target_name = by_ref.get(ref.agent)
            if target_name is None:
                raise InvalidInputError(
                    f"agent {name!r} hands off to unknown agent {ref.agent!r}",
                    field=f"handoffs[{index}].agent",
                )
            target = built[target_name]
            if ref.mode == "tool":
                agent.tools.append(
                    target.as_tool(
                        tool_name=_tool_name(target_name),
                        tool_description=ref.description or _describe(specs[target_name]),
                    )
                )
            else:
                agent.handoffs.append(
                    handoff(
                        target,
                        tool_name_override=f"transfer_to_{_snake(target_name)}",
                        tool_description_override=ref.description,
                        # The target sees the conversation, not the transfer call itself.
                        input_filter=remove_all_tools,
                    )
                )
    return CompiledAgents(
        root=built[bundle.root.name], model_of={n: s.model for n, s in specs.items()}
    )


def _describe(spec: AgentSpec) -> str:
    return spec.description or f"Ask the {spec.name} agent."


def _snake(agent_name: str) -> str:
    """Function names allow letters, digits and underscores only."""
    return "".join(c if c.isalnum() else "_" for c in agent_name.lower()).strip("_")[:48]


def _tool_name(agent_name: str) -> str:
    return f"ask_{_snake(agent_name)}"
