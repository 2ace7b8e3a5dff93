"""Executor: routing, concurrency without supersteps, policies, limits, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from nexus.core import events as ev
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeStatus
from nexus.engine.context import NodeContext
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.nodes.registry import NodeResult, NodeType, default_node_types
from nexus.engine.spec import WorkflowSpec

SpecBuilder = Callable[..., WorkflowSpec]


async def _until(predicate: Callable[[], bool]) -> None:
    for _ in range(100_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("condition never became true")


class Gate(NodeType):
    """Waits on a named asyncio.Event from the test, then passes its input on."""

    name = "gate"
    description = "test gate"
    properties_schema = {"type": "object", "properties": {"gate": {"type": "string"}}}

    def __init__(self) -> None:
        self.gates: dict[str, asyncio.Event] = {}
        self.calls: list[str] = []

    def gate(self, name: str) -> asyncio.Event:
        return self.gates.setdefault(name, asyncio.Event())

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        self.calls.append(ctx.idempotency_key)
        await self.gate(properties["gate"]).wait()
        return NodeResult({"output": inputs.get("input", properties["gate"])})


class Flaky(NodeType):
    """Fails the first ``fail_times`` calls."""

    name = "flaky"
    description = "test flaky"
    properties_schema = {"type": "object", "properties": {"fail_times": {"type": "integer"}}}

    def __init__(self) -> None:
        self.calls = 0

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        self.calls += 1
        if self.calls <= properties.get("fail_times", 1_000):
            raise RuntimeError(f"boom {self.calls}")
        return NodeResult({"output": "ok"})


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def flaky() -> Flaky:
    return Flaky()


@pytest.fixture
def executor(checkpointer: InMemoryCheckpointer, gate: Gate, flaky: Flaky) -> WorkflowExecutor:
    registry = default_node_types()
    registry.register(gate)
    registry.register(flaky)
    return WorkflowExecutor(checkpointer, registry=registry)


def _out(name: str = "result") -> dict[str, Any]:
    return {"id": name, "type": "output", "properties": {"name": name}}


async def test_condition_routes_and_skips_untaken_branch(
    executor: WorkflowExecutor, spec: SpecBuilder, sink: MemoryEventSink
) -> None:
    wf = spec(
        [
            {"id": "in", "type": "input", "properties": {"field": "n"}},
            {"id": "c", "type": "condition", "properties": {"expression": "inputs.n > 3"}},
            {"id": "big", "type": "transform", "properties": {"template": "big {{ input.input }}"}},
            {"id": "small", "type": "transform", "properties": {"template": "small"}},
            {"id": "after_small", "type": "transform", "properties": {"template": "x"}},
            {"id": "m", "type": "merge"},
            _out(),
        ],
        [
            "in->c",
            "c.true->big",
            "c.false->small",
            "small->after_small",
            "big->m.a",
            "after_small->m.b",
            "m->result",
        ],
    )
    plan = executor.compile(wf)
    outcome = await executor.start(plan, {"n": 5}, events=sink)
    assert outcome.status is RunStatus.SUCCEEDED
    assert outcome.outputs == {"result": ["big 5"]}
    assert {d["node_id"] for d in sink.of(ev.NODE_SKIPPED)} == {"small", "after_small"}
    assert sink.types()[-1] == ev.RUN_COMPLETED
    assert sink.of(ev.RUN_COMPLETED)[-1] == {
        "status": "succeeded",
        "outputs": {"result": ["big 5"]},
        "error": None,
    }


async def test_switch_fires_first_matching_case(
    executor: WorkflowExecutor, spec: SpecBuilder, sink: MemoryEventSink
) -> None:
    cases = [
        {"port": "low", "when": "input.input < 10"},
        {"port": "mid", "when": "input.input < 100"},
    ]
    wf = spec(
        [
            {"id": "in", "type": "input", "properties": {"field": "n"}},
            {"id": "s", "type": "switch", "properties": {"cases": cases}},
            {"id": "low", "type": "transform", "properties": {"template": "low"}},
            {"id": "mid", "type": "transform", "properties": {"template": "mid"}},
            {"id": "dflt", "type": "transform", "properties": {"template": "big"}},
            {"id": "m", "type": "merge", "properties": {"mode": "first"}},
            _out(),
        ],
        [
            "in->s",
            "s.low->low",
            "s.mid->mid",
            "s.default->dflt",
            "low->m.a",
            "mid->m.b",
            "dflt->m.c",
            "m->result",
        ],
    )
    plan = executor.compile(wf)
    results = [(await executor.start(plan, {"n": n}, events=sink)).outputs for n in (5, 50, 500)]
    assert results == [{"result": "low"}, {"result": "mid"}, {"result": "big"}]


async def test_independent_branches_overlap_and_fast_branch_is_not_held_back(
    executor: WorkflowExecutor, spec: SpecBuilder, gate: Gate, sink: MemoryEventSink
) -> None:
    wf = spec(
        [
            {"id": "slow", "type": "gate", "properties": {"gate": "slow"}},
            {"id": "fast", "type": "gate", "properties": {"gate": "fast"}},
            {"id": "fast2", "type": "transform", "properties": {"template": "after fast"}},
            {"id": "m", "type": "merge"},
            _out(),
        ],
        ["slow->m.a", "fast->fast2", "fast2->m.b", "m->result"],
    )
    plan = executor.compile(wf)
    run = asyncio.create_task(executor.start(plan, {}, events=sink))
    gate.gate("fast").set()
    await _until(lambda: any(d["node_id"] == "fast2" for d in sink.of(ev.NODE_COMPLETED)))
    # the fast branch finished its whole chain while the slow node is still running
    started = [d["node_id"] for d in sink.of(ev.NODE_STARTED)]
    completed = [d["node_id"] for d in sink.of(ev.NODE_COMPLETED)]
    assert "slow" in started and "slow" not in completed
    assert not run.done()
    gate.gate("slow").set()
    outcome = await run
    assert outcome.outputs == {"result": ["slow", "after fast"]}


async def test_retries_with_backoff_then_succeeds(
    executor: WorkflowExecutor, spec: SpecBuilder, flaky: Flaky, sink: MemoryEventSink
) -> None:
    node = {
        "id": "f",
        "type": "flaky",
        "properties": {"fail_times": 2},
        "policy": {"retries": 2, "backoff_s": 0.001},
    }
    plan = executor.compile(spec([node, _out()], ["f->result"]))
    outcome = await executor.start(plan, {}, events=sink)
    assert outcome.status is RunStatus.SUCCEEDED
    assert [d["will_retry"] for d in sink.of(ev.NODE_FAILED)] == [True, True]
    assert [d["attempt"] for d in sink.of(ev.NODE_STARTED) if d["node_id"] == "f"] == [1, 2, 3]


@pytest.mark.parametrize(
    ("on_error", "status", "outputs"),
    [
        ("fail", RunStatus.FAILED, {}),
        ("continue", RunStatus.SUCCEEDED, {"result": "fallback"}),
        ("error_port", RunStatus.SUCCEEDED, {"handled": "caught: RuntimeError: boom 1"}),
    ],
)
async def test_on_error_policies(
    executor: WorkflowExecutor,
    spec: SpecBuilder,
    sink: MemoryEventSink,
    on_error: str,
    status: RunStatus,
    outputs: dict[str, Any],
) -> None:
    nodes = [
        {"id": "f", "type": "flaky", "policy": {"on_error": on_error, "default": "fallback"}},
        _out(),
    ]
    edges = ["f->result"]
    if on_error == "error_port":
        nodes.append(
            {
                "id": "h",
                "type": "transform",
                "properties": {"template": "caught: {{ input.input.message }}"},
            }
        )
        nodes.append(_out("handled"))
        edges += ["f.error->h", "h->handled"]
    outcome = await executor.start(executor.compile(spec(nodes, edges)), {}, events=sink)
    assert outcome.status is status
    assert outcome.outputs == outputs
    if status is RunStatus.FAILED:
        assert outcome.error == {
            "code": "node_error",
            "message": "RuntimeError: boom 1",
            "node": "f",
        }
        assert sink.types()[-2:] == [ev.RUN_FAILED, ev.RUN_COMPLETED]


async def test_node_timeout_is_a_failure(
    executor: WorkflowExecutor, spec: SpecBuilder, sink: MemoryEventSink
) -> None:
    node = {
        "id": "g",
        "type": "gate",
        "properties": {"gate": "never"},
        "policy": {"timeout_s": 0.01},
    }
    outcome = await executor.start(executor.compile(spec([node], [])), {}, events=sink)
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["code"] == "timeout"


async def test_cancel_stops_a_running_run(
    executor: WorkflowExecutor,
    spec: SpecBuilder,
    checkpointer: InMemoryCheckpointer,
    sink: MemoryEventSink,
) -> None:
    plan = executor.compile(spec([{"id": "g", "type": "gate", "properties": {"gate": "x"}}], []))
    run = asyncio.create_task(executor.start(plan, {}, events=sink, run_id="run_c"))
    await _until(lambda: sink.of(ev.NODE_STARTED))
    assert await executor.cancel("run_c") is True
    outcome = await run
    assert outcome.status is RunStatus.CANCELLED
    assert checkpointer.runs["run_c"].status is RunStatus.CANCELLED
    assert sink.of(ev.RUN_COMPLETED)[-1]["status"] == "cancelled"
    assert await executor.cancel("run_c") is False


@pytest.mark.parametrize(
    ("limits", "node", "message"),
    [
        (
            {"max_steps": 2},
            {
                "id": "l",
                "type": "loop",
                "properties": {
                    "items": [1, 2, 3],
                    "body": {"type": "transform", "properties": {"template": "{{ item }}"}},
                },
            },
            "max_steps",
        ),
        (
            {"max_loop_iterations": 2},
            {
                "id": "l",
                "type": "loop",
                "properties": {
                    "items": [1, 2, 3],
                    "body": {"type": "transform", "properties": {"template": "{{ item }}"}},
                },
            },
            "max_loop_iterations",
        ),
        (
            {"max_payload_bytes": 100},
            {"id": "t", "type": "transform", "properties": {"template": "{{ 'x' * 500 }}"}},
            "max_payload_bytes",
        ),
        (
            {"max_run_time_s": 0.02},
            {"id": "d", "type": "delay", "properties": {"seconds": 0.01}, "policy": {"retries": 0}},
            None,
        ),
    ],
)
async def test_limits_fail_the_run_with_a_clear_error(
    executor: WorkflowExecutor,
    spec: SpecBuilder,
    sink: MemoryEventSink,
    limits: dict[str, Any],
    node: dict[str, Any],
    message: str | None,
) -> None:
    if message is None:  # run time: a gate that never opens
        node = {"id": "g", "type": "gate", "properties": {"gate": "never"}}
        message = "max_run_time_s"
    outcome = await executor.start(
        executor.compile(spec([node], [], limits=limits)), {}, events=sink
    )
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None
    assert outcome.error["code"] == "limit_exceeded"
    assert message in outcome.error["message"]


async def test_workflow_inputs_are_checked_against_the_input_schema(
    executor: WorkflowExecutor, spec: SpecBuilder, sink: MemoryEventSink
) -> None:
    from nexus.core.errors import InvalidInputError

    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    plan = executor.compile(spec([{"id": "in", "type": "input"}], [], inputs=schema))
    with pytest.raises(InvalidInputError) as caught:
        await executor.start(plan, {"n": "x"}, events=sink)
    assert caught.value.details == [
        {"node": None, "field": "inputs.n", "message": "'x' is not of type 'integer'"}
    ]


async def test_a_failing_branch_stops_the_chain_the_executing_task_runs_itself(
    executor: WorkflowExecutor,
    spec: SpecBuilder,
    checkpointer: InMemoryCheckpointer,
    gate: Gate,
    sink: MemoryEventSink,
) -> None:
    """The first source's chain runs in the task that awaits the run; a failure elsewhere
    interrupts the node it is blocked in, as it cancels every other task."""
    wf = spec(
        [
            {"id": "blocked", "type": "gate", "properties": {"gate": "never"}},
            {"id": "after", "type": "gate", "properties": {"gate": "open"}},
            {"id": "bad", "type": "transform", "properties": {"template": "{{ 1 / 0 }}"}},
        ],
        ["blocked->after"],
    )
    gate.gate("open").set()
    outcome = await executor.start(executor.compile(wf), {}, events=sink, run_id="run_f")
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["node"] == "bad"
    records = checkpointer.nodes["run_f"]
    assert records["blocked"].status is NodeStatus.RUNNING  # interrupted, not completed
    assert "after" not in records
    assert sink.of(ev.RUN_COMPLETED)[-1]["status"] == "failed"


async def test_a_crash_while_the_run_is_being_stopped_still_propagates(
    executor: WorkflowExecutor,
    spec: SpecBuilder,
    checkpointer: InMemoryCheckpointer,
    sink: MemoryEventSink,
) -> None:
    plan = executor.compile(spec([{"id": "g", "type": "gate", "properties": {"gate": "x"}}], []))
    run = asyncio.create_task(executor.start(plan, {}, events=sink, run_id="run_x"))
    await _until(lambda: sink.of(ev.NODE_STARTED))
    assert await executor.cancel("run_x") is True  # our own interrupt of the inline node
    run.cancel()  # and the process going down at the same moment
    with pytest.raises(asyncio.CancelledError):
        await run
    assert checkpointer.runs["run_x"].status is RunStatus.RUNNING  # resumable, like a crash
