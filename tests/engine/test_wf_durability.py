"""Checkpoints: resume after a crash, retry from the failed node, rerun from a node, approvals."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from nexus.core import events as ev
from nexus.core.errors import ConflictError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeStatus
from nexus.engine.context import NodeContext
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.nodes.registry import NodeResult, NodeType, NodeTypeRegistry, default_node_types
from nexus.engine.spec import WorkflowSpec

SpecBuilder = Callable[..., WorkflowSpec]


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


class SideEffect(NodeType):
    """Counts executions per idempotency key; blocks while ``hold`` is set for its node."""

    name = "side_effect"
    description = "test side effect"
    properties_schema = {"type": "object", "properties": {"fail": {"type": "boolean"}}}

    def __init__(self) -> None:
        self.effects: Counter[str] = Counter()
        self.hold: dict[str, asyncio.Event] = {}
        self.fail = False

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        self.effects[ctx.idempotency_key] += 1
        if ctx.node_id in self.hold:
            await self.hold[ctx.node_id].wait()
        if self.fail and properties.get("fail"):
            raise RuntimeError("downstream service is down")
        return NodeResult({"output": f"{ctx.node_id}({inputs.get('input')})"})


@pytest.fixture
def effects() -> SideEffect:
    return SideEffect()


@pytest.fixture
def registry(effects: SideEffect) -> NodeTypeRegistry:
    registry = default_node_types()
    registry.register(effects)
    return registry


def _chain(spec: SpecBuilder) -> Any:
    return spec(
        [
            {"id": "in", "type": "input", "properties": {"field": "x"}},
            {"id": "a", "type": "side_effect"},
            {"id": "b", "type": "side_effect", "properties": {"fail": True}},
            {"id": "c", "type": "side_effect"},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["in->a", "a->b", "b->c", "c->out"],
    )


async def test_resume_after_crash_skips_completed_nodes_and_reuses_the_key(
    spec: SpecBuilder, registry: NodeTypeRegistry, effects: SideEffect
) -> None:
    store = InMemoryCheckpointer()
    first = WorkflowExecutor(store, registry=registry)
    plan = first.compile(_chain(spec))
    effects.hold["b"] = asyncio.Event()
    sink = MemoryEventSink()
    run = asyncio.create_task(first.start(plan, {"x": 1}, events=sink, run_id="run_1"))
    await _until(lambda: any(d["node_id"] == "b" for d in sink.of(ev.NODE_STARTED)))
    run.cancel()  # the process dies while b runs
    with pytest.raises(asyncio.CancelledError):
        await run
    assert store.runs["run_1"].status is RunStatus.RUNNING
    assert store.nodes["run_1"]["b"].status is NodeStatus.RUNNING

    effects.hold.clear()
    second = WorkflowExecutor(store, registry=registry)  # a new process
    sink2 = MemoryEventSink()
    outcome = await second.resume(second.compile(_chain(spec)), "run_1", events=sink2)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.outputs == {"result": "c(b(a(1)))"}
    assert [d["node_id"] for d in sink2.of(ev.NODE_STARTED)] == ["b", "c", "out"]
    assert effects.effects == Counter({"run_1:a:1": 1, "run_1:b:1": 2, "run_1:c:1": 1})


async def test_retry_from_the_failed_node(
    spec: SpecBuilder, registry: NodeTypeRegistry, effects: SideEffect
) -> None:
    executor = WorkflowExecutor(InMemoryCheckpointer(), registry=registry)
    plan = executor.compile(_chain(spec))
    effects.fail = True
    failed = await executor.start(plan, {"x": 1}, events=MemoryEventSink(), run_id="run_f")
    assert failed.status is RunStatus.FAILED
    assert failed.error == {
        "code": "node_error",
        "message": "RuntimeError: downstream service is down",
        "node": "b",
    }
    effects.fail = False
    sink = MemoryEventSink()
    outcome = await executor.retry(plan, "run_f", events=sink)
    assert outcome.status is RunStatus.SUCCEEDED
    assert [(d["node_id"], d["attempt"]) for d in sink.of(ev.NODE_STARTED)] == [
        ("b", 2),
        ("c", 1),
        ("out", 1),
    ]
    assert effects.effects["run_f:a:1"] == 1
    with pytest.raises(ConflictError):
        await executor.retry(plan, "run_f", events=sink)


async def test_rerun_from_a_node_with_edited_inputs(
    spec: SpecBuilder, registry: NodeTypeRegistry, effects: SideEffect
) -> None:
    executor = WorkflowExecutor(InMemoryCheckpointer(), registry=registry)
    plan = executor.compile(_chain(spec))
    done = await executor.start(plan, {"x": 1}, events=MemoryEventSink(), run_id="run_o")
    assert done.outputs == {"result": "c(b(a(1)))"}
    sink = MemoryEventSink()
    again = await executor.rerun_from(
        plan, "run_o", "b", events=sink, node_inputs={"input": "edited"}, run_id="run_r"
    )
    assert again.outputs == {"result": "c(b(edited))"}
    assert [d["node_id"] for d in sink.of(ev.NODE_STARTED)] == ["b", "c", "out"]
    assert effects.effects["run_o:a:1"] == 1 and "run_r:a:1" not in effects.effects


async def test_approval_pauses_and_resumes_in_a_new_executor(spec: SpecBuilder) -> None:
    store = InMemoryCheckpointer()
    wf = spec(
        [
            {"id": "in", "type": "input", "properties": {"field": "draft"}},
            {
                "id": "ok",
                "type": "approval",
                "properties": {"message": "Publish {{ inputs.draft }}?"},
            },
            {
                "id": "yes",
                "type": "transform",
                "properties": {"template": "published {{ input.input }}"},
            },
            {"id": "no", "type": "transform", "properties": {"template": "dropped"}},
            {"id": "m", "type": "merge", "properties": {"mode": "first"}},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["in->ok", "ok.approved->yes", "ok.rejected->no", "yes->m.a", "no->m.b", "m->out"],
    )
    first = WorkflowExecutor(store)
    sink = MemoryEventSink()
    paused = await first.start(first.compile(wf), {"draft": "post"}, events=sink, run_id="run_a")
    assert paused.status is RunStatus.WAITING
    assert paused.waiting == {
        "ok": {"kind": "approval", "message": "Publish post?", "approvers": [], "input": "post"}
    }
    assert sink.of(ev.NODE_WAITING) == [{"node_id": "ok", "request": paused.waiting["ok"]}]
    assert store.runs["run_a"].status is RunStatus.WAITING

    second = WorkflowExecutor(store)
    plan = second.compile(wf)
    still = await second.resume(plan, "run_a", events=MemoryEventSink())
    assert still.status is RunStatus.WAITING
    decision = {"approved": True, "by": "ana"}
    done = await second.resume(plan, "run_a", events=MemoryEventSink(), decisions={"ok": decision})
    assert done.status is RunStatus.SUCCEEDED
    assert done.outputs == {"result": "published post"}
    with pytest.raises(ConflictError):
        await second.resume(plan, "run_a", events=MemoryEventSink(), decisions={"ok": decision})
