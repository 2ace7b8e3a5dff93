"""The run worker: recovery after a crash, stored trace spans, and no trace export to OpenAI."""

from __future__ import annotations

from agents.testing import assistant_message
from agents.tracing import get_trace_provider

from nexus.agents.spec import AgentSpec
from nexus.core.status import RunStatus
from nexus.observability.tracing import SpanCollector, install, trace_id_for
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
