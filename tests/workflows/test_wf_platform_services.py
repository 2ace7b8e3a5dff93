"""The engine's services wired to the platform: llm and agent nodes on scripted models, tool
nodes through the tool registry, http nodes through the SSRF-guarded fetcher, sub-workflows
through the repository (a child run whose id follows the parent node's idempotency key)."""

from __future__ import annotations

import httpx
from agents.testing import assistant_message

from nexus.agents.spec import AgentSpec
from nexus.core.status import RunStatus
from nexus.tools.http_fetch import HttpFetcher
from nexus.worker.workflow_runs import WorkflowRuns


async def _run(workflow_runs: WorkflowRuns, services, spec, inputs):  # type: ignore[no-untyped-def]
    stored = await services.workflows.create(spec)
    run = await workflow_runs.start(stored, inputs, owner_id=None, workspace_id=None)
    return await workflow_runs.wait(run.id)


async def test_llm_and_agent_nodes_use_the_providers(
    services, providers, workflow_runs: WorkflowRuns, spec
) -> None:
    providers.scripted("writer").enqueue([assistant_message("a poem")])
    providers.scripted("critic").enqueue([assistant_message("fine")])
    await services.agents.create(AgentSpec(name="critic", model="test:critic"))
    flow = spec(
        [
            {"id": "start", "type": "input", "properties": {"field": "topic"}},
            {
                "id": "write",
                "type": "llm",
                "properties": {"model": "test:writer", "prompt": "poem on {{ input.input }}"},
            },
            {"id": "review", "type": "agent", "properties": {"agent": "critic"}},
            {"id": "poem", "type": "output", "properties": {"name": "poem"}},
            {"id": "verdict", "type": "output", "properties": {"name": "verdict"}},
        ],
        ["start->write", "write->poem", "write->review", "review->verdict"],
    )
    done = await _run(workflow_runs, services, flow, {"topic": "sea"})
    assert (done.status, done.output) == (
        RunStatus.SUCCEEDED,
        {"poem": "a poem", "verdict": "fine"},
    )


async def test_tool_node_fails_on_a_tool_error(services, workflow_runs: WorkflowRuns, spec) -> None:
    flow = spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "calc",
                "type": "tool",
                "properties": {"tool": "calculator", "arguments": {"expression": "6*7"}},
            },
            {"id": "out", "type": "output", "properties": {"name": "value"}},
        ],
        ["start->calc", "calc->out"],
    )
    done = await _run(workflow_runs, services, flow, {})
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert "42" in str(done.output["value"])
    broken = flow.model_copy(update={"name": "broken"}, deep=True)
    broken.nodes[1].properties["arguments"] = {"nope": 1}
    failed = await _run(workflow_runs, services, broken, {})
    assert failed.status is RunStatus.FAILED
    assert failed.error is not None and failed.error["node"] == "calc"


async def test_http_node_goes_through_the_ssrf_guard(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    async def resolve(host: str, port: int) -> list[str]:
        return {"api.example": ["93.184.216.34"], "inside.example": ["10.0.0.1"]}[host]

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"ok": True})

    services.http_fetcher = HttpFetcher(
        resolver=resolve, transport_factory=lambda: httpx.MockTransport(answer)
    )
    flow = spec(
        [
            {"id": "start", "type": "input"},
            {"id": "get", "type": "http", "properties": {"url": "{{ inputs.url }}"}},
            {"id": "out", "type": "output", "properties": {"name": "response"}},
        ],
        ["start->get", "get->out"],
    )
    done = await _run(workflow_runs, services, flow, {"url": "http://api.example/x"})
    assert done.status is RunStatus.SUCCEEDED, done.error
    assert done.output["response"]["status"] == 200
    stored = await services.workflows.by_name("test", None)
    run = await workflow_runs.start(
        stored, {"url": "http://inside.example/"}, owner_id=None, workspace_id=None
    )
    blocked = await workflow_runs.wait(run.id)
    assert blocked.status is RunStatus.FAILED and blocked.error["node"] == "get"


async def test_subworkflow_runs_a_pinned_version_as_a_child_run(
    services, workflow_runs: WorkflowRuns, spec
) -> None:
    child = spec(
        [
            {"id": "start", "type": "input", "properties": {"field": "n"}},
            {
                "id": "double",
                "type": "transform",
                "properties": {"template": "{{ input.input * 2 }}"},
            },
            {"id": "out", "type": "output", "properties": {"name": "doubled"}},
        ],
        ["start->double", "double->out"],
    ).model_copy(update={"name": "child"})
    stored_child = await services.workflows.create(child)
    await services.workflows.publish(stored_child.id)
    parent = spec(
        [
            {"id": "start", "type": "input"},
            {
                "id": "call",
                "type": "subworkflow",
                "properties": {"workflow_id": stored_child.id, "version": 1},
            },
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["start->call", "call->out"],
    ).model_copy(update={"name": "parent"})
    done = await _run(workflow_runs, services, parent, {"n": 21})
    assert (done.status, done.output) == (RunStatus.SUCCEEDED, {"result": {"doubled": 42}})
    runs, total = await services.runs.list()
    assert total == 2
    sub = next(r for r in runs if r.id != done.id)
    assert sub.spec_snapshot["depth"] == 1 and sub.spec_snapshot["version"] == 1
