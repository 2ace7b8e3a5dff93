"""``/api/v1/agents/{id}/sessions``: the caller's chat sessions with an agent (a session is the
runs that share a ``session_id``; each user sees only their own)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from nexus.api.deps import AgentDep, PagingDep, PrincipalDep, ServicesDep
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.store.chat_sessions import ChatSessions

router = APIRouter(
    prefix="/api/v1/agents/{agent_id}/sessions", tags=["sessions"], responses=ERROR_RESPONSES
)


class ChatSessionPublic(BaseModel):
    id: str
    title: str
    """The start of the session's first message."""
    runs: int
    started_at: datetime
    last_at: datetime


@router.get("")
async def list_sessions(
    agent: AgentDep, principal: PrincipalDep, services: ServicesDep, paging: PagingDep
) -> Page[ChatSessionPublic]:
    """Your sessions with this agent, the most recently active first (continue one by running
    the agent with its ``session_id``; its runs are at ``GET /api/v1/runs?agent_id=``)."""
    items, total = await ChatSessions(services.db).list(
        agent.id, principal.user_id, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[ChatSessionPublic(**vars(s)) for s in items],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )
