"""Workflow runs in the worker over the SQL checkpointer and the run event log."""

from __future__ import annotations

import asyncio

import pytest

from nexus.core.errors import ConflictError, InvalidInputError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeStatus
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.workflow_runs import WorkflowRuns


def chain(spec):  # type: ignore[no-untyped-def]
    return spec(
        [
            {"id": "start", "type": "input", "properties": {"field": "name"}},
            {
                "id": "greet",
                "type": "transform",
                "properties": {"template": "hello {{ input.input }}", "output_type": "text"},
            },
            {"id": "out", "type": "output", "properties": {"name": "greeting"}},
        ],
        ["start->greet", "greet->out"],
        inputs={
            "type": "object",
            "properties": {"name": {"type": "string"}},
            "required": ["name"],
        },
    )


async def test_a_run_completes_with_checkpoints_and_a_gap_free_event_log(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    stored = await services.workflows.create(chain(spec))
    run = await workflow_runs.start(stored, {"name": "ada"}, owner_id=None, workspace_id=None)
    assert run.status is RunStatus.QUEUED
    done = await workflow_runs.wait(run.id)
    assert (done.kind, done.status, done.output) == (
        "workflow",
        RunStatus.SUCCEEDED,
        {"greeting": "hello ada"},
    )
    assert done.spec_snapshot["spec"] == chain(spec).to_json()
    records = await workflow_runs.checkpointer.load_nodes(run.id)
    assert {n: r.status for n, r in records.items()} == dict.fromkeys(
        ("start", "greet", "out"), NodeStatus.COMPLETED
    )
    events = await services.events.read(run.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert events[-1].type == "run_completed"
    assert [e.data["node_id"] for e in events if e.type == "node_completed"] == [
        "start",
        "greet",
        "out",
    ]


async def test_bad_inputs_and_bad_graphs_write_nothing(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    stored = await services.workflows.create(chain(spec))
    with pytest.raises(InvalidInputError) as bad_input:
        await workflow_runs.start(stored, {"name": 3}, owner_id=None, workspace_id=None)
    assert bad_input.value.field == "input_data.name"
    broken = spec([{"id": "a", "type": "nope"}], [])
    other = await services.workflows.create(broken.model_copy(update={"name": "broken"}))
    with pytest.raises(InvalidInputError) as bad_graph:
        await workflow_runs.start(other, {}, owner_id=None, workspace_id=None)
    assert bad_graph.value.details and bad_graph.value.details[0]["node"] == "a"
    assert (await services.runs.list())[1] == 0


async def test_published_version_is_pinned(services, workflow_runs: WorkflowRuns, spec) -> None:
    stored = await services.workflows.create(chain(spec))
    await services.workflows.publish(stored.id, label="v1")
    edited = chain(spec)
    edited.nodes[1].properties["template"] = "bye {{ input.input }}"
    stored = await services.workflows.update(stored.id, edited)
    first = await workflow_runs.start(stored, {"name": "x"}, owner_id=None, workspace_id=None)
    assert (await workflow_runs.wait(first.id)).output == {"greeting": "hello x"}
    await services.workflows.publish(stored.id)
    stored = await services.workflows.get(stored.id)
    second = await workflow_runs.start(stored, {"name": "x"}, owner_id=None, workspace_id=None)
    assert (await workflow_runs.wait(second.id)).output == {"greeting": "bye x"}
    old = await workflow_runs.start(
        stored, {"name": "x"}, version=1, owner_id=None, workspace_id=None
    )
    assert (await workflow_runs.wait(old.id)).output == {"greeting": "hello x"}


def slow_effect(spec):  # type: ignore[no-untyped-def]
    return spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "effect",
                "type": "tool",
                "properties": {"tool": "record", "arguments": {"value": "{{ inputs.tag }}"}},
            },
            {"id": "wait", "type": "delay", "properties": {"seconds": 0.3}},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["start->effect", "effect->wait", "wait->out"],
    )


async def test_a_run_interrupted_by_a_shutdown_resumes_at_start_up(
    services, side_effects, spec
) -> None:
    first = WorkflowRuns(services, AgentRunner(services))
    stored = await services.workflows.create(slow_effect(spec))
    run = await first.start(stored, {"tag": "t1"}, owner_id=None, workspace_id=None)
    for _ in range(200):  # until the delay node is running
        records = await first.checkpointer.load_nodes(run.id)
        if "wait" in records:
            break
        await asyncio.sleep(0.01)
    await first.shutdown()  # like a crash: nothing recorded
    assert (await services.runs.get(run.id)).status is RunStatus.RUNNING

    second = WorkflowRuns(services, AgentRunner(services))
    assert await second.recover() == 1
    done = await second.wait(run.id)
    assert done.status is RunStatus.SUCCEEDED
    assert side_effects.calls == ["t1"]  # the completed side effect was not repeated
    events = await services.events.read(run.id)
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("run_completed") == 1
    await second.shutdown()


def gate(spec):  # type: ignore[no-untyped-def]
    return spec(
        [
            {"id": "start", "type": "input"},
            {"id": "ask", "type": "approval", "properties": {"message": "ok?"}},
            {"id": "yes", "type": "output", "properties": {"name": "approved"}},
            {"id": "no", "type": "output", "properties": {"name": "rejected"}},
        ],
        ["start->ask", "ask.approved->yes", "ask.rejected->no"],
    )


async def test_approval_resumes_a_waiting_run(services, workflow_runs: WorkflowRuns, spec) -> None:
    stored = await services.workflows.create(gate(spec))
    run = await workflow_runs.start(stored, {"x": 1}, owner_id=None, workspace_id=None)
    waiting = await workflow_runs.wait(run.id)
    assert waiting.status is RunStatus.WAITING
    with pytest.raises(ConflictError):
        await workflow_runs.approve(waiting, "start", approved=True, comment=None, by="u")
    await workflow_runs.approve(waiting, "ask", approved=False, comment="no", by="u")
    done = await workflow_runs.wait(run.id)
    assert (done.status, done.output) == (RunStatus.SUCCEEDED, {"rejected": {"x": 1}})


async def test_cancel_a_waiting_run(services, workflow_runs: WorkflowRuns, spec) -> None:
    stored = await services.workflows.create(gate(spec))
    run = await workflow_runs.start(stored, {}, owner_id=None, workspace_id=None)
    waiting = await workflow_runs.wait(run.id)
    cancelled = await workflow_runs.cancel(waiting)
    assert cancelled.status is RunStatus.CANCELLED
    events = await services.events.read(run.id)
    assert events[-1].type == "run_completed"
    assert events[-1].data["status"] == "cancelled"


async def test_retry_and_rerun(services, workflow_runs: WorkflowRuns, side_effects, spec) -> None:
    flaky = spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "effect",
                "type": "tool",
                "properties": {"tool": "record", "arguments": {"value": "{{ inputs.tag }}"}},
            },
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["start->effect", "effect->out"],
    )
    services.tools.unregister("record")
    stored = await services.workflows.create(flaky)
    run = await workflow_runs.start(stored, {"tag": "a"}, owner_id=None, workspace_id=None)
    failed = await workflow_runs.wait(run.id)
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and failed.error["node"] == "effect"
    services.tools.register(side_effects.tool())
    await workflow_runs.retry(failed)
    retried = await workflow_runs.wait(run.id)
    assert (retried.status, retried.output) == (RunStatus.SUCCEEDED, {"result": {"recorded": "a"}})
    with pytest.raises(ConflictError):
        await workflow_runs.retry(retried)
    again = await workflow_runs.rerun(retried, "effect", inputs={"tag": "b"}, node_inputs=None)
    rerun = await workflow_runs.wait(again.id)
    assert rerun.output == {"result": {"recorded": "b"}}
    assert side_effects.calls == ["a", "b"]
    with pytest.raises(InvalidInputError):
        await workflow_runs.rerun(retried, "nope", inputs=None, node_inputs=None)


async def test_start_up_fails_orphaned_agent_runs_but_resumes_workflow_runs(
    services, side_effects, spec
) -> None:
    await services.runs.create(
        "run_agent", agent_id=None, session_id=None, input={"input": "x"}, spec_snapshot={}
    )
    assert await services.runs.mark_running("run_agent")
    first = WorkflowRuns(services, AgentRunner(services))
    stored = await services.workflows.create(slow_effect(spec))
    run = await first.start(stored, {"tag": "w"}, owner_id=None, workspace_id=None)
    await first.shutdown()  # dies before the run even started: left queued

    assert await AgentRunner(services).recover() == 1
    interrupted = await services.runs.get("run_agent")
    assert interrupted.status is RunStatus.FAILED
    assert interrupted.error == {
        "code": "interrupted",
        "message": "interrupted: the server stopped during the run",
    }
    assert (await services.runs.get(run.id)).status is RunStatus.QUEUED
    second = WorkflowRuns(services, AgentRunner(services))
    assert await second.recover() == 1
    assert (await second.wait(run.id)).status is RunStatus.SUCCEEDED
    assert side_effects.calls == ["w"]
    await second.shutdown()
