"""Token usage per workflow node: the model services return it with the answer, the node's
record keeps it (SQL checkpoints), ``node_completed`` carries it, ``GET /api/v1/executions/{id}``
shows it per node and the run's ``usage`` is the total, per model."""

from __future__ import annotations

from typing import Any

from agents import Usage
from agents.testing import ModelStep, assistant_message

from nexus.agents.spec import AgentSpec
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.services import ModelAnswer, Services
from nexus.store.checkpointer import SqlCheckpointer
from nexus.testing.workflow_specs import build_spec
from nexus.worker.workflow_runs import WorkflowRuns


def usage(input_tokens: int, output_tokens: int) -> Usage:
    return Usage(
        requests=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def expected(**by_model: tuple[int, int, int]) -> dict[str, Any]:
    """The usage dict for ``model=(requests, input, output)``."""
    return {
        "requests": sum(r for r, _, _ in by_model.values()),
        "input_tokens": sum(i for _, i, _ in by_model.values()),
        "output_tokens": sum(o for _, _, o in by_model.values()),
        "total_tokens": sum(i + o for _, i, o in by_model.values()),
        "by_model": {
            model.replace("__", ":"): {
                "requests": r,
                "input_tokens": i,
                "output_tokens": o,
                "total_tokens": i + o,
            }
            for model, (r, i, o) in by_model.items()
        },
    }


POEM_AND_REVIEW = [
    {"id": "start", "type": "input", "properties": {"field": "topic"}},
    {
        "id": "write",
        "type": "llm",
        "properties": {"model": "test:writer", "prompt": "poem on {{ input.input }}"},
    },
    {"id": "review", "type": "agent", "properties": {"agent": "critic"}},
    {"id": "verdict", "type": "output", "properties": {"name": "verdict"}},
]
POEM_EDGES = ["start->write", "write->review", "review->verdict"]


async def test_platform_services_report_usage_per_node_and_run(
    services, providers, workflow_runs: WorkflowRuns
) -> None:
    providers.scripted("writer").enqueue(
        ModelStep(output=[assistant_message("a poem")], usage=usage(11, 4))
    )
    providers.scripted("critic").enqueue(
        ModelStep(output=[assistant_message("fine")], usage=usage(20, 2))
    )
    await services.agents.create(AgentSpec(name="critic", model="test:critic"))
    stored = await services.workflows.create(build_spec(POEM_AND_REVIEW, POEM_EDGES))
    run = await workflow_runs.start(stored, {"topic": "sea"}, owner_id=None, workspace_id=None)
    done = await workflow_runs.wait(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error

    records = await SqlCheckpointer(services.db).load_nodes(run.id)
    assert records["write"].usage == expected(test__writer=(1, 11, 4))
    assert records["review"].usage == expected(test__critic=(1, 20, 2))
    assert records["start"].usage is None and records["verdict"].usage is None
    assert done.usage == expected(test__writer=(1, 11, 4), test__critic=(1, 20, 2))


async def test_a_subworkflow_nodes_usage_is_its_child_runs(
    services, providers, workflow_runs: WorkflowRuns
) -> None:
    providers.scripted("writer").enqueue(
        ModelStep(output=[assistant_message("a poem")], usage=usage(11, 4))
    )
    providers.scripted("critic").enqueue(
        ModelStep(output=[assistant_message("fine")], usage=usage(20, 2))
    )
    await services.agents.create(AgentSpec(name="critic", model="test:critic"))
    child = await services.workflows.create(build_spec(POEM_AND_REVIEW, POEM_EDGES, name="poem"))
    await services.workflows.publish(child.id)
    parent_nodes = [
        {"id": "start", "type": "input", "properties": {"field": "topic"}},
        {
            "id": "call",
            "type": "subworkflow",
            "properties": {"workflow_id": child.id, "version": 1, "inputs": {"topic": "sea"}},
        },
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ]
    parent = await services.workflows.create(
        build_spec(parent_nodes, ["start->call", "call->out"], name="parent")
    )
    run = await workflow_runs.start(parent, {"topic": "sea"}, owner_id=None, workspace_id=None)
    done = await workflow_runs.wait(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error

    both = expected(test__writer=(1, 11, 4), test__critic=(1, 20, 2))
    records = await SqlCheckpointer(services.db).load_nodes(run.id)
    assert records["call"].usage == both
    assert done.usage == both  # the parent's total includes what its sub-workflow spent
    runs, _ = await services.runs.list()
    (sub,) = [r for r in runs if r.id != run.id]
    assert sub.usage == both  # and the child run keeps its own


async def test_executions_api_and_events_show_usage(client, providers) -> None:
    providers.scripted("writer").enqueue(
        ModelStep(output=[assistant_message("a poem")], usage=usage(11, 4))
    )
    providers.scripted("critic").enqueue(
        ModelStep(output=[assistant_message("fine")], usage=usage(20, 2))
    )
    agent = await client.post("/api/v1/agents", json={"name": "critic", "model": "test:critic"})
    assert agent.status_code == 201, agent.text
    spec = build_spec(POEM_AND_REVIEW, POEM_EDGES, name="poems").to_json()
    created = await client.post("/api/v1/workflows", json=spec)
    assert created.status_code == 201, created.text
    ran = await client.post(
        f"/api/v1/workflows/{created.json()['id']}/execute", json={"input_data": {"topic": "sea"}}
    )
    assert ran.status_code == 200, ran.text
    assert ran.json()["status"] == "succeeded"
    run_id = ran.json()["execution_id"]

    execution = (await client.get(f"/api/v1/executions/{run_id}")).json()
    nodes = execution["nodes"]
    assert nodes["write"]["usage"] == expected(test__writer=(1, 11, 4))
    assert nodes["review"]["usage"] == expected(test__critic=(1, 20, 2))
    assert nodes["start"]["usage"] is None
    total = expected(test__writer=(1, 11, 4), test__critic=(1, 20, 2))
    assert execution["usage"] == total
    assert (await client.get(f"/api/v1/runs/{run_id}")).json()["usage"] == total

    events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    completed = {e["data"]["node_id"]: e["data"] for e in events if e["type"] == "node_completed"}
    assert completed["write"]["usage"] == nodes["write"]["usage"]
    assert completed["review"]["usage"] == nodes["review"]["usage"]
    assert "usage" not in completed["start"]
    assert events[-1]["type"] == "run_completed" and events[-1]["data"]["usage"] == total


def _answer(model: str, text: str, input_tokens: int, output_tokens: int) -> ModelAnswer:
    spent = RunUsage()
    spent.add(model, requests=1, input_tokens=input_tokens, output_tokens=output_tokens)
    return ModelAnswer(text, spent)


async def test_repairs_retries_and_loops_add_up_and_resume_keeps_them() -> None:
    answers = {"first": ["not json", '{"n": 1}'], "flaky": [RuntimeError("down"), "ok"]}

    async def llm(prompt: str, *, model: str, system, schema, on_token) -> ModelAnswer:  # type: ignore[no-untyped-def]
        if model.startswith("test:loop"):
            return _answer(model, prompt.upper(), 3, 1)
        step = answers[model.removeprefix("test:")].pop(0)
        if isinstance(step, Exception):
            raise step
        return _answer(model, step, 10, 5)

    spec = build_spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "structured",
                "type": "llm",
                "properties": {
                    "model": "test:first",
                    "prompt": "a number",
                    "output_schema": {"type": "object", "required": ["n"]},
                },
            },
            {
                "id": "flaky",
                "type": "llm",
                "properties": {"model": "test:flaky", "prompt": "again"},
                "policy": {"retries": 1, "backoff_s": 0},
            },
            {
                "id": "each",
                "type": "loop",
                "properties": {
                    "items": ["a", "b"],
                    "body": {"type": "llm", "properties": {"model": "test:loop", "prompt": "x"}},
                },
            },
            {"id": "ask", "type": "approval", "properties": {"message": "ok?"}},
            {"id": "out", "type": "output", "properties": {"name": "n"}},
        ],
        ["start->structured", "structured->flaky", "flaky->each", "each->ask", "ask.approved->out"],
    )
    checkpointer = InMemoryCheckpointer()
    executor = WorkflowExecutor(checkpointer, services=Services(llm=llm))
    plan = executor.compile(spec)
    sink = MemoryEventSink()
    waiting = await executor.start(plan, {}, events=sink)
    assert waiting.status is RunStatus.WAITING, waiting.error

    records = checkpointer.nodes[waiting.run_id]
    assert records["structured"].usage == expected(test__first=(2, 20, 10))  # with its repair
    assert records["flaky"].usage == expected(test__flaky=(1, 10, 5))  # the failed try used none
    assert records["each"].usage == expected(test__loop=(2, 6, 2))  # both items
    completed = {e["node_id"]: e for e in sink.of("node_completed")}
    assert completed["each"]["usage"] == records["each"].usage
    assert "usage" not in completed["start"]

    # The resumed run replays the completed nodes: its total still counts them.
    done = await executor.resume(
        plan, waiting.run_id, events=sink, decisions={"ask": {"approved": True}}
    )
    assert done.status is RunStatus.SUCCEEDED, done.error
    total = expected(test__first=(2, 20, 10), test__flaky=(1, 10, 5), test__loop=(2, 6, 2))
    assert checkpointer.runs[done.run_id].usage == total
    assert sink.of("run_completed")[-1]["usage"] == total

    # A re-run reuses the upstream results without their tokens and pays only for what it runs.
    answers["flaky"] = ["again ok"]
    sink = MemoryEventSink()
    rerun = await executor.rerun_from(plan, done.run_id, "flaky", events=sink)
    assert rerun.status is RunStatus.WAITING
    copied = checkpointer.nodes[rerun.run_id]["structured"]
    assert copied.outputs == records["structured"].outputs and copied.usage is None
    rerun = await executor.resume(
        plan, rerun.run_id, events=sink, decisions={"ask": {"approved": True}}
    )
    assert checkpointer.runs[rerun.run_id].usage == expected(
        test__flaky=(1, 10, 5), test__loop=(2, 6, 2)
    )


async def test_plain_answers_count_no_usage() -> None:
    async def llm(prompt: str, *, model: str, system, schema, on_token) -> str:  # type: ignore[no-untyped-def]
        return "plain"

    spec = build_spec(
        [
            {"id": "start", "type": "input"},
            {"id": "say", "type": "llm", "properties": {"model": "test:x", "prompt": "hi"}},
            {"id": "out", "type": "output", "properties": {"name": "said"}},
        ],
        ["start->say", "say->out"],
    )
    checkpointer = InMemoryCheckpointer()
    executor = WorkflowExecutor(checkpointer, services=Services(llm=llm))
    done = await executor.start(executor.compile(spec), {}, events=MemoryEventSink())
    assert done.outputs == {"said": "plain"}
    assert checkpointer.nodes[done.run_id]["say"].usage is None
    assert checkpointer.runs[done.run_id].usage is None


async def test_failed_node_keeps_its_tokens_and_a_retry_adds_to_them(
    services, providers, workflow_runs: WorkflowRuns
) -> None:
    schema = {"type": "object", "required": ["n"]}
    model = providers.scripted("strict")
    for _ in range(2):  # the first answer and its one repair: both invalid
        model.enqueue(ModelStep(output=[assistant_message("nope")], usage=usage(5, 1)))
    flow = build_spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "ask",
                "type": "llm",
                "properties": {
                    "model": "test:strict",
                    "prompt": "a number",
                    "output_schema": schema,
                    "max_repairs": 1,
                },
            },
            {"id": "out", "type": "output", "properties": {"name": "n"}},
        ],
        ["start->ask", "ask->out"],
    )
    stored = await services.workflows.create(flow)
    run = await workflow_runs.start(stored, {}, owner_id=None, workspace_id=None)
    failed = await workflow_runs.wait(run.id)
    assert failed.status is RunStatus.FAILED
    assert failed.usage == expected(test__strict=(2, 10, 2))
    records = await SqlCheckpointer(services.db).load_nodes(run.id)
    assert records["ask"].usage == expected(test__strict=(2, 10, 2))

    model.enqueue(ModelStep(output=[assistant_message('{"n": 7}')], usage=usage(6, 3)))
    await workflow_runs.retry(failed)
    done = await workflow_runs.wait(run.id)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.usage == expected(test__strict=(3, 16, 5))
