"""``GET /api/v1/node-types``: the workflow node types, with their property JSON Schemas."""

from __future__ import annotations

from fastapi import APIRouter

from nexus.api.deps import PrincipalDep
from nexus.api.routes.workflows import WorkflowRunsDep
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.api.schemas.workflows import NodeTypePublic

router = APIRouter(prefix="/api/v1/node-types", tags=["workflows"], responses=ERROR_RESPONSES)


@router.get("")
async def list_node_types(_p: PrincipalDep, runs: WorkflowRunsDep) -> list[NodeTypePublic]:
    return [NodeTypePublic.model_validate(d) for d in runs.node_types.describe()]
