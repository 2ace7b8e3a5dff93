"""Each built-in node type, with fake services where it needs the platform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nexus.core import events as ev
from nexus.core.status import RunStatus
from nexus.engine.executor import RunOutcome, WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.nodes.registry import default_node_types
from nexus.engine.services import Services, TokenCallback
from nexus.engine.spec import WorkflowSpec

SpecBuilder = Callable[..., WorkflowSpec]


async def _run_one(
    spec: SpecBuilder,
    node: dict[str, Any],
    inputs: dict[str, Any] | None = None,
    services: Services | None = None,
    sink: MemoryEventSink | None = None,
    limits: dict[str, Any] | None = None,
) -> RunOutcome:
    """input → node → output ``result``."""
    executor = WorkflowExecutor(InMemoryCheckpointer(), services=services or Services())
    wf = spec(
        [
            {"id": "in", "type": "input"},
            node,
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        [f"in->{node['id']}", f"{node['id']}->out"],
        limits=limits or {},
    )
    return await executor.start(
        executor.compile(wf), inputs or {}, events=sink or MemoryEventSink()
    )


def test_catalog_describes_every_builtin_type() -> None:
    catalog = default_node_types().describe()
    assert [c["type"] for c in catalog] == [
        "agent",
        "approval",
        "code",
        "condition",
        "delay",
        "http",
        "input",
        "llm",
        "loop",
        "merge",
        "output",
        "subworkflow",
        "switch",
        "tool",
        "transform",
    ]
    llm = next(c for c in catalog if c["type"] == "llm")
    assert llm["properties_schema"]["required"] == ["prompt", "model"]
    assert llm["outputs"] == [{"name": "output", "type": "any", "required": False}]


async def test_transform_json_and_text(spec: SpecBuilder) -> None:
    node = {
        "id": "t",
        "type": "transform",
        "properties": {"template": {"topic": "{{ inputs.t }}", "n": "{{ inputs.n * 2 }}"}},
    }
    assert (await _run_one(spec, node, {"t": "owls", "n": 2})).outputs == {
        "result": {"topic": "owls", "n": 4}
    }
    node = {"id": "t", "type": "transform", "properties": {"template": '{"a": {{ inputs.n }}}'}}
    assert (await _run_one(spec, node, {"n": 7})).outputs == {"result": {"a": 7}}
    node = {
        "id": "t",
        "type": "transform",
        "properties": {"template": "{{ inputs.n }}!", "output_type": "text"},
    }
    assert (await _run_one(spec, node, {"n": 7})).outputs == {"result": "7!"}


async def test_loop_keeps_order_and_respects_concurrency(spec: SpecBuilder) -> None:
    running = peak = 0

    async def tool(name: str, arguments: dict[str, Any], *, idempotency_key: str) -> Any:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        import asyncio

        await asyncio.sleep(0.001 * (10 - arguments["x"]))  # later items finish first
        running -= 1
        return arguments["x"] * 10

    node = {
        "id": "l",
        "type": "loop",
        "properties": {
            "items": "{{ inputs.xs }}",
            "concurrency": 3,
            "body": {
                "type": "tool",
                "properties": {"tool": "times", "arguments": {"x": "{{ item }}"}},
            },
        },
    }
    outcome = await _run_one(spec, node, {"xs": list(range(8))}, Services(tool=tool))
    assert outcome.outputs == {"result": [0, 10, 20, 30, 40, 50, 60, 70]}
    assert peak == 3


async def test_delay_passes_input_on(spec: SpecBuilder) -> None:
    node = {"id": "d", "type": "delay", "properties": {"seconds": 0}}
    assert (await _run_one(spec, node, {"a": 1})).outputs == {"result": {"a": 1}}


async def test_llm_streams_tokens_and_returns_text(spec: SpecBuilder) -> None:
    prompts: list[str] = []

    async def llm(
        prompt: str,
        *,
        model: str,
        system: str | None,
        schema: dict | None,
        on_token: TokenCallback | None,
    ) -> str:
        prompts.append(prompt)
        assert on_token is not None
        for part in ("Owls ", "hoot."):
            on_token(part)
        return "Owls hoot."

    sink = MemoryEventSink()
    node = {
        "id": "l",
        "type": "llm",
        "properties": {"prompt": "About {{ inputs.topic }}", "model": "local:m"},
    }
    outcome = await _run_one(spec, node, {"topic": "owls"}, Services(llm=llm), sink)
    assert outcome.outputs == {"result": "Owls hoot."}
    assert prompts == ["About owls"]
    assert sink.of(ev.TOKEN) == [
        {"node_id": "l", "delta": "Owls "},
        {"node_id": "l", "delta": "hoot."},
    ]


async def test_llm_repairs_invalid_json_then_validates(spec: SpecBuilder) -> None:
    answers = iter(["not json", '{"score": "high"}', '```json\n{"score": 9}\n```'])
    prompts: list[str] = []

    async def llm(prompt: str, **_: Any) -> str:
        prompts.append(prompt)
        return next(answers)

    schema = {"type": "object", "properties": {"score": {"type": "integer"}}, "required": ["score"]}
    node = {
        "id": "l",
        "type": "llm",
        "properties": {"prompt": "Rate", "model": "m", "output_schema": schema},
    }
    outcome = await _run_one(spec, node, {}, Services(llm=llm))
    assert outcome.outputs == {"result": {"score": 9}}
    assert len(prompts) == 3
    assert "not JSON" in prompts[1] and "score: 'high' is not of type 'integer'" in prompts[2]


async def test_llm_gives_up_after_max_repairs(spec: SpecBuilder) -> None:
    async def llm(prompt: str, **_: Any) -> str:
        return "[]"

    node = {
        "id": "l",
        "type": "llm",
        "properties": {
            "prompt": "p",
            "model": "m",
            "output_schema": {"type": "object"},
            "max_repairs": 1,
        },
    }
    outcome = await _run_one(spec, node, {}, Services(llm=llm))
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["code"] == "provider_error"
    assert "after 1 repair attempts" in outcome.error["message"]


async def test_agent_tool_http_nodes_call_their_services(spec: SpecBuilder) -> None:
    calls: list[tuple] = []

    async def agent(ref: str, value: Any, *, idempotency_key: str, on_token: Any) -> Any:
        calls.append(("agent", ref, value, idempotency_key.split(":", 1)[1]))
        return f"agent says {value}"

    async def tool(name: str, arguments: dict[str, Any], *, idempotency_key: str) -> Any:
        calls.append(("tool", name, arguments))
        return {"ok": True}

    async def http(method: str, url: str, *, headers: dict, body: Any, timeout_s: float) -> dict:
        calls.append(("http", method, url, headers, body, timeout_s))
        return {"status": 200, "headers": {}, "body": "hi"}

    services = Services(agent=agent, tool=tool, http=http)
    a = await _run_one(
        spec,
        {"id": "a", "type": "agent", "properties": {"agent": "writer", "input": "{{ inputs.q }}"}},
        {"q": "hi"},
        services,
    )
    t = await _run_one(
        spec,
        {
            "id": "t",
            "type": "tool",
            "properties": {"tool": "calc", "arguments": {"e": "{{ inputs.q }}"}},
        },
        {"q": "1+1"},
        services,
    )
    h = await _run_one(
        spec,
        {
            "id": "h",
            "type": "http",
            "properties": {
                "method": "POST",
                "url": "https://example.com/{{ inputs.q }}",
                "body": {"x": 1},
            },
        },
        {"q": "p"},
        services,
    )
    assert (a.outputs, t.outputs, h.outputs) == (
        {"result": "agent says hi"},
        {"result": {"ok": True}},
        {"result": {"status": 200, "headers": {}, "body": "hi"}},
    )
    assert calls == [
        ("agent", "writer", "hi", "a:1"),
        ("tool", "calc", {"e": "1+1"}),
        (
            "http",
            "POST",
            "https://example.com/p",
            {"Content-Type": "application/json"},
            '{"x": 1}',
            30.0,
        ),
    ]


async def test_http_refuses_other_schemes_and_missing_service_is_explained(
    spec: SpecBuilder,
) -> None:
    async def http(*_: Any, **__: Any) -> dict:
        raise AssertionError("never called")

    bad = await _run_one(
        spec,
        {"id": "h", "type": "http", "properties": {"url": "file:///etc/passwd"}},
        {},
        Services(http=http),
    )
    assert bad.error is not None and "Only http and https" in bad.error["message"]
    unwired = await _run_one(spec, {"id": "t", "type": "tool", "properties": {"tool": "x"}})
    assert unwired.error is not None
    assert unwired.error["code"] == "not_configured"
    assert "Services(tool=...)" in unwired.error["message"]


async def test_subworkflow_passes_depth_and_is_depth_limited(spec: SpecBuilder) -> None:
    seen: list[tuple] = []

    async def subworkflow(
        wid: str, version: int, inputs: dict, *, depth: int, idempotency_key: str
    ) -> dict:
        seen.append((wid, version, inputs, depth))
        return {"answer": 42}

    node = {
        "id": "s",
        "type": "subworkflow",
        "properties": {"workflow_id": "wf_1", "version": 3, "inputs": {"q": "{{ inputs.q }}"}},
    }
    outcome = await _run_one(spec, node, {"q": "why"}, Services(subworkflow=subworkflow))
    assert outcome.outputs == {"result": {"answer": 42}}
    assert seen == [("wf_1", 3, {"q": "why"}, 1)]
    deep = await _run_one(
        spec,
        node,
        {"q": "why"},
        Services(subworkflow=subworkflow),
        limits={"max_subworkflow_depth": 0},
    )
    assert deep.status is RunStatus.FAILED
    assert deep.error is not None and "max_subworkflow_depth" in deep.error["message"]


async def test_input_field_missing_is_a_clear_error(spec: SpecBuilder) -> None:
    executor = WorkflowExecutor(InMemoryCheckpointer())
    wf = spec([{"id": "in", "type": "input", "properties": {"field": "topic"}}], [])
    outcome = await executor.start(executor.compile(wf), {}, events=MemoryEventSink())
    assert outcome.error == {
        "code": "invalid_input",
        "message": "Workflow input 'topic' is missing; pass it or set a default.",
        "node": "in",
    }


@pytest.mark.parametrize("decision", [{"approved": False, "by": "bo"}])
async def test_approval_rejection_fires_rejected(spec: SpecBuilder, decision: dict) -> None:
    store = InMemoryCheckpointer()
    executor = WorkflowExecutor(store)
    wf = spec(
        [
            {"id": "ok", "type": "approval"},
            {"id": "out", "type": "output", "properties": {"name": "why"}},
        ],
        ["ok.decision->out"],
    )
    plan = executor.compile(wf)
    await executor.start(plan, {}, events=MemoryEventSink(), run_id="run_x")
    done = await executor.resume(
        plan, "run_x", events=MemoryEventSink(), decisions={"ok": decision}
    )
    assert done.outputs == {"why": decision}
