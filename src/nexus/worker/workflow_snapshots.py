"""What a workflow run's row records of its spec (``snapshot``), and the check of its inputs."""

from __future__ import annotations

from typing import Any

from nexus.core.errors import InvalidInputError
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
    """``InvalidInputError`` naming every input that does not match the workflow's schema."""
    errors = list(plan.inputs_validator.iter_errors(inputs))
    if not errors:
        return
    details = [
        {
            "node": None,
            "field": "input_data" + "".join(f".{p}" for p in e.absolute_path),
            "message": e.message,
        }
        for e in errors
    ]
    first = details[0]
    raise InvalidInputError(
        f"workflow inputs are invalid: {first['field']}: {first['message']}",
        field=str(first["field"]),
        details=details,
    )
