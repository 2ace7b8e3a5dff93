"""Edit one list of an agent's spec (its handoffs or its tools) as a sub-resource."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel

from nexus.agents.spec import AgentSpec
from nexus.core.errors import NotFoundError
from nexus.store.agent_repository import StoredAgent
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.services import RunServices

Part = Literal["handoffs", "tools"]


def index_of(agent: StoredAgent, part: Part, item_id: str) -> int:
    for index, item in enumerate(getattr(agent.spec, part)):
        if item.id == item_id:
            return index
    noun = "handoff" if part == "handoffs" else "tool"
    raise NotFoundError(f"{noun} {item_id!r} not found on agent {agent.spec.name!r}")


async def save_part(
    services: RunServices,
    runner: AgentRunner,
    agent: StoredAgent,
    part: Part,
    items: Sequence[BaseModel],
) -> None:
    """Validate the agent with the new list and store it (all or nothing)."""
    spec = AgentSpec.model_validate({**agent.spec.model_dump(), part: list(items)})
    await runner.validate(spec, agent.workspace_id)
    await services.agents.update(agent.id, spec)
