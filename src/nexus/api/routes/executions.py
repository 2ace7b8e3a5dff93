"""``/api/v1/executions``: workflow runs (the same resources as ``/api/v1/runs``) with their node
records, and the actions on them: stop, retry from the failed node, re-run from a node, approve.
"""

from __future__ import annotations

from fastapi import APIRouter, status

from nexus.api.deps import AccessDep, PrincipalDep, RunDep
from nexus.api.routes.runs import run_public
from nexus.api.routes.workflows import WorkflowRunsDep
from nexus.api.schemas.common import ERROR_RESPONSES
from nexus.api.schemas.workflows import (
    ApprovalRequest,
    ExecutionPublic,
    NodeRecordPublic,
    RerunRequest,
)
from nexus.store.run_repository import StoredRun
from nexus.worker.workflow_runs import WorkflowRuns

router = APIRouter(prefix="/api/v1/executions", tags=["executions"], responses=ERROR_RESPONSES)


async def execution_public(run: StoredRun, runs: WorkflowRuns) -> ExecutionPublic:
    nodes = {}
    if run.kind == "workflow":
        records = await runs.checkpointer.load_nodes(run.id)
        nodes = {
            nid: NodeRecordPublic(
                status=r.status.value,
                attempt=r.attempt,
                outputs=r.outputs,
                error=r.error,
                waiting=r.waiting,
                duration_ms=r.duration_ms,
            )
            for nid, r in sorted(records.items())
        }
    return ExecutionPublic(
        **run_public(run).model_dump(),
        workflow_id=run.spec_snapshot.get("workflow_id"),
        version=run.spec_snapshot.get("version"),
        nodes=nodes,
    )


@router.get("/{run_id}")
async def get_execution(run: RunDep, runs: WorkflowRunsDep) -> ExecutionPublic:
    return await execution_public(run, runs)


@router.post("/{run_id}/stop")
async def stop_execution(run: RunDep, runs: WorkflowRunsDep) -> ExecutionPublic:
    """Cancel a queued, running or waiting workflow run (409 once it has finished)."""
    return await execution_public(await runs.cancel(run), runs)


@router.post("/{run_id}/retry", status_code=status.HTTP_202_ACCEPTED)
async def retry_execution(
    run: RunDep, runs: WorkflowRunsDep, principal: PrincipalDep, access: AccessDep
) -> ExecutionPublic:
    """Continue a failed run from its failed node(s); completed nodes are not run again."""
    access.require_create(principal)
    return await execution_public(await runs.retry(run), runs)


@router.post("/{run_id}/rerun", status_code=status.HTTP_202_ACCEPTED)
async def rerun_execution(
    run: RunDep,
    body: RerunRequest,
    runs: WorkflowRunsDep,
    principal: PrincipalDep,
    access: AccessDep,
) -> ExecutionPublic:
    """A new run of the same spec that reuses this run's results upstream of ``from_node``."""
    access.require_create(principal)
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
    access: AccessDep,
) -> ExecutionPublic:
    """Approve or reject the waiting ``approval`` node ``node_id``; the run resumes."""
    access.require_create(principal)
    await runs.approve(
        run, node_id, approved=body.approved, comment=body.comment, by=principal.user_id
    )
    return await execution_public(run, runs)
