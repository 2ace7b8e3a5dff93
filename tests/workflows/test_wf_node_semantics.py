"""Node semantics through the platform services: llm repair on a scripted model, the tool
node's idempotency key, POST through the SSRF-guarded requester, and cancelling a parent run
that is inside a sub-workflow."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from agents.testing import assistant_message

from nexus.core.status import RunStatus
from nexus.tools.http_fetch import HttpFetcher
from nexus.tools.registry import ToolSpec
from nexus.worker.platform_services import accepts_idempotency_key
from nexus.worker.workflow_runs import WorkflowRuns

SCHEMA = {
    "type": "object",
    "properties": {"score": {"type": "integer"}},
    "required": ["score"],
    "additionalProperties": False,
}


async def _run(workflow_runs: WorkflowRuns, services, spec, inputs):  # type: ignore[no-untyped-def]
    stored = await services.workflows.create(spec)
    run = await workflow_runs.start(stored, inputs, owner_id=None, workspace_id=None)
    return await workflow_runs.wait(run.id)


def rate(spec, max_repairs: int = 2):  # type: ignore[no-untyped-def]
    return spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "rate",
                "type": "llm",
                "properties": {
                    "model": "test:rater",
                    "prompt": "Rate {{ inputs.thing }}",
                    "output_schema": SCHEMA,
                    "max_repairs": max_repairs,
                },
            },
            {"id": "out", "type": "output", "properties": {"name": "rating"}},
        ],
        ["start->rate", "rate->out"],
    )


async def test_llm_node_repairs_invalid_answers_from_a_scripted_model(
    services, providers, workflow_runs: WorkflowRuns, spec
) -> None:
    model = providers.scripted("rater")
    model.enqueue([assistant_message("sure, it is great")])
    model.enqueue([assistant_message('{"score": "high"}')])
    model.enqueue([assistant_message('{"score": 9}')])
    done = await _run(workflow_runs, services, rate(spec), {"thing": "owls"})
    assert (done.status, done.output) == (RunStatus.SUCCEEDED, {"rating": {"score": 9}})
    events = await services.events.read(done.id)
    assert [e.data["node_id"] for e in events if e.type == "node_completed"] == [
        "start",
        "rate",
        "out",
    ]


async def test_llm_node_fails_after_bounded_repairs(
    services, providers, workflow_runs: WorkflowRuns, spec
) -> None:
    model = providers.scripted("rater")
    for _ in range(2):
        model.enqueue([assistant_message("[1, 2]")])
    model.enqueue([assistant_message('{"score": 1}')])  # never asked for
    done = await _run(workflow_runs, services, rate(spec, max_repairs=1), {"thing": "owls"})
    assert done.status is RunStatus.FAILED
    assert done.error is not None and done.error["code"] == "provider_error"
    assert "after 1 repair attempts" in done.error["message"]


def test_accepts_idempotency_key_reads_the_handler_signature() -> None:
    async def keyed(arguments: dict[str, Any], *, idempotency_key: str | None = None) -> None: ...

    async def plain(arguments: dict[str, Any]) -> None: ...

    async def anything(arguments: dict[str, Any], **kwargs: Any) -> None: ...

    assert accepts_idempotency_key(keyed)
    assert not accepts_idempotency_key(plain)
    assert not accepts_idempotency_key(anything)


async def test_tool_node_passes_its_idempotency_key_to_tools_that_take_one(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    keys: list[str | None] = []

    async def charge(arguments: dict[str, Any], *, idempotency_key: str | None = None) -> Any:
        keys.append(idempotency_key)
        return {"charged": arguments["cents"]}

    services.tools.register(
        ToolSpec(
            name="charge",
            description="Charges once per key.",
            parameters={
                "type": "object",
                "properties": {"cents": {"type": "integer"}},
                "required": ["cents"],
                "additionalProperties": False,
            },
            handler=charge,
        )
    )
    flow = spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "pay",
                "type": "tool",
                "properties": {"tool": "charge", "arguments": {"cents": 5}},
            },
            {
                "id": "calc",
                "type": "tool",
                "properties": {"tool": "calculator", "arguments": {"expression": "2+3"}},
            },
            {"id": "out", "type": "output", "properties": {"name": "paid"}},
            {"id": "sum", "type": "output", "properties": {"name": "sum"}},
        ],
        ["start->pay", "pay->out", "start->calc", "calc->sum"],
    )
    done = await _run(workflow_runs, services, flow, {})
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output["paid"] == {"charged": 5}
    assert "5" in str(done.output["sum"])
    assert keys == [f"{done.id}:pay:1"]


async def test_http_node_posts_json_through_the_guarded_requester(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    seen: list[httpx.Request] = []

    async def resolve(host: str, port: int) -> list[str]:
        return {"api.example": ["93.184.216.34"], "inside.example": ["10.0.0.1"]}[host]

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": 1, "got": json.loads(request.content)})

    services.http_fetcher = HttpFetcher(
        resolver=resolve, transport_factory=lambda: httpx.MockTransport(answer)
    )
    flow = spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "post",
                "type": "http",
                "properties": {
                    "method": "POST",
                    "url": "{{ inputs.url }}",
                    "headers": {"X-Key": "{{ inputs.key }}"},
                    "body": {"name": "{{ inputs.name }}"},
                },
            },
            {"id": "out", "type": "output", "properties": {"name": "response"}},
        ],
        ["start->post", "post->out"],
    )
    inputs = {"url": "http://api.example/items", "key": "k1", "name": "owl"}
    done = await _run(workflow_runs, services, flow, inputs)
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output["response"]["status"] == 201
    assert done.output["response"]["body"] == {"id": 1, "got": {"name": "owl"}}
    (request,) = seen
    assert (request.method, request.headers["x-key"]) == ("POST", "k1")
    assert request.headers["content-type"] == "application/json"
    blocked = await _run(
        workflow_runs,
        services,
        flow.model_copy(update={"name": "b"}),
        {**inputs, "url": "http://inside.example/"},
    )
    assert blocked.status is RunStatus.FAILED
    assert blocked.error is not None and blocked.error["code"] == "ssrf_blocked"
    assert len(seen) == 1


async def test_cancelling_a_parent_cancels_its_running_sub_workflow_runs(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    def nested(name: str, body: dict[str, Any]):  # type: ignore[no-untyped-def]
        return spec(
            [{"id": "start", "type": "input"}, body, {"id": "out", "type": "output"}],
            ["start->" + body["id"], body["id"] + "->out"],
        ).model_copy(update={"name": name})

    leaf = await services.workflows.create(
        nested("leaf", {"id": "wait", "type": "delay", "properties": {"seconds": 60}})
    )
    await services.workflows.publish(leaf.id)
    middle = await services.workflows.create(
        nested(
            "middle",
            {
                "id": "call",
                "type": "subworkflow",
                "properties": {"workflow_id": leaf.id, "version": 1},
            },
        )
    )
    await services.workflows.publish(middle.id)
    top = await services.workflows.create(
        nested(
            "top",
            {
                "id": "call",
                "type": "subworkflow",
                "properties": {"workflow_id": middle.id, "version": 1},
            },
        )
    )
    parent = await workflow_runs.start(top, {}, owner_id=None, workspace_id=None)
    for _ in range(500):  # until the innermost run is executing its delay
        runs, total = await services.runs.list()
        leaf_runs = [r for r in runs if r.spec_snapshot.get("depth") == 2]
        if leaf_runs and "wait" in await workflow_runs.checkpointer.load_nodes(leaf_runs[0].id):
            break
        await asyncio.sleep(0.01)
    else:
        raise AssertionError("the sub-workflow never started")
    assert total == 3
    cancelled = await workflow_runs.cancel(parent)
    assert cancelled.status is RunStatus.CANCELLED
    runs, _ = await services.runs.list()
    by_depth = {r.spec_snapshot.get("depth", 0): r for r in runs}
    assert {d: r.status for d, r in by_depth.items()} == {
        0: RunStatus.CANCELLED,
        1: RunStatus.CANCELLED,
        2: RunStatus.CANCELLED,
    }
    assert by_depth[1].spec_snapshot["parent_run_id"] == parent.id
    assert by_depth[2].spec_snapshot["parent_run_id"] == by_depth[1].id
    for run in runs:
        events = await services.events.read(run.id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.type for e in events].count("run_completed") == 1
    # nothing is left for a restart to resume
    assert await WorkflowRuns(services, workflow_runs.agents).recover() == 0
