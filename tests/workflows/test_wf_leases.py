"""Run leases: two workers on one database never execute the same run; a run whose worker
died is taken over (at once when that worker was on this host, after expiry elsewhere)."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from nexus.core.status import RunStatus
from nexus.store.event_log import RunEventLog
from nexus.store.tables import RunRow, utcnow
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.run_leases import process_alive
from nexus.worker.workflow_runs import WorkflowRuns
from nexus.worker.workflow_snapshots import snapshot


def slow(spec, seconds: float):  # type: ignore[no-untyped-def]
    return spec(
        [
            {"id": "start", "type": "input"},
            {"id": "wait", "type": "delay", "properties": {"seconds": seconds}},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["start->wait", "wait->out"],
    )


async def _lease(services, run_id: str) -> tuple[Any, Any]:  # type: ignore[no-untyped-def]
    async with services.db.sessions() as session:
        row = (
            await session.execute(
                sa.select(RunRow.lease_owner, RunRow.lease_until).where(RunRow.id == run_id)
            )
        ).one()
    return row[0], row[1]


async def _set_lease(services, run_id: str, owner: str, seconds: float) -> None:  # type: ignore[no-untyped-def]
    async with services.db.sessions.begin() as session:
        await session.execute(
            sa.update(RunRow)
            .where(RunRow.id == run_id)
            .values(lease_owner=owner, lease_until=utcnow() + timedelta(seconds=seconds))
        )


async def _queued_run(services, spec, run_id: str) -> None:  # type: ignore[no-untyped-def]
    await services.runs.create(
        run_id,
        agent_id=None,
        session_id=None,
        input={},
        spec_snapshot=snapshot(slow(spec, 0.01), None, None),
        kind="workflow",
    )


async def _until_running(workflow_runs: WorkflowRuns, run_id: str) -> None:
    for _ in range(500):
        if "wait" in await workflow_runs.checkpointer.load_nodes(run_id):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the run never reached its delay node")


async def test_a_second_worker_does_not_take_a_run_the_first_executes(services, spec) -> None:  # type: ignore[no-untyped-def]
    first = WorkflowRuns(services, AgentRunner(services))
    second = WorkflowRuns(services, AgentRunner(services))
    try:
        stored = await services.workflows.create(slow(spec, 0.5))
        run = await first.start(stored, {}, owner_id=None, workspace_id=None)
        await _until_running(first, run.id)
        owner, until = await _lease(services, run.id)
        assert owner == first.leases.owner and until is not None
        assert await second.recover() == 0  # running, but leased by a live worker
        assert not await second.leases.acquire(run.id)
        done = await first.wait(run.id)
        assert done.status is RunStatus.SUCCEEDED
        assert await _lease(services, run.id) == (None, None)  # released when it stopped
        events = await services.events.read(run.id)
        assert [e.type for e in events].count("run_completed") == 1
    finally:
        await first.shutdown()
        await second.shutdown()


async def test_an_expired_lease_is_taken_over_and_a_live_one_is_not(services, spec) -> None:  # type: ignore[no-untyped-def]
    await _queued_run(services, spec, "run_expired")
    await _queued_run(services, spec, "run_live")
    await _set_lease(services, "run_expired", "elsewhere:1:abcd", -5)
    await _set_lease(services, "run_live", "elsewhere:1:abcd", 60)
    worker = WorkflowRuns(services, AgentRunner(services))
    try:
        assert await worker.recover() == 1
        assert (await worker.wait("run_expired")).status is RunStatus.SUCCEEDED
        assert (await services.runs.get("run_live")).status is RunStatus.QUEUED
        assert await _lease(services, "run_live") != (None, None)
    finally:
        await worker.shutdown()


async def test_a_lease_of_a_dead_process_on_this_host_is_taken_at_once(services, spec) -> None:  # type: ignore[no-untyped-def]
    gone = await asyncio.create_subprocess_exec("true")
    await gone.wait()  # exited and reaped: that pid is no worker any more
    assert not process_alive(gone.pid) and process_alive(os.getpid())
    await _queued_run(services, spec, "run_orphan")
    await _set_lease(services, "run_orphan", f"{socket.gethostname()}:{gone.pid}:dead", 60)
    worker = WorkflowRuns(services, AgentRunner(services))
    try:
        assert await worker.recover() == 1
        assert (await worker.wait("run_orphan")).status is RunStatus.SUCCEEDED
    finally:
        await worker.shutdown()


async def test_a_worker_that_loses_its_lease_stops_executing(services, spec) -> None:  # type: ignore[no-untyped-def]
    worker = WorkflowRuns(services, AgentRunner(services), lease_ttl_s=0.3)
    try:
        stored = await services.workflows.create(slow(spec, 60))
        run = await worker.start(stored, {}, owner_id=None, workspace_id=None)
        await _until_running(worker, run.id)
        task = worker._tasks[run.id]
        await _set_lease(services, run.id, "elsewhere:1:thief", 60)  # another worker took it
        await asyncio.gather(task, return_exceptions=True)  # stops at the next renewal
        assert task.cancelled()
        stopped = await services.runs.get(run.id)
        assert stopped.status is RunStatus.RUNNING  # left for the lease holder, like a crash
        assert (await _lease(services, run.id))[0] == "elsewhere:1:thief"
    finally:
        await worker.shutdown()


async def test_runs_of_one_spec_share_a_compiled_plan_and_the_node_types(services, spec) -> None:  # type: ignore[no-untyped-def]
    worker = WorkflowRuns(services, AgentRunner(services))
    try:
        flow = slow(spec, 0.01).to_json()
        plan = worker.plan_for(flow)
        assert worker.plan_for(dict(reversed(list(flow.items())))) is plan  # key order ignored
        other = worker.plan_for({**flow, "name": "other"})
        assert other is not plan
        executor = worker.executor_for(None, None)
        assert executor.registry is worker.node_types
        stored = await services.workflows.create(slow(spec, 0.01))
        runs = [await worker.start(stored, {}, owner_id=None, workspace_id=None) for _ in range(2)]
        for run in runs:
            assert (await worker.wait(run.id)).status is RunStatus.SUCCEEDED
    finally:
        await worker.shutdown()


async def test_renewal_fails_once_the_run_was_finished_elsewhere(services, spec) -> None:  # type: ignore[no-untyped-def]
    """A run cancelled through another worker's API: the executing worker's next renewal
    fails, so it stops executing it (as when its lease is lost, tested above)."""
    worker = WorkflowRuns(services, AgentRunner(services))
    try:
        await _queued_run(services, spec, "run_elsewhere")
        assert await worker.leases.acquire("run_elsewhere")
        assert await worker.leases.renew("run_elsewhere")
        assert await services.runs.finish("run_elsewhere", RunStatus.CANCELLED)
        assert not await worker.leases.renew("run_elsewhere")
    finally:
        await worker.shutdown()


async def test_a_cancel_sent_to_another_worker_is_closed_by_the_executing_one(
    services, spec
) -> None:  # type: ignore[no-untyped-def]
    """Two processes in one: each worker has its own event log, as separate processes do. The
    worker that receives the cancel only marks the row; the executing worker stops within about
    a second and writes the run's last events, so the log has one writer and no clashing
    sequence numbers."""
    executing = WorkflowRuns(services, AgentRunner(services))
    other_services = dataclasses.replace(services, events=RunEventLog(services.db))
    other = WorkflowRuns(other_services, AgentRunner(other_services))
    try:
        stored = await services.workflows.create(slow(spec, 60))
        run = await executing.start(stored, {}, owner_id=None, workspace_id=None)
        await _until_running(executing, run.id)
        assert await other.leases.held_elsewhere(run.id)
        assert not await executing.leases.held_elsewhere(run.id)

        cancelled = await other.cancel(await services.runs.get(run.id))
        assert cancelled.status is RunStatus.CANCELLED
        task = executing._tasks[run.id]
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 5)
        assert not task.cancelled()  # it ended by closing the run, not as a crash

        stored_events = [e async for e in other_services.events.follow(run.id)]
        seqs = [e.seq for e in stored_events]
        assert seqs == list(range(1, len(seqs) + 1))  # gap-free, no duplicates
        assert [e.type for e in stored_events].count("run_completed") == 1
        assert stored_events[-1].type == "run_completed"
        assert stored_events[-1].data["status"] == "cancelled"
        assert (await _lease(services, run.id))[0] is None  # released
    finally:
        await executing.shutdown()
        await other.shutdown()
