"""``/api/v1/executions``: workflow runs (the same resources as ``/api/v1/runs``): the run history
of a workflow, each run with its node records for the inspector, and the actions on a run: stop,
retry from the failed node, re-run from a node, approve.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query, status

from nexus.api.deps import AccessDep, PagingDep, PrincipalDep, RunDep, ServicesDep
from nexus.api.routes.runs import run_public
from nexus.api.routes.workflows import WorkflowRunsDep
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.api.schemas.executions import ExecutionDetail, ExecutionSummary, NodeInspection
from nexus.api.schemas.workflows import ApprovalRequest, RerunRequest
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeRecord
from nexus.engine.spec import WorkflowSpec
from nexus.store.run_repository import StoredRun
from nexus.store.tables import RunRow
from nexus.worker.workflow_runs import WorkflowRuns
from nexus.worker.workflow_snapshots import WORKFLOW

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], responses=ERROR_RESPONSES)


def delivered_inputs(
    spec: WorkflowSpec, node_id: str, records: dict[str, NodeRecord]
) -> dict[str, Any]:
    """What ``node_id``'s incoming edges carried: the upstream outputs on the connected ports."""
    inputs: dict[str, Any] = {}
    for edge in spec.edges:
        if edge.target.node != node_id:
            continue
        source = records.get(edge.source.node)
        if source is not None and source.outputs is not None and edge.source.port in source.outputs:
            inputs[edge.target.port] = source.outputs[edge.source.port]
    return inputs


def node_inspection(
    node_id: str, record: NodeRecord, spec: WorkflowSpec | None, records: dict[str, NodeRecord]
) -> NodeInspection:
    node = next((n for n in spec.nodes if n.id == node_id), None) if spec is not None else None
    return NodeInspection(
        status=record.status.value,
        attempt=record.attempt,
        outputs=record.outputs,
        error=record.error,
        waiting=record.waiting,
        duration_ms=record.duration_ms,
        usage=record.usage,
        type=node.type if node is not None else None,
        name=(node.name or None) if node is not None else None,
        inputs=delivered_inputs(spec, node_id, records) if spec is not None else {},
    )


async def execution_public(run: StoredRun, runs: WorkflowRuns) -> ExecutionDetail:
    nodes: dict[str, NodeInspection] = {}
    if run.kind == WORKFLOW:
        records = await runs.checkpointer.load_nodes(run.id)
        raw = run.spec_snapshot.get("spec")
        spec = WorkflowSpec.model_validate(raw) if raw is not None else None
        nodes = {
            nid: node_inspection(nid, record, spec, records)
            for nid, record in sorted(records.items())
        }
    return ExecutionDetail(
        **run_public(run).model_dump(),
        workflow_id=run.spec_snapshot.get("workflow_id"),
        version=run.spec_snapshot.get("version"),
        nodes=nodes,
    )


def execution_summary(run: StoredRun) -> ExecutionSummary:
    return ExecutionSummary(
        id=run.id,
        workflow_id=run.workflow_id,
        version=run.spec_snapshot.get("version"),
        status=run.status.value,
        created_at=run.created_at,
        started_at=run.started_at,
        finished_at=run.finished_at,
        error=run.error,
    )


@router.get("")
async def list_executions(
    principal: PrincipalDep,
    services: ServicesDep,
    access: AccessDep,
    paging: PagingDep,
    workflow_id: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    status: RunStatus | None = None,
) -> Page[ExecutionSummary]:
    """Workflow runs the caller may see, newest first: their own, and every run of a workspace
    they administer. ``workflow_id`` (an id or a name, 404 when not visible) narrows to one
    workflow's history, which holds neither test runs of single nodes nor runs of a file."""
    where = sa.and_(access.run_filter(principal), RunRow.kind == WORKFLOW)
    ref = None
    if workflow_id is not None:
        ref = (await access.lookup_workflow(principal, workflow_id, "read")).id
    items, total = await services.runs.list(
        where=where, workflow_id=ref, status=status, offset=paging.offset, limit=paging.limit
    )
    return Page(
        items=[execution_summary(r) for r in items],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )


@router.get("/{run_id}")
async def get_execution(run: RunDep, runs: WorkflowRunsDep) -> ExecutionDetail:
    """The run with each node's latest record: status, attempt, inputs, outputs by port,
    error, waiting request, duration and token usage (the run's total is its ``usage``)."""
    return await execution_public(run, runs)


@router.post("/{run_id}/stop")
async def stop_execution(run: RunDep, runs: WorkflowRunsDep) -> ExecutionDetail:
    """Cancel a queued, running or waiting workflow run (409 once it has finished)."""
    return await execution_public(await runs.cancel(run), runs)


@router.post("/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_execution(run: RunDep, runs: WorkflowRunsDep) -> ExecutionDetail:
    """Continue a failed run from its failed node(s); completed nodes are not run again."""
    return await execution_public(await runs.retry(run), runs)


@router.post("/{run_id}/rerun", status_code=status.HTTP_202_ACCEPTED)
async def rerun_execution(
    run: RunDep,
    body: RerunRequest,
    runs: WorkflowRunsDep,
) -> ExecutionDetail:
    """A new run of the same spec that reuses this run's results upstream of ``from_node``."""
    created = await runs.rerun(
        run, body.from_node, inputs=body.inputs, node_inputs=body.node_inputs
    )
    return await execution_public(created, runs)


@router.post("/{run_id}/approvals/{node_id}", status_code=status.HTTP_202_ACCEPTED)
async def decide_approval(
    run: RunDep,
    node_id: str,
    body: ApprovalRequest,
    runs: WorkflowRunsDep,
    principal: PrincipalDep,
) -> ExecutionDetail:
    """Approve or reject the waiting ``approval`` node ``node_id``; the run resumes."""
    await runs.approve(
        run, node_id, approved=body.approved, comment=body.comment, by=principal.user_id
    )
    return await execution_public(run, runs)
