"""``/api/v1/agents``: CRUD, clone, YAML import/export, and the catalogs used by the builder."""

from __future__ import annotations

from typing import Annotated, Literal

import yaml
from fastapi import APIRouter, Query, Request, Response, status
from pydantic import ValidationError

from nexus.agents.output_types import OUTPUT_TYPES, get_output_type
from nexus.agents.spec import AgentSpec
from nexus.api.audit import audit
from nexus.api.deps import (
    AccessDep,
    AgentDep,
    CreatorDep,
    EditableAgentDep,
    PagingDep,
    PrincipalDep,
    RunnerDep,
    ServicesDep,
)
from nexus.api.schemas.agents import (
    AgentClone,
    AgentCreate,
    AgentPublic,
    AgentUpdate,
    AvailableTool,
    OutputTypePublic,
)
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.core.errors import ConflictError, InvalidInputError
from nexus.security.access import can_edit_agent
from nexus.security.principal import Principal, Visibility
from nexus.store.agent_repository import StoredAgent

router = APIRouter(prefix="/api/v1/agents", tags=["agents"], responses=ERROR_RESPONSES)

MAX_IMPORT_BYTES = 1_000_000


def agent_public(agent: StoredAgent, principal: Principal) -> AgentPublic:
    return AgentPublic(
        **agent.spec.model_dump(),
        id=agent.id,
        owner_id=agent.owner_id,
        workspace_id=agent.workspace_id,
        visibility=Visibility(agent.visibility),
        editable=can_edit_agent(principal, agent),
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )


@router.get("/tools/available")
async def available_tools(services: ServicesDep, _p: PrincipalDep) -> list[AvailableTool]:
    return [
        AvailableTool(
            name=t.name, description=t.description, parameters=t.parameters, category=t.category
        )
        for t in services.tools.list()
    ]


@router.get("/output-types/available")
async def available_output_types(_p: PrincipalDep) -> list[OutputTypePublic]:
    return [
        OutputTypePublic(name=t.name, description=t.description, schema=t.schema)
        for t in OUTPUT_TYPES
    ]


@router.get("/output-types/{type_name}")
async def output_type(type_name: str, _p: PrincipalDep) -> OutputTypePublic:
    t = get_output_type(type_name)
    return OutputTypePublic(name=t.name, description=t.description, schema=t.schema)


async def _create(
    request: Request,
    services: ServicesDep,
    runner: RunnerDep,
    principal: Principal,
    spec: AgentSpec,
    visibility: Visibility,
) -> AgentPublic:
    await runner.validate(spec, principal.workspace_id)
    agent = await services.agents.create(
        spec,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
        visibility=visibility.value,
    )
    await audit(request, services, "agent_created", "agent", agent.id)
    return agent_public(agent, principal)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_agent(
    request: Request,
    body: AgentCreate,
    principal: CreatorDep,
    services: ServicesDep,
    runner: RunnerDep,
) -> AgentPublic:
    return await _create(request, services, runner, principal, body.spec(), body.visibility)


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/yaml": {"schema": {"type": "string"}}},
        }
    },
)
async def import_agent(
    request: Request, principal: CreatorDep, services: ServicesDep, runner: RunnerDep
) -> AgentPublic:
    """Create an agent from a YAML (or JSON) document sent as the request body."""
    raw = await request.body()
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInputError("the document is larger than 1 MB", field="body")
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"not a YAML or JSON document: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("the document must be a mapping of agent fields", field="body")
    try:
        spec = AgentSpec.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise InvalidInputError(f"{loc}: {first['msg']}", field=loc) from exc
    return await _create(request, services, runner, principal, spec, Visibility.WORKSPACE)


@router.get("")
async def list_agents(
    principal: PrincipalDep,
    services: ServicesDep,
    access: AccessDep,
    paging: PagingDep,
    scope: Annotated[Literal["all", "mine", "workspace", "community"], Query()] = "all",
) -> Page[AgentPublic]:
    """Agents the caller may see: ``mine``, this ``workspace``'s, ``community`` (public), or all."""
    items, total = await services.agents.list(
        where=access.agent_filter(principal, scope), offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[agent_public(a, principal) for a in items],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )


@router.get("/{agent_id}")
async def get_agent(agent: AgentDep, principal: PrincipalDep) -> AgentPublic:
    return agent_public(agent, principal)


@router.get("/{agent_id}/export", response_class=Response)
async def export_agent(agent: AgentDep) -> Response:
    return Response(agent.spec.to_yaml(), media_type="application/yaml")


@router.put("/{agent_id}")
async def update_agent(
    request: Request,
    agent: EditableAgentDep,
    body: AgentUpdate,
    principal: PrincipalDep,
    services: ServicesDep,
    runner: RunnerDep,
) -> AgentPublic:
    spec = body.spec()
    for index, ref in enumerate(spec.handoffs):
        if ref.agent == agent.id:
            raise InvalidInputError(
                "an agent cannot hand off to itself", field=f"handoffs[{index}].agent"
            )
    await runner.validate(spec, agent.workspace_id)
    visibility = body.visibility.value if body.visibility is not None else None
    updated = await services.agents.update(agent.id, spec, visibility=visibility)
    await audit(request, services, "agent_updated", "agent", agent.id)
    return agent_public(updated, principal)


@router.delete("/{agent_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_agent(
    request: Request, agent: EditableAgentDep, services: ServicesDep
) -> Response:
    users = await services.agents.referencing(agent)
    if users:
        raise ConflictError(
            f"agent {agent.spec.name!r} is a handoff target of {', '.join(sorted(users))}; "
            "remove those handoffs first"
        )
    await services.agents.delete(agent.id)
    await audit(request, services, "agent_deleted", "agent", agent.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{agent_id}/clone", status_code=status.HTTP_201_CREATED)
async def clone_agent(
    request: Request,
    agent: AgentDep,
    principal: CreatorDep,
    services: ServicesDep,
    body: AgentClone | None = None,
) -> AgentPublic:
    """Copy a visible agent (public ones included) into the caller's workspace, owned by them."""
    name = body.name if body is not None and body.name else None
    if name is None:
        base = f"{agent.spec.name} copy"[:90]
        name, n = base, 2
        while await services.agents.by_name(name, principal.workspace_id) is not None:
            name, n = f"{base} {n}", n + 1
    spec = agent.spec.model_copy(update={"name": name})
    clone = await services.agents.create(
        spec, owner_id=principal.user_id, workspace_id=principal.workspace_id, visibility="private"
    )
    await audit(request, services, "agent_cloned", "agent", clone.id, {"from": agent.id})
    return agent_public(clone, principal)
