"""Checks of an ``AgentSpec`` against the world: its model, tools and handoff targets exist."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from nexus.agents.spec import AgentSpec
from nexus.core.errors import InvalidInputError, NotFoundError, UnknownModelError
from nexus.providers.registry import ProviderRegistry
from nexus.tools.registry import ToolRegistry

BUILTIN_TOOL_CHOICES = {"auto", "required", "none"}


async def validate_references(
    spec: AgentSpec,
    *,
    providers: ProviderRegistry,
    tools: ToolRegistry,
    agent_exists: Callable[[str], Awaitable[bool]],
) -> None:
    """Raise ``InvalidInputError`` naming the first field that refers to something unknown."""
    try:
        providers.check_model(spec.model)
    except UnknownModelError as exc:
        raise UnknownModelError(exc.message, field="model") from exc
    tool_names = []
    for index, ref in enumerate(spec.tools):
        try:
            tools.get(ref.name)
        except NotFoundError as exc:
            raise InvalidInputError(exc.message, field=f"tools[{index}].name") from exc
        tool_names.append(ref.name)
    if len(set(tool_names)) != len(tool_names):
        raise InvalidInputError("a tool is attached twice", field="tools")
    for index, ref in enumerate(spec.handoffs):
        if ref.agent == spec.name:
            raise InvalidInputError(
                "an agent cannot hand off to itself", field=f"handoffs[{index}].agent"
            )
        if not await agent_exists(ref.agent):
            raise InvalidInputError(
                f"handoff target {ref.agent!r} is not a stored agent (give an id or a name)",
                field=f"handoffs[{index}].agent",
            )
    choice = spec.model_settings.tool_choice
    if choice is not None and choice not in BUILTIN_TOOL_CHOICES and choice not in tool_names:
        raise InvalidInputError(
            f"tool_choice {choice!r} is neither auto/required/none nor an attached tool",
            field="model_settings.tool_choice",
        )
    for stage, guards in (("input", spec.input_guardrails), ("output", spec.output_guardrails)):
        for index, guard in enumerate(guards):
            model = getattr(guard, "model", None)
            if model is not None:
                try:
                    providers.check_model(model)
                except UnknownModelError as exc:
                    raise UnknownModelError(
                        exc.message, field=f"{stage}_guardrails[{index}].model"
                    ) from exc
