"""Request and response bodies of ``/api/v1/workflows``, ``/executions`` and ``/node-types``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from nexus.api.schemas.runs import RunPublic
from nexus.engine.spec import WorkflowSpec
from nexus.security.principal import Visibility


class WorkflowCreate(WorkflowSpec):
    visibility: Visibility = Visibility.WORKSPACE

    def spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self.model_dump(exclude={"visibility"}))


class WorkflowUpdate(WorkflowSpec):
    visibility: Visibility | None = None

    def spec(self) -> WorkflowSpec:
        return WorkflowSpec.model_validate(self.model_dump(exclude={"visibility"}))


class ValidationProblem(BaseModel):
    node: str | None
    field: str | None
    message: str


class ValidationReport(BaseModel):
    """The result of validating a graph without saving or running it."""

    valid: bool
    errors: list[ValidationProblem]


class WorkflowPublic(WorkflowSpec):
    id: str
    owner_id: str | None
    workspace_id: str | None
    visibility: Visibility
    published_version: int | None
    """The version ``execute`` runs by default; ``None``: never published (the draft runs)."""
    editable: bool
    created_at: datetime
    updated_at: datetime
    problems: list[ValidationProblem] = []
    """What keeps the draft from running (empty when it can run): a saved draft may be
    unfinished; ``execute`` and publishing refuse it until these are fixed."""


class WorkflowSummaryPublic(BaseModel):
    """A workflow in ``GET /api/v1/workflows``: no graph (``GET /api/v1/workflows/{id}`` has it)."""

    id: str
    name: str
    description: str
    node_count: int
    owner_id: str | None
    workspace_id: str | None
    visibility: Visibility
    published_version: int | None
    editable: bool
    created_at: datetime
    updated_at: datetime


class VersionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    label: str | None = Field(default=None, max_length=200)


class VersionPublic(BaseModel):
    version: int
    label: str | None
    created_by: str | None
    created_at: datetime
    spec: WorkflowSpec


class SpecDiff(BaseModel):
    """Differences between two specs, by node and edge id."""

    fields_changed: list[str]
    nodes_added: list[str]
    nodes_removed: list[str]
    nodes_changed: list[str]
    edges_added: list[str]
    edges_removed: list[str]
    edges_changed: list[str]


class ExecuteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    run_async: bool = Field(default=False, alias="async")
    """``true``: answer at once with the run id; follow it at ``/api/v1/runs/{id}/events``."""
    version: int | None = Field(default=None, ge=1)
    """Default: the published version (the draft if none was published)."""


class ExecuteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_data: dict[str, Any] = Field(default_factory=dict)
    options: ExecuteOptions = Field(default_factory=ExecuteOptions)


class ExecutionResult(BaseModel):
    execution_id: str
    status: str
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    waiting: dict[str, Any] = Field(default_factory=dict)
    """Waiting node id → its request (status ``waiting``)."""


class NodeRecordPublic(BaseModel):
    status: str
    attempt: int
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    waiting: dict[str, Any] | None = None
    duration_ms: float | None = None
    usage: dict[str, Any] | None = None
    """Tokens the node's model calls used: ``requests``, ``input_tokens``, ``output_tokens``,
    ``total_tokens`` and the same ``by_model``; ``null`` when it called no model."""


class ExecutionPublic(RunPublic):
    workflow_id: str | None = None
    version: int | None = None
    nodes: dict[str, NodeRecordPublic] = Field(default_factory=dict)


class RerunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_node: str = Field(min_length=1, max_length=64)
    inputs: dict[str, Any] | None = None
    """New workflow inputs (default: the source run's)."""
    node_inputs: dict[str, Any] | None = None
    """Values for ``from_node``'s input ports, replacing what its edges deliver."""


class ApprovalRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    approved: bool
    comment: str | None = Field(default=None, max_length=2_000)


class NodeTypePublic(BaseModel):
    type: str
    description: str
    properties_schema: dict[str, Any]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    dynamic_inputs: bool
