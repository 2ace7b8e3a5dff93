"""``/api/v1/runs`` and ``POST /api/v1/agents/{id}/run``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from nexus.api.deps import (
    AccessDep,
    AgentDep,
    PagingDep,
    PrincipalDep,
    RunDep,
    RunnerDep,
    ServicesDep,
    client_ip,
)
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.api.schemas.runs import RunEventPublic, RunPublic, RunRequest, RunResult, SpanPublic
from nexus.api.sse import parse_cursor, run_event_stream
from nexus.core.status import RunStatus
from nexus.store.run_repository import StoredRun

router = APIRouter(tags=["runs"], responses=ERROR_RESPONSES)

SSE_RESPONSE = {200: {"content": {"text/event-stream": {}}, "description": "Run events (SSE)"}}


def run_public(run: StoredRun) -> RunPublic:
    return RunPublic(
        id=run.id,
        kind=run.kind,
        agent_id=run.agent_id,
        session_id=run.session_id,
        status=run.status.value,
        input=run.input,
        output=run.output,
        error=run.error,
        usage=run.usage,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
    )


@router.post(
    "/api/v1/agents/{agent_id}/run",
    response_model=RunResult,
    responses={
        **SSE_RESPONSE,
        400: {"description": "Provider not configured"},
    },
)
async def run_agent(  # type: ignore[no-untyped-def]
    request: Request,
    agent: AgentDep,
    body: RunRequest,
    principal: PrincipalDep,
    runner: RunnerDep,
    services: ServicesDep,
):
    """Run an agent. ``stream: true`` answers with the run's events as SSE."""
    limits = request.app.state.rate_limits
    limits.check_run(principal, client_ip(request))
    run = await runner.start(
        agent.spec,
        body.input,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
        agent_id=agent.id,
        agent_workspace_id=agent.workspace_id,
        session_id=body.session_id,
    )
    if body.stream:
        return run_event_stream(services.events, run.id, 0)
    done = await runner.wait(run.id)
    result = RunResult(
        run_id=done.id,
        status=done.status.value,
        output=done.output,
        error=done.error,
        usage=done.usage,
    )
    return JSONResponse(result.model_dump(mode="json"))


@router.get("/api/v1/runs")
async def list_runs(
    principal: PrincipalDep,
    services: ServicesDep,
    access: AccessDep,
    paging: PagingDep,
    agent_id: Annotated[str | None, Query(max_length=100)] = None,
    status: RunStatus | None = None,
) -> Page[RunPublic]:
    items, total = await services.runs.list(
        where=access.run_filter(principal),
        agent_id=agent_id,
        status=status,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[run_public(r) for r in items], total=total, page=paging.page, limit=paging.limit
    )


@router.get("/api/v1/runs/{run_id}")
async def get_run(run: RunDep) -> RunPublic:
    return run_public(run)


@router.get("/api/v1/runs/{run_id}/events", responses=SSE_RESPONSE)
async def run_events(
    run: RunDep,
    services: ServicesDep,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
):  # type: ignore[no-untyped-def]
    """The run's events as SSE: everything after ``Last-Event-ID`` (or ``?after=``), then live."""
    cursor = after if after is not None else parse_cursor(last_event_id)
    return run_event_stream(services.events, run.id, cursor)


@router.get("/api/v1/runs/{run_id}/events/list")
async def list_run_events(
    run: RunDep, services: ServicesDep, after: Annotated[int, Query(ge=0)] = 0
) -> list[RunEventPublic]:
    """The stored events after ``after``, as JSON (no streaming)."""
    return [
        RunEventPublic(seq=e.seq, type=e.type, data=e.data, created_at=e.created_at)
        for e in await services.events.read(run.id, after)
    ]


@router.get("/api/v1/runs/{run_id}/spans")
async def run_spans(run: RunDep, services: ServicesDep) -> list[SpanPublic]:
    return [SpanPublic.model_validate(s) for s in await services.runs.spans(run.id)]


@router.post("/api/v1/runs/{run_id}/cancel")
async def cancel_run(run: RunDep, runner: RunnerDep) -> RunPublic:
    return run_public(await runner.cancel(run.id))
