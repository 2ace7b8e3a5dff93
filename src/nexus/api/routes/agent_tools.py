"""``/api/v1/agents/{id}/tools``: the registry tools attached to an agent."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from nexus.agents.spec import ToolRef
from nexus.api.agent_parts import index_of, save_part
from nexus.api.deps import AgentDep, EditableAgentDep, RunnerDep, ServicesDep
from nexus.api.schemas.agents import ToolAttach, ToolRefPublic
from nexus.api.schemas.common import ERROR_RESPONSES

router = APIRouter(
    prefix="/api/v1/agents/{agent_id}/tools", tags=["agent tools"], responses=ERROR_RESPONSES
)


@router.get("")
async def list_agent_tools(agent: AgentDep) -> list[ToolRefPublic]:
    return agent.spec.tools


@router.post("", status_code=status.HTTP_201_CREATED)
async def attach_tool(
    agent: EditableAgentDep, body: ToolAttach, services: ServicesDep, runner: RunnerDep
) -> ToolRefPublic:
    ref = ToolRef(name=body.name, config=body.config)
    await save_part(services, runner, agent, "tools", [*agent.spec.tools, ref])
    return ref


@router.get("/{tool_id}")
async def get_agent_tool(agent: AgentDep, tool_id: str) -> ToolRefPublic:
    return agent.spec.tools[index_of(agent, "tools", tool_id)]


@router.put("/{tool_id}")
async def update_agent_tool(
    agent: EditableAgentDep,
    tool_id: str,
    body: ToolAttach,
    services: ServicesDep,
    runner: RunnerDep,
) -> ToolRefPublic:
    index = index_of(agent, "tools", tool_id)
    ref = ToolRef(id=tool_id, name=body.name, config=body.config)
    tools = list(agent.spec.tools)
    tools[index] = ref
    await save_part(services, runner, agent, "tools", tools)
    return ref


@router.delete("/{tool_id}", status_code=status.HTTP_204_NO_CONTENT)
async def detach_tool(
    agent: EditableAgentDep, tool_id: str, services: ServicesDep, runner: RunnerDep
) -> Response:
    index = index_of(agent, "tools", tool_id)
    tools = [t for i, t in enumerate(agent.spec.tools) if i != index]
    await save_part(services, runner, agent, "tools", tools)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
