"""``/api/v1/code``: code projects with versioned files, and code tasks (the auto-fix loop).

Projects follow the ownership rule of agents and workflows (``nexus.security.access``): a project
the caller may not see is 404, one they may see but not change is 403. File paths are part of
the URL (``/files/src/app.py``) and are checked by the store (relative, no ``..``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator

from nexus.api.audit import audit
from nexus.api.deps import (
    CreatorDep,
    PagingDep,
    PrincipalDep,
    RunnerDep,
    ServicesDep,
    client_ip,
)
from nexus.api.schemas.common import ERROR_RESPONSES, Page
from nexus.core.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from nexus.security.access import can_edit, can_see
from nexus.security.principal import Principal, Role, Visibility
from nexus.store.code_projects import (
    MAX_FILE_CHARS,
    MAX_MESSAGE_CHARS,
    MAX_PATH_CHARS,
    CodeProjectRepository,
    FileVersion,
    StoredProject,
    check_path,
    unified_diff,
    visible_clause,
)
from nexus.worker.code_tasks import CodeTaskRequest, CodeTasks

router = APIRouter(prefix="/api/v1/code", tags=["code"], responses=ERROR_RESPONSES)

# --------------------------------------------------------------------------- schemas


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    visibility: Visibility = Visibility.PRIVATE
    files: dict[str, Annotated[str, Field(max_length=MAX_FILE_CHARS)]] | None = Field(
        default=None, max_length=100
    )
    """Initial files, path -> content (version 1 of each)."""


class ProjectPublic(BaseModel):
    id: str
    name: str
    owner_id: str | None
    workspace_id: str | None
    visibility: Visibility
    editable: bool
    created_at: datetime
    updated_at: datetime


class FileSave(BaseModel):
    model_config = ConfigDict(extra="forbid")

    content: str = Field(max_length=MAX_FILE_CHARS)
    message: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


class FileVersionPublic(BaseModel):
    path: str
    version: int
    deleted: bool
    author_kind: str
    author_id: str | None
    message: str | None
    size: int
    created_at: datetime
    diff: str | None = None
    content: str | None = None


class DiffPublic(BaseModel):
    path: str
    from_version: int
    to_version: int
    diff: str


class RevertRequest(BaseModel):
    """Either ``path`` + ``version`` (one file), ``versions`` (several files), or ``at`` (the
    whole project as it was at that time; files created later are deleted)."""

    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(default=None, max_length=MAX_PATH_CHARS)
    version: int | None = Field(default=None, ge=1)
    versions: dict[str, Annotated[int, Field(ge=1)]] | None = Field(default=None, max_length=500)
    at: datetime | None = None
    message: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)

    @model_validator(mode="after")
    def _one_target(self) -> RevertRequest:
        single = self.path is not None or self.version is not None
        chosen = sum([single, self.versions is not None, self.at is not None])
        if chosen != 1:
            raise ValueError("give exactly one of: path and version, versions, at")
        if single and (self.path is None or self.version is None):
            raise ValueError("reverting one file needs both path and version")
        return self


class CodeTaskCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    prompt: str = Field(min_length=1, max_length=8000)
    language: Literal["python", "bash"] = "python"
    max_attempts: int = Field(default=3, ge=1, le=10)
    model: str | None = Field(default=None, min_length=3, max_length=200)
    project_id: str | None = Field(default=None, max_length=40)
    entry: str | None = Field(default=None, max_length=MAX_PATH_CHARS)
    test_command: str | None = Field(default=None, min_length=1, max_length=2000)
    token_budget: int = Field(default=20_000, ge=1, le=1_000_000)
    timeout_s: float | None = Field(default=None, gt=0, le=300)
    expect_output: str | None = Field(default=None, min_length=1, max_length=1000)
    """Success also needs stdout to contain this text (case-insensitive)."""
    run_async: bool = Field(default=True, alias="async")
    """``false``: answer when the task ends (like ``?wait=true``)."""


class CodeTaskAccepted(BaseModel):
    run_id: str
    project_id: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None


# --------------------------------------------------------------------------- access


def _admin_workspaces(p: Principal) -> list[str]:
    return [ws for ws, role in p.memberships.items() if role is Role.ADMIN]


Need = Literal["read", "edit"]


async def lookup_project(
    p: Principal, projects: CodeProjectRepository, project_id: str, need: Need
) -> StoredProject:
    project = await projects.get(project_id)
    if project is None or not can_see(p, project):
        raise NotFoundError(f"code project {project_id!r} not found")
    if need == "edit" and not can_edit(p, project):
        raise PermissionDeniedError(f"you may read code project {project.name!r} but not change it")
    return project


def get_projects(services: ServicesDep) -> CodeProjectRepository:
    return services.code_projects


ProjectsDep = Annotated[CodeProjectRepository, Depends(get_projects)]


async def readable_project(
    project_id: str, principal: PrincipalDep, projects: ProjectsDep
) -> StoredProject:
    return await lookup_project(principal, projects, project_id, "read")


async def editable_project(
    project_id: str, principal: PrincipalDep, projects: ProjectsDep
) -> StoredProject:
    return await lookup_project(principal, projects, project_id, "edit")


ProjectDep = Annotated[StoredProject, Depends(readable_project)]
EditableProjectDep = Annotated[StoredProject, Depends(editable_project)]


def get_code_tasks(request: Request, services: ServicesDep, runner: RunnerDep) -> CodeTasks:
    """The app's ``CodeTasks``, made on first use (its runs share the agent runner's tasks)."""
    tasks = getattr(request.app.state, "code_tasks", None)
    if tasks is None:
        tasks = CodeTasks(services, runner)
        request.app.state.code_tasks = tasks
    return tasks


CodeTasksDep = Annotated[CodeTasks, Depends(get_code_tasks)]

# --------------------------------------------------------------------------- helpers


def project_public(project: StoredProject, principal: Principal) -> ProjectPublic:
    return ProjectPublic(
        id=project.id,
        name=project.name,
        owner_id=project.owner_id,
        workspace_id=project.workspace_id,
        visibility=Visibility(project.visibility),
        editable=can_edit(principal, project),
        created_at=project.created_at,
        updated_at=project.updated_at,
    )


def version_public(
    v: FileVersion, *, content: bool = False, diff: bool = False
) -> FileVersionPublic:
    return FileVersionPublic(
        path=v.path,
        version=v.version,
        deleted=v.deleted,
        author_kind=v.author_kind,
        author_id=v.author_id,
        message=v.message,
        size=len(v.content),
        created_at=v.created_at,
        diff=v.diff if diff else None,
        content=v.content if content else None,
    )


def _file_path(path: str) -> str:
    return check_path(path)


# --------------------------------------------------------------------------- projects


@router.post("/projects", status_code=status.HTTP_201_CREATED)
async def create_project(
    request: Request,
    body: ProjectCreate,
    principal: CreatorDep,
    projects: ProjectsDep,
    services: ServicesDep,
) -> ProjectPublic:
    files = body.files if body.files is not None else {}
    for path in files:
        check_path(path)  # refuse before anything is written
    project = await projects.create(
        body.name,
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
        visibility=body.visibility.value,
    )
    if files:
        try:
            await projects.save_files(
                project.id, files, author_id=principal.user_id, message="initial files"
            )
        except Exception:
            await projects.delete(project.id)  # no half-made project
            raise
        project = await projects.require(project.id)
    await audit(request, services, "code_project_created", "code_project", project.id)
    return project_public(project, principal)


@router.get("/projects")
async def list_projects(
    principal: PrincipalDep, projects: ProjectsDep, paging: PagingDep
) -> Page[ProjectPublic]:
    where = visible_clause(
        principal.user_id, list(principal.memberships), _admin_workspaces(principal)
    )
    items, total = await projects.list(where=where, offset=paging.offset, limit=paging.limit)
    return Page(
        items=[project_public(p, principal) for p in items],
        total=total,
        page=paging.page,
        limit=paging.limit,
    )


@router.get("/projects/{project_id}")
async def get_project(project: ProjectDep, principal: PrincipalDep) -> ProjectPublic:
    return project_public(project, principal)


@router.delete("/projects/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(
    request: Request, project: EditableProjectDep, projects: ProjectsDep, services: ServicesDep
) -> Response:
    """Delete the project and every version of its files."""
    await projects.delete(project.id)
    await audit(request, services, "code_project_deleted", "code_project", project.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --------------------------------------------------------------------------- files


@router.get("/projects/{project_id}/files")
async def list_files(project: ProjectDep, projects: ProjectsDep) -> list[FileVersionPublic]:
    """The newest version of every file (deleted files are left out); no contents."""
    return [version_public(v) for v in await projects.list_files(project.id)]


@router.get("/projects/{project_id}/files/{path:path}/versions")
async def file_versions(
    project: ProjectDep, path: str, projects: ProjectsDep
) -> list[FileVersionPublic]:
    """Every version of one file, oldest first, with the diff each made."""
    versions = await projects.versions(project.id, _file_path(path))
    return [version_public(v, diff=True) for v in versions]


@router.get("/projects/{project_id}/files/{path:path}")
async def read_file(
    project: ProjectDep,
    path: str,
    projects: ProjectsDep,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> FileVersionPublic:
    """The newest version of a file (404 once deleted), or version ``?version=``."""
    path = _file_path(path)
    if version is None:
        found = await projects.read_current(project.id, path)
    else:
        found = await projects.read(project.id, path, version)
    return version_public(found, content=True, diff=True)


@router.put("/projects/{project_id}/files/{path:path}")
async def save_file(
    project: EditableProjectDep,
    path: str,
    body: FileSave,
    principal: PrincipalDep,
    projects: ProjectsDep,
) -> FileVersionPublic:
    """Save a new version of a file (unchanged content adds no version)."""
    saved = await projects.save_file(
        project.id,
        _file_path(path),
        body.content,
        author_kind="user",
        author_id=principal.user_id,
        message=body.message,
    )
    return version_public(saved, diff=True)


@router.delete("/projects/{project_id}/files/{path:path}")
async def delete_file(
    project: EditableProjectDep, path: str, principal: PrincipalDep, projects: ProjectsDep
) -> FileVersionPublic:
    """Delete a file: a new version marked ``deleted`` (earlier versions stay readable)."""
    deleted = await projects.delete_file(
        project.id, _file_path(path), author_kind="user", author_id=principal.user_id
    )
    return version_public(deleted)


@router.get("/projects/{project_id}/diff")
async def diff_versions(
    project: ProjectDep,
    projects: ProjectsDep,
    path: Annotated[str | None, Query(max_length=MAX_PATH_CHARS)] = None,
    from_version: Annotated[int | None, Query(alias="from", ge=0)] = None,
    to_version: Annotated[int | None, Query(alias="to", ge=1)] = None,
) -> list[DiffPublic]:
    """Unified diff of ``path`` from version ``from`` to ``to`` (default: the newest version
    against the one before it; ``from=0`` is the empty file). Without ``path``: the newest change
    of every file."""
    if path is None:
        if from_version is not None or to_version is not None:
            raise InvalidInputError("'from' and 'to' need a 'path'", field="path")
        paths = [v.path for v in await projects.list_files(project.id)]
    else:
        paths = [_file_path(path)]
    out = []
    for name in paths:
        newest = (await projects.read(project.id, name)).version
        to = to_version if to_version is not None else newest
        start = from_version if from_version is not None else to - 1
        old = await projects.read(project.id, name, start) if start >= 1 else None
        new = await projects.read(project.id, name, to)
        text = unified_diff(
            old.content if old is not None and not old.deleted else "",
            "" if new.deleted else new.content,
            name,
        )
        out.append(DiffPublic(path=name, from_version=start, to_version=to, diff=text))
    return out


@router.post("/projects/{project_id}/revert")
async def revert(
    project: EditableProjectDep, body: RevertRequest, principal: PrincipalDep, projects: ProjectsDep
) -> list[FileVersionPublic]:
    """Revert one file, several files, or the whole project; returns the versions this added
    (every revert is itself a new version, so it can be reverted too)."""
    who = {"author_kind": "user", "author_id": principal.user_id, "message": body.message}
    if body.path is not None and body.version is not None:
        changed = [
            await projects.revert_file(project.id, _file_path(body.path), body.version, **who)  # type: ignore[arg-type]
        ]
    else:
        at = body.at
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        changed = await projects.revert_project(
            project.id,
            at=at,
            versions=body.versions,
            **who,  # type: ignore[arg-type]
        )
    return [version_public(v, diff=True) for v in changed]


# --------------------------------------------------------------------------- tasks


@router.post(
    "/tasks",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=CodeTaskAccepted,
    responses={200: {"model": CodeTaskAccepted, "description": "The finished task (wait)"}},
)
async def create_task(
    request: Request,
    body: CodeTaskCreate,
    principal: CreatorDep,
    projects: ProjectsDep,
    tasks: CodeTasksDep,
    wait: Annotated[bool, Query()] = False,
) -> JSONResponse:
    """Start the code agent: write the program, run it in the sandbox, fix it until it works.
    Answers 202 with the run id at once (follow ``/api/v1/runs/{run_id}/events``), or 200 with
    the outcome with ``?wait=true`` / ``"async": false``."""
    request.app.state.rate_limits.check_run(principal, client_ip(request))
    if body.project_id is not None:
        await lookup_project(principal, projects, body.project_id, "edit")
    run = await tasks.start(
        CodeTaskRequest(
            prompt=body.prompt,
            language=body.language,
            max_attempts=body.max_attempts,
            model=body.model,
            project_id=body.project_id,
            entry=body.entry,
            test_command=body.test_command,
            token_budget=body.token_budget,
            timeout_s=body.timeout_s,
            expect_output=body.expect_output,
        ),
        owner_id=principal.user_id,
        workspace_id=principal.workspace_id,
    )
    project_id = run.spec_snapshot["project_id"]
    if wait or not body.run_async:
        done = await tasks.wait(run.id)
        result = CodeTaskAccepted(
            run_id=done.id,
            project_id=project_id,
            status=done.status.value,
            output=done.output,
            error=done.error,
        )
        return JSONResponse(result.model_dump(mode="json"))
    accepted = CodeTaskAccepted(run_id=run.id, project_id=project_id, status=run.status.value)
    return JSONResponse(accepted.model_dump(mode="json"), status_code=status.HTTP_202_ACCEPTED)
