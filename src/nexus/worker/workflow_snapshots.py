"""What a workflow run's row records of its spec (``snapshot``), and the check of its inputs."""

from __future__ import annotations

from typing import Any

from nexus.engine.executor import check_inputs as engine_check_inputs
from nexus.engine.plan import WorkflowPlan
from nexus.engine.spec import WorkflowSpec

WORKFLOW = "workflow"


def snapshot(
    spec: WorkflowSpec,
    workflow_id: str | None,
    version: int | None,
    depth: int = 0,
    parent_run_id: str | None = None,
) -> dict[str, Any]:
    """A run's ``spec_snapshot``: the exact spec it runs, and where it came from (a sub-workflow
    run also names the run whose node started it)."""
    data = {"workflow_id": workflow_id, "version": version, "depth": depth, "spec": spec.to_json()}
    if parent_run_id is not None:
        data["parent_run_id"] = parent_run_id
    return data


def check_inputs(plan: WorkflowPlan, inputs: dict[str, Any]) -> None:
    """The engine's check, with paths named as the API names them (``input_data.…``)."""
    engine_check_inputs(plan, inputs, field="input_data")
