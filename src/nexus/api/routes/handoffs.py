"""``/api/v1/agents/{id}/handoffs``: the agents this agent can hand off to or call as tools."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from nexus.agents.spec import HandoffRef
from nexus.api.agent_parts import index_of, save_part
from nexus.api.deps import AgentDep, EditableAgentDep, RunnerDep, ServicesDep
from nexus.api.schemas.agents import HandoffCreate, HandoffPublic
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.core.errors import InvalidInputError
from nexus.store.agent_repository import StoredAgent
from nexus.worker.agent_runs import AgentRunner

router = APIRouter(
    prefix="/api/v1/agents/{agent_id}/handoffs", tags=["handoffs"], responses=ERROR_RESPONSES
)


async def _check_target(agent: StoredAgent, body: HandoffCreate, runner: AgentRunner) -> None:
    target = await runner.find_ref(body.agent, agent.workspace_id)
    if target is None:
        raise InvalidInputError(f"agent {body.agent!r} not found", field="agent")
    if target.id == agent.id:
        raise InvalidInputError("an agent cannot hand off to itself", field="agent")


@router.get("")
async def list_handoffs(agent: AgentDep) -> list[HandoffPublic]:
    return agent.spec.handoffs


@router.post("", status_code=status.HTTP_201_CREATED)
async def add_handoff(
    agent: EditableAgentDep, body: HandoffCreate, services: ServicesDep, runner: RunnerDep
) -> HandoffPublic:
    await _check_target(agent, body, runner)
    ref = HandoffRef(**body.model_dump())
    await save_part(services, runner, agent, "handoffs", [*agent.spec.handoffs, ref])
    return ref


@router.get("/{handoff_id}")
async def get_handoff(agent: AgentDep, handoff_id: str) -> HandoffPublic:
    return agent.spec.handoffs[index_of(agent, "handoffs", handoff_id)]


@router.put("/{handoff_id}")
async def update_handoff(
    agent: EditableAgentDep,
    handoff_id: str,
    body: HandoffCreate,
    services: ServicesDep,
    runner: RunnerDep,
) -> HandoffPublic:
    index = index_of(agent, "handoffs", handoff_id)
    await _check_target(agent, body, runner)
    ref = HandoffRef(id=handoff_id, **body.model_dump())
    handoffs = list(agent.spec.handoffs)
    handoffs[index] = ref
    await save_part(services, runner, agent, "handoffs", handoffs)
    return ref


@router.delete("/{handoff_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_handoff(
    agent: EditableAgentDep, handoff_id: str, services: ServicesDep, runner: RunnerDep
) -> Response:
    index = index_of(agent, "handoffs", handoff_id)
    handoffs = [h for i, h in enumerate(agent.spec.handoffs) if i != index]
    await save_part(services, runner, agent, "handoffs", handoffs)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
