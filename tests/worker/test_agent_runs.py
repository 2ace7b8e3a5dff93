"""The run worker: recovery after a crash, stored trace spans, no trace export to OpenAI, and
compiled agents reused between runs (recompiled when a spec, a key or the tools change)."""

from __future__ import annotations

import asyncio
from typing import Any

from agents.testing import ModelCall, ModelStep, assistant_message, function_call
from agents.tracing import get_trace_provider

import nexus.worker.agent_runs as agent_runs
from nexus.agents.compiler import AgentBundle
from nexus.agents.spec import AgentSpec
from nexus.core.status import RunStatus
from nexus.observability.tracing import SpanCollector, install, trace_id_for
from nexus.tools.registry import ToolSpec
from nexus.worker.agent_runs import AgentRunner

INTERRUPTED = {"code": "interrupted", "message": "interrupted: the server stopped during the run"}


async def orphan(services, run_id: str, *, running: bool) -> None:
    """A run row as a process that died mid-run left it, with one event written."""
    await services.runs.create(
        run_id, agent_id=None, session_id=None, input={"input": "x"}, spec_snapshot={}
    )
    if running:
        assert await services.runs.mark_running(run_id)
    writer = await services.events.open(run_id)
    writer.emit("run_started", {"agent": "gone"})
    await writer.close()


async def test_recover_fails_runs_left_queued_or_running(services) -> None:
    await orphan(services, "run_running", running=True)
    await orphan(services, "run_queued", running=False)
    await services.runs.create(
        "run_done", agent_id=None, session_id=None, input={"input": "x"}, spec_snapshot={}
    )
    await services.runs.finish("run_done", RunStatus.SUCCEEDED, output="ok")

    assert await AgentRunner(services).recover() == 2
    for run_id in ("run_running", "run_queued"):
        run = await services.runs.get(run_id)
        assert (run.status, run.error, run.output) == (RunStatus.FAILED, INTERRUPTED, None)
        events = await services.events.read(run_id)
        assert [(e.seq, e.type, e.data) for e in events] == [
            (1, "run_started", {"agent": "gone"}),
            (2, "run_completed", {"status": "failed", "output": None, "error": INTERRUPTED}),
        ]
    assert (await services.runs.get("run_done")).status is RunStatus.SUCCEEDED
    assert await AgentRunner(services).recover() == 0


async def test_cancel_an_orphan_closes_it_here(services) -> None:
    await orphan(services, "run_orphan", running=True)
    cancelled = await AgentRunner(services).cancel("run_orphan")
    assert (cancelled.status, cancelled.error) == (
        RunStatus.CANCELLED,
        {"code": "cancelled", "message": "cancelled by request"},
    )
    events = await services.events.read("run_orphan")
    assert [e.type for e in events] == ["run_started", "run_completed"]


async def test_a_finished_run_has_stored_spans(services, providers) -> None:
    providers.scripted("traced").enqueue([assistant_message("done")])
    runner = AgentRunner(services)
    run = await runner.start(AgentSpec(name="traced", model="test:traced"), "hi")
    done = await runner.wait(run.id)
    assert (done.status, done.output) == (RunStatus.SUCCEEDED, "done")
    spans = await services.runs.spans(run.id)
    assert spans != []
    assert {s["trace_id"] for s in spans} == {trace_id_for(run.id)}
    assert "agent" in {s["kind"] for s in spans}
    assert services.spans.take(trace_id_for(run.id)) == []  # taken, not kept in memory


def test_trace_processors_are_only_our_collector() -> None:
    collector = install()
    assert install() is collector
    processors = get_trace_provider()._multi_processor._processors  # type: ignore[attr-defined]
    assert processors == (collector,)
    assert isinstance(collector, SpanCollector)


def test_trace_id_for_run_ids() -> None:
    trace_id = trace_id_for("run_01a2b3c4d5e6f7a8b9c0d1e2f3")
    assert trace_id == "trace_" + "run01a2b3c4d5e6f7a8b9c0d1e2f3".rjust(32, "0")
    assert len(trace_id_for("run_" + "a" * 60)) == len("trace_") + 32


TEXT_ARGUMENT = {
    "type": "object",
    "properties": {"text": {"type": "string"}},
    "required": ["text"],
    "additionalProperties": False,
}


def echo_tool(name: str = "echo") -> ToolSpec:
    async def handler(arguments: dict[str, Any]) -> str:
        return arguments["text"]

    return ToolSpec(name, "Echo the text.", TEXT_ARGUMENT, handler, category="module")


class CountCompiles:
    """Wraps ``compile_bundle`` as the runner calls it, counting the calls."""

    def __init__(self, monkeypatch) -> None:
        self.calls = 0
        original = agent_runs.compile_bundle

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(agent_runs, "compile_bundle", counted)


async def test_a_second_run_reuses_the_compiled_agents(services, providers, monkeypatch) -> None:
    compiles = CountCompiles(monkeypatch)
    model = providers.scripted("again")
    model.extend([[assistant_message("one")], [assistant_message("two")]])
    runner = AgentRunner(services)
    spec = AgentSpec(name="again", model="test:again")
    outputs = [(await runner.wait((await runner.start(spec, t)).id)).output for t in "ab"]
    assert outputs == ["one", "two"]
    assert compiles.calls == 1
    assert (runner.compiled_agents.hits, runner.compiled_agents.misses) == (1, 1)


async def test_an_edited_spec_or_a_registered_tool_compiles_again(
    services, providers, monkeypatch
) -> None:
    compiles = CountCompiles(monkeypatch)
    providers.scripted("edit")
    runner = AgentRunner(services)
    bundle = AgentBundle(AgentSpec(name="edit", model="test:edit", instructions="v1"))
    first = await runner.compile(bundle, None, None)
    assert await runner.compile(bundle, None, None) is first
    edited = AgentBundle(AgentSpec(name="edit", model="test:edit", instructions="v2"))
    assert (await runner.compile(edited, None, None)).root.instructions == "v2"
    assert compiles.calls == 2

    services.tools.register(echo_tool("echo_new"))  # the spec does not even use it
    assert await runner.compile(bundle, None, None) is not first
    services.tools.unregister("echo_new")
    await runner.compile(bundle, None, None)
    assert compiles.calls == 4


async def test_a_changed_provider_key_compiles_again(services, monkeypatch) -> None:
    compiles = CountCompiles(monkeypatch)
    runner = AgentRunner(services)
    bundle = AgentBundle(AgentSpec(name="keyed", model="openai:gpt-4.1-mini"))
    old = await services.vault.put("instance", provider="openai", name="k", secret="sk-old-1")
    first = await runner.compile(bundle, "usr_1", None)
    assert await runner.compile(bundle, "usr_2", None) is first  # same key resolved
    await services.vault.delete(old.id)
    await services.vault.put("instance", provider="openai", name="k", secret="sk-new-2")
    second = await runner.compile(bundle, "usr_1", None)
    assert second is not first
    assert second.root.model is not first.root.model  # a client with the new key
    assert compiles.calls == 2


async def test_the_runner_cache_is_bounded(services, providers) -> None:
    runner = AgentRunner(services, compiled_cache_size=2)
    for name in ("b1", "b2", "b3"):
        providers.scripted(name)
        await runner.compile(AgentBundle(AgentSpec(name=name, model=f"test:{name}")), None, None)
    assert len(runner.compiled_agents) == 2
    await runner.compile(AgentBundle(AgentSpec(name="b1", model="test:b1")), None, None)
    assert (runner.compiled_agents.hits, runner.compiled_agents.misses) == (0, 4)


def user_text(call: ModelCall) -> str:
    return next(i["content"] for i in call.input if isinstance(i, dict) and i.get("role") == "user")


def tool_output(call: ModelCall) -> str | None:
    outputs = [
        i["output"]
        for i in call.input
        if isinstance(i, dict) and i.get("type") == "function_call_output"
    ]
    return outputs[-1] if outputs else None


async def test_concurrent_runs_of_one_cached_agent_keep_their_own_outputs(
    services, providers, monkeypatch
) -> None:
    """Both runs are inside the same tool call of the same compiled agent at once."""
    compiles = CountCompiles(monkeypatch)
    both_inside = asyncio.Barrier(2)

    async def gate(arguments: dict[str, Any]) -> str:
        async with asyncio.timeout(5):
            await both_inside.wait()
        return f"gated {arguments['text']}"

    services.tools.register(ToolSpec("gate", "Wait for the other run.", TEXT_ARGUMENT, gate))

    def respond(call: ModelCall) -> list[Any]:
        text, output = user_text(call), tool_output(call)
        if output is None:
            return [function_call("gate", {"text": text}, call_id=f"call_{text}")]
        return [assistant_message(f"{text} -> {output}")]

    providers.scripted("shared").extend([ModelStep.respond(respond)] * 4)
    runner = AgentRunner(services)
    spec = AgentSpec.model_validate(
        {"name": "shared", "model": "test:shared", "tools": [{"name": "gate"}]}
    )
    runs = [await runner.start(spec, text) for text in ("left", "right")]
    done = await asyncio.gather(*(runner.wait(run.id) for run in runs))
    assert [(d.status, d.output) for d in done] == [
        (RunStatus.SUCCEEDED, "left -> gated left"),
        (RunStatus.SUCCEEDED, "right -> gated right"),
    ]
    assert compiles.calls == 1
    for run in runs:
        events = await services.events.read(run.id)
        called = [e.data for e in events if e.type == "tool_called"]
        assert [(c["tool"], c["arguments"]) for c in called] == [
            ("gate", f'{{"text":"{run.input["input"]}"}}')
        ]
