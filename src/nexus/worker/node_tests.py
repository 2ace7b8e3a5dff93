"""Test runs of one node: the designer's "run this node with these inputs".

A test run is an ordinary workflow run (same executor, same node types, same platform services
and the caller's keys) of a small workflow derived from the draft: the node itself, plus one
``input`` node per given input port feeding it. It is owned by the caller and kept out of the
workflow's run history (its ``workflow_id`` is not set).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nexus.core.errors import NotFoundError
from nexus.engine.checkpoints import NodeRecord
from nexus.engine.nodes.registry import NodeTypeRegistry
from nexus.engine.spec import EdgeSpec, Endpoint, NodeSpec, WorkflowSpec
from nexus.store.run_repository import StoredRun
from nexus.store.workflow_repository import StoredWorkflow
from nexus.worker.workflow_runs import WorkflowRuns


def node_test_spec(
    spec: WorkflowSpec, node_id: str, input_data: dict[str, Any], types: NodeTypeRegistry
) -> tuple[WorkflowSpec, frozenset[str]]:
    """A workflow that runs only ``node_id`` of ``spec`` with ``input_data`` on its input ports.

    Each key of ``input_data`` naming an input port of the node gets an ``input`` node (reading
    that key of the run's inputs) wired to the port. The whole of ``input_data`` is the run's
    inputs, so ``{{ inputs.… }}`` templates see it too. Returns the spec and the ids of the
    feeding nodes (their events are the test's plumbing, not the node's).
    """
    node = next((n for n in spec.nodes if n.id == node_id), None)
    if node is None:
        raise NotFoundError(f"the workflow has no node {node_id!r}", field="node_id")
    node_type = types.get(node.type)
    ports = node.inputs if node.inputs is not None else node_type.input_ports(node.properties)
    names = {p.name for p in ports}
    fed = sorted(k for k in input_data if k in names or node_type.dynamic_inputs)
    feeders: list[NodeSpec] = []
    edges: list[EdgeSpec] = []
    for index, port_name in enumerate(fed):
        feeder = f"_feed{index}" if f"_feed{index}" != node_id else f"_feed{index}_"
        feeders.append(NodeSpec(id=feeder, type="input", properties={"field": port_name}))
        edges.append(
            EdgeSpec(
                id=f"_edge{index}",
                source=Endpoint(node=feeder, port="output"),
                target=Endpoint(node=node_id, port=port_name),
            )
        )
    test = WorkflowSpec(
        name=f"{spec.name} · node {node_id}"[:200],
        description=f"test run of node {node_id!r}",
        nodes=[*feeders, node],
        edges=edges,
        limits=spec.limits,
    )
    return test, frozenset(f.id for f in feeders)


@dataclass(frozen=True, slots=True)
class NodeTest:
    run: StoredRun
    node_id: str
    feeders: frozenset[str]


@dataclass(frozen=True, slots=True)
class NodeTestResult:
    status: str
    """The node's last record: ``completed``, ``failed`` or ``waiting`` (``failed`` when the
    run ended before the node recorded anything)."""
    outputs: dict[str, Any] | None
    error: dict[str, Any] | None
    waiting: dict[str, Any] | None
    duration_ms: float | None


class NodeTests:
    """Starts test runs of single nodes and reads their results."""

    def __init__(self, runs: WorkflowRuns) -> None:
        self.runs = runs

    async def start(
        self,
        workflow: StoredWorkflow,
        node_id: str,
        input_data: dict[str, Any],
        *,
        owner_id: str | None,
        workspace_id: str | None,
    ) -> NodeTest:
        """Validate and accept the test run (``InvalidInputError`` naming node and field)."""
        spec, feeders = node_test_spec(workflow.spec, node_id, input_data, self.runs.node_types)
        run = await self.runs.start_spec(
            spec, input_data, owner_id=owner_id, workspace_id=workspace_id
        )
        return NodeTest(run, node_id, feeders)

    async def finish(self, test: NodeTest) -> NodeTestResult:
        """Wait for the test run to end or pause; a paused one (an approval node) is cancelled,
        since nobody will decide on a test. Returns the node's result."""
        run = await self.runs.wait(test.run.id)
        record: NodeRecord | None = (await self.runs.checkpointer.load_nodes(run.id)).get(
            test.node_id
        )
        if not run.status.is_final:
            await self.runs.cancel(run)
        if record is None:
            error = run.error or {"code": "run_error", "message": f"the run ended {run.status}"}
            return NodeTestResult("failed", None, error, None, None)
        return NodeTestResult(
            record.status.value, record.outputs, record.error, record.waiting, record.duration_ms
        )
