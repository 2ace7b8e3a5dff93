"""Response bodies of ``/api/v1/executions``: run history summaries and the per-node inspector."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from nexus.api.schemas.workflows import ExecutionPublic, NodeRecordPublic


class ExecutionSummary(BaseModel):
    """One row of a workflow's run history."""

    id: str
    workflow_id: str | None
    version: int | None
    """The published version the run pinned; ``None``: the draft of that moment."""
    status: str
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: dict[str, Any] | None = None
    """``{code, message, node?}`` of a failed or cancelled run."""


class NodeInspection(NodeRecordPublic):
    """A node's latest record (status, attempt, outputs by port, error, waiting request,
    duration), with what the inspector shows next to it."""

    type: str | None = None
    name: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)
    """Values by input port, rebuilt from the outputs of the upstream nodes along the edges
    (values a re-run put on ``from_node`` through ``node_inputs`` are not recorded)."""


class ExecutionDetail(ExecutionPublic):
    nodes: dict[str, NodeInspection] = Field(default_factory=dict)  # type: ignore[assignment]
