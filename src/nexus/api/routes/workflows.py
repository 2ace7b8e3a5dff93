"""``/api/v1/workflows``: CRUD, versions, YAML/JSON import and export, and execute."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import yaml
from fastapi import Depends, Path, Query, Request, Response, status
from fastapi.responses import JSONResponse
from fastapi.routing import APIRouter
from pydantic import ValidationError

from nexus.api.audit import audit
from nexus.api.deps import (
    AccessDep,
    CreatorDep,
    PagingDep,
    PrincipalDep,
    ServicesDep,
    client_ip,
)
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.api.schemas.workflows import (
    ExecuteRequest,
    ExecutionResult,
    SpecDiff,
    ValidationProblem,
    ValidationReport,
    VersionCreate,
    VersionPublic,
    WorkflowCreate,
    WorkflowPublic,
    WorkflowSummaryPublic,
    WorkflowUpdate,
)
from nexus.core.errors import InvalidInputError
from nexus.core.status import RunStatus
from nexus.engine.spec import WorkflowSpec
from nexus.security.access import can_edit_workflow
from nexus.security.principal import Principal, Visibility
from nexus.store.run_repository import StoredRun
from nexus.store.workflow_repository import StoredWorkflow, StoredWorkflowVersion
from nexus.worker.workflow_runs import WorkflowRuns

router = APIRouter(prefix="/api/v1/workflows", tags=["workflows"], responses=ERROR_RESPONSES)

MAX_IMPORT_BYTES = 1_000_000
IMPORT_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/json")


def get_workflow_runs(request: Request) -> WorkflowRuns:
    return request.app.state.workflow_runs


WorkflowRunsDep = Annotated[WorkflowRuns, Depends(get_workflow_runs)]


async def readable_workflow(
    workflow_id: str, principal: PrincipalDep, access: AccessDep
) -> StoredWorkflow:
    return await access.lookup_workflow(principal, workflow_id, "read")


async def editable_workflow(
    workflow_id: str, principal: PrincipalDep, access: AccessDep
) -> StoredWorkflow:
    return await access.lookup_workflow(principal, workflow_id, "edit")


async def runnable_workflow(
    workflow_id: str, principal: PrincipalDep, access: AccessDep
) -> StoredWorkflow:
    return await access.lookup_workflow(principal, workflow_id, "run")


WorkflowDep = Annotated[StoredWorkflow, Depends(readable_workflow)]
EditableWorkflowDep = Annotated[StoredWorkflow, Depends(editable_workflow)]
RunnableWorkflowDep = Annotated[StoredWorkflow, Depends(runnable_workflow)]


def problems_of(runs: WorkflowRuns, spec: WorkflowSpec) -> list[ValidationProblem]:
    """What keeps ``spec`` from running, as ``execute`` checks it (empty: it can run)."""
    try:
        runs.compile(spec)
    except InvalidInputError as exc:
        details = exc.details if isinstance(exc.details, list) and exc.details else None
        found = details or [{"node": None, "field": exc.field, "message": str(exc)}]
        return [
            ValidationProblem(
                node=p.get("node"), field=p.get("field"), message=str(p.get("message", ""))
            )
            for p in found
        ]
    return []


def workflow_public(
    workflow: StoredWorkflow,
    principal: Principal,
    problems: list[ValidationProblem] | None = None,
) -> WorkflowPublic:
    return WorkflowPublic(
        problems=problems or [],
        **workflow.spec.model_dump(),
        id=workflow.id,
        owner_id=workflow.owner_id,
        workspace_id=workflow.workspace_id,
        visibility=Visibility(workflow.visibility),
        published_version=workflow.published_version,
        editable=can_edit_workflow(principal, workflow),
        created_at=workflow.created_at,
        updated_at=workflow.updated_at,
    )


def version_public(version: StoredWorkflowVersion) -> VersionPublic:
    return VersionPublic(
        version=version.version,
        label=version.label,
        created_by=version.created_by,
        created_at=version.created_at,
        spec=version.spec,
    )


def execution_result(run: StoredRun, waiting: dict[str, Any] | None = None) -> ExecutionResult:
    return ExecutionResult(
        execution_id=run.id,
        status=run.status.value,
        outputs=run.output if run.status is RunStatus.SUCCEEDED else None,
        error=run.error,
        waiting=waiting or {},
    )


async def _create(
    request: Request,
    services: ServicesDep,
    runs: WorkflowRuns,
    principal: Principal,
    spec: WorkflowSpec,
    visibility: Visibility,
) -> WorkflowPublic:
    runs.compile(spec)  # a graph that cannot run is refused before anything is written
    workflow = await services.workflows.create(
        spec,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
        visibility=visibility.value,
    )
    await audit(request, services, "workflow_created", "workflow", workflow.id)
    return workflow_public(workflow, principal)


@router.post("", status_code=status.HTTP_201_CREATED)
async def create_workflow(
    request: Request,
    body: WorkflowCreate,
    principal: CreatorDep,
    services: ServicesDep,
    runs: WorkflowRunsDep,
) -> WorkflowPublic:
    return await _create(request, services, runs, principal, body.spec(), body.visibility)


def _parse_document(raw: bytes, content_type: str) -> WorkflowSpec:
    if len(raw) > MAX_IMPORT_BYTES:
        raise InvalidInputError("the document is larger than 1 MB", field="body")
    try:
        text = raw.decode("utf-8")
        data = json.loads(text) if "json" in content_type else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidInputError(f"not a YAML or JSON document: {exc}", field="body") from exc
    if not isinstance(data, dict):
        raise InvalidInputError("the document must be a mapping of workflow fields", field="body")
    try:
        return WorkflowSpec.model_validate(data)
    except ValidationError as exc:
        details = [
            {
                "node": None,
                "field": ".".join(str(p) for p in e["loc"]),
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        first = details[0]
        raise InvalidInputError(
            f"{first['field']}: {first['message']}", field=str(first["field"]), details=details
        ) from exc


@router.post(
    "/import",
    status_code=status.HTTP_201_CREATED,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def import_workflow(
    request: Request, principal: CreatorDep, services: ServicesDep, runs: WorkflowRunsDep
) -> WorkflowPublic:
    """Create a workflow from the YAML or JSON document sent as the request body."""
    content_type = request.headers.get("content-type", "application/yaml").split(";")[0].strip()
    if content_type not in IMPORT_TYPES:
        raise InvalidInputError(
            "send the document as application/yaml or application/json", field="content-type"
        )
    spec = _parse_document(await request.body(), content_type)
    return await _create(request, services, runs, principal, spec, Visibility.WORKSPACE)


@router.post("/validate")
async def validate_workflow(
    body: WorkflowCreate, _caller: PrincipalDep, runs: WorkflowRunsDep
) -> ValidationReport:
    """Check a graph as ``execute`` would (types, edges, cycles, required properties, reachable
    outputs) without saving it: every problem names its node and field. A body that is not a
    workflow at all is a 422 like everywhere else."""
    problems = problems_of(runs, body.spec())
    return ValidationReport(valid=not problems, errors=problems)


@router.get("")
async def list_workflows(
    principal: PrincipalDep,
    services: ServicesDep,
    access: AccessDep,
    paging: PagingDep,
    search: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[WorkflowSummaryPublic]:
    """The workflows the caller may see, by name, as summaries (node count, no graph)."""
    items, total = await services.workflows.list_summaries(
        where=access.workflow_filter(principal),
        search=search,
        offset=paging.offset,
        limit=paging.limit,
    )
    return Page(
        items=[
            WorkflowSummaryPublic(
                **{k: v for k, v in vars(w).items() if k != "visibility"},
                visibility=Visibility(w.visibility),
                editable=can_edit_workflow(principal, w),
            )
            for w in items
        ],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )


@router.get("/{workflow_id}")
async def get_workflow(
    workflow: WorkflowDep, principal: PrincipalDep, runs: WorkflowRunsDep
) -> WorkflowPublic:
    """The draft, with what keeps it from running (``problems``)."""
    return workflow_public(workflow, principal, problems_of(runs, workflow.spec))


@router.put("/{workflow_id}")
async def update_workflow(
    request: Request,
    workflow: EditableWorkflowDep,
    body: WorkflowUpdate,
    principal: PrincipalDep,
    services: ServicesDep,
    runs: WorkflowRunsDep,
) -> WorkflowPublic:
    """Replace the draft; published versions and running runs are not affected.

    An unfinished graph is saved too (work is never lost to a half-drawn edge): the answer's
    ``problems`` say what keeps it from running, and ``execute`` and publishing refuse it
    until they are fixed. A body that is not a workflow at all is a 422 and saves nothing."""
    spec = body.spec()
    problems = problems_of(runs, spec)
    visibility = body.visibility.value if body.visibility is not None else None
    updated = await services.workflows.update(workflow.id, spec, visibility=visibility)
    await audit(request, services, "workflow_updated", "workflow", workflow.id)
    return workflow_public(updated, principal, problems)


@router.delete("/{workflow_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_workflow(
    request: Request, workflow: EditableWorkflowDep, services: ServicesDep
) -> Response:
    """Delete the workflow and its versions; its runs keep their own spec snapshots."""
    await services.workflows.delete(workflow.id)
    await audit(request, services, "workflow_deleted", "workflow", workflow.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{workflow_id}/export", response_class=Response)
async def export_workflow(
    workflow: WorkflowDep, format: Annotated[Literal["yaml", "json"], Query()] = "yaml"
) -> Response:
    """The draft as YAML (default) or JSON; ``POST /import`` reads either back."""
    if format == "json":
        return Response(
            json.dumps(workflow.spec.to_json(), indent=2), media_type="application/json"
        )
    return Response(workflow.spec.to_yaml(), media_type="application/yaml")


@router.get("/{workflow_id}/versions")
async def list_versions(workflow: WorkflowDep, services: ServicesDep) -> list[VersionPublic]:
    return [version_public(v) for v in await services.workflows.versions(workflow.id)]


@router.post("/{workflow_id}/versions", status_code=status.HTTP_201_CREATED)
async def publish_version(
    request: Request,
    workflow: EditableWorkflowDep,
    principal: PrincipalDep,
    services: ServicesDep,
    runs: WorkflowRunsDep,
    body: VersionCreate | None = None,
) -> VersionPublic:
    """Publish the current draft as the next version; ``execute`` runs it from now on."""
    runs.compile(workflow.spec)
    label = body.label if body is not None else None
    version = await services.workflows.publish(
        workflow.id, label=label, created_by=principal.user_id
    )
    await audit(
        request,
        services,
        "workflow_published",
        "workflow",
        workflow.id,
        {"version": version.version},
    )
    return version_public(version)


@router.get("/{workflow_id}/versions/{version}")
async def get_version(
    workflow: WorkflowDep, version: Annotated[int, Path(ge=1)], services: ServicesDep
) -> VersionPublic:
    return version_public(await services.workflows.version(workflow.id, version))


@router.get("/{workflow_id}/versions/{version}/diff")
async def diff_version(
    workflow: WorkflowDep,
    version: Annotated[int, Path(ge=1)],
    services: ServicesDep,
    against: Annotated[
        int | None, Query(ge=1, description="another version; default: draft")
    ] = None,
) -> SpecDiff:
    """What changed from ``version`` to ``against`` (default: the current draft)."""
    old = (await services.workflows.version(workflow.id, version)).spec
    if against is not None:
        new = (await services.workflows.version(workflow.id, against)).spec
    else:
        new = workflow.spec
    return spec_diff(old, new)


@router.post("/{workflow_id}/versions/{version}/restore")
async def restore_version(
    request: Request,
    workflow: EditableWorkflowDep,
    version: Annotated[int, Path(ge=1)],
    principal: PrincipalDep,
    services: ServicesDep,
    runs: WorkflowRunsDep,
) -> WorkflowPublic:
    """Make ``version``'s spec the draft again (publish it to run it by default)."""
    stored = await services.workflows.version(workflow.id, version)
    updated = await services.workflows.update(
        workflow.id, stored.spec.model_copy(update={"version": None})
    )
    await audit(
        request, services, "workflow_restored", "workflow", workflow.id, {"version": version}
    )
    return workflow_public(updated, principal, problems_of(runs, updated.spec))


def spec_diff(old: WorkflowSpec, new: WorkflowSpec) -> SpecDiff:
    """Nodes and edges added, removed or changed (by id), and changed top-level fields."""
    old_nodes = {n.id: n for n in old.nodes}
    new_nodes = {n.id: n for n in new.nodes}
    old_edges = {e.id: e for e in old.edges}
    new_edges = {e.id: e for e in new.edges}
    fields = ("name", "description", "inputs", "limits")
    return SpecDiff(
        fields_changed=[f for f in fields if getattr(old, f) != getattr(new, f)],
        nodes_added=sorted(new_nodes.keys() - old_nodes.keys()),
        nodes_removed=sorted(old_nodes.keys() - new_nodes.keys()),
        nodes_changed=sorted(
            n for n in old_nodes.keys() & new_nodes.keys() if old_nodes[n] != new_nodes[n]
        ),
        edges_added=sorted(new_edges.keys() - old_edges.keys()),
        edges_removed=sorted(old_edges.keys() - new_edges.keys()),
        edges_changed=sorted(
            e for e in old_edges.keys() & new_edges.keys() if old_edges[e] != new_edges[e]
        ),
    )


@router.post("/{workflow_id}/execute", response_model=ExecutionResult)
async def execute_workflow(
    request: Request,
    workflow: RunnableWorkflowDep,
    body: ExecuteRequest,
    principal: PrincipalDep,
    runs: WorkflowRunsDep,
) -> JSONResponse:
    """Run the published version (or ``options.version``). Synchronous by default: answers
    with the outputs when the run ends or waits; ``options.async`` answers 202 at once."""
    request.app.state.rate_limits.check_run(principal, client_ip(request))
    run = await runs.start(
        workflow,
        body.input_data,
        version=body.options.version,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
    )
    if body.options.run_async:
        result = execution_result(run)
        return JSONResponse(result.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
    done = await runs.wait(run.id)
    waiting = await runs.waiting(done.id) if done.status is RunStatus.WAITING else None
    return JSONResponse(execution_result(done, waiting).model_dump(mode="json"))
