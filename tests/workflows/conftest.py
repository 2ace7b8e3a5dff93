"""Workflow runs on a migrated SQLite file: the worker, a spec builder and a side-effect tool
(the app and its HTTP clients come from ``tests/conftest.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from nexus.testing.workflow_specs import build_spec
from nexus.tools.registry import ToolSpec
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.services import RunServices
from nexus.worker.workflow_runs import WorkflowRuns


class SideEffects:
    """A ``record`` tool that appends its ``value`` argument: counts executions."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def tool(self) -> ToolSpec:
        async def handle(arguments: dict[str, Any]) -> dict[str, Any]:
            self.calls.append(arguments["value"])
            return {"recorded": arguments["value"]}

        return ToolSpec(
            name="record",
            description="Records a value.",
            parameters={
                "type": "object",
                "properties": {"value": {"type": "string"}},
                "required": ["value"],
                "additionalProperties": False,
            },
            handler=handle,
        )


@pytest.fixture
def side_effects(services: RunServices) -> SideEffects:
    effects = SideEffects()
    services.tools.register(effects.tool())
    return effects


@pytest.fixture
async def workflow_runs(services: RunServices) -> AsyncIterator[WorkflowRuns]:
    runs = WorkflowRuns(services, AgentRunner(services))
    try:
        yield runs
    finally:
        await runs.shutdown()


@pytest.fixture
def spec():  # type: ignore[no-untyped-def]
    return build_spec
