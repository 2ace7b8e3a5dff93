"""The run event log: per-run contiguous sequence numbers, batched inserts, replay + live
follow, and writers reopened after a restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy.exc import IntegrityError

from nexus.core.events import RUN_COMPLETED, RunEvent
from nexus.core.status import RunStatus
from nexus.store import event_log
from nexus.store.db import Database
from nexus.store.event_log import EventBus, RunEventLog
from nexus.store.run_repository import RunRepository


@pytest.fixture
def log(db: Database) -> RunEventLog:
    return RunEventLog(db)


async def new_run(db: Database, run_id: str) -> str:
    await RunRepository(db).create(
        run_id, agent_id=None, session_id=None, input={"input": "x"}, spec_snapshot={}
    )
    return run_id


def shape(events: list[RunEvent]) -> list[tuple[str, int, str, dict]]:
    return [(e.run_id, e.seq, e.type, e.data) for e in events]


async def collect(stream: AsyncIterator[RunEvent]) -> list[RunEvent]:
    return [event async for event in stream]


async def test_seq_is_contiguous_per_run_and_everything_is_stored_after_close(db, log) -> None:
    a, b = await new_run(db, "run_a"), await new_run(db, "run_b")
    wa, wb = await log.open(a), await log.open(b)
    for i in range(5):
        wa.emit("token", {"i": i})
        if i % 2:
            await asyncio.sleep(0)  # some inserts happen between emits
        wb.emit("token", {"i": i})
    wa.emit(RUN_COMPLETED, {})
    await wa.close()
    await wb.close()
    assert shape(await log.read(a)) == [
        *[(a, i + 1, "token", {"i": i}) for i in range(5)],
        (a, 6, RUN_COMPLETED, {}),
    ]
    assert shape(await log.read(b)) == [(b, i + 1, "token", {"i": i}) for i in range(5)]
    assert shape(await log.read(a, 4)) == shape((await log.read(a))[4:])
    assert (wa.last_seq, wb.last_seq) == (6, 5)


async def test_events_of_one_loop_iteration_share_one_insert(db, log, monkeypatch) -> None:
    run_id = await new_run(db, "run_batch")
    batches: list[list[int]] = []
    insert = log.insert

    async def counting(events: list[RunEvent]) -> None:
        batches.append([e.seq for e in events])
        await insert(events)

    monkeypatch.setattr(log, "insert", counting)
    writer = await log.open(run_id)
    for i in range(50):
        writer.emit("token", {"i": i})
    await writer.flush()
    writer.emit("token", {"i": 50})
    await writer.close()
    assert batches == [list(range(1, 51)), [51]]
    assert [e.seq for e in await log.read(run_id)] == list(range(1, 52))


async def test_close_does_not_wait_for_the_batching_timer(db, log, monkeypatch) -> None:
    monkeypatch.setattr(event_log, "FLUSH_INTERVAL_S", 3600.0)
    run_id = await new_run(db, "run_close")
    writer = log.open_new(run_id)
    writer.emit("token", {})
    writer.emit(RUN_COMPLETED, {})
    await asyncio.wait_for(writer.close(), 5)
    assert [e.seq for e in await log.read(run_id)] == [1, 2]


async def test_the_timer_inserts_without_a_flush_and_batches_stay_in_order(
    db, log, monkeypatch
) -> None:
    monkeypatch.setattr(event_log, "FLUSH_INTERVAL_S", 0.0)
    run_id = await new_run(db, "run_timer")
    batches: list[list[int]] = []
    insert = log.insert

    async def slow(events: list[RunEvent]) -> None:
        batches.append([e.seq for e in events])
        await asyncio.sleep(0.02)  # events emitted meanwhile wait for this batch
        await insert(events)

    monkeypatch.setattr(log, "insert", slow)
    writer = log.open_new(run_id)
    writer.emit("token", {"i": 0})
    for _ in range(100):  # the timer starts the insert; no flush asked for
        await asyncio.sleep(0.005)
        if batches:
            break
    writer.emit("token", {"i": 1})
    writer.emit("token", {"i": 2})
    flush = asyncio.create_task(writer.flush())
    await asyncio.sleep(0)
    writer.emit("token", {"i": 3})  # while flush() waits for the running batch
    await asyncio.wait_for(flush, 5)
    assert [e.seq for e in await log.read(run_id)] == [1, 2, 3, 4]
    assert batches == [[1], [2, 3, 4]]
    await writer.close()


async def test_a_reopened_writer_continues_the_numbering(db, log) -> None:
    run_id = await new_run(db, "run_again")
    first = await log.open(run_id)
    first.emit("run_started", {})
    first.emit("token", {"delta": "a"})
    await first.close()
    restarted = RunEventLog(db)  # a new process: nothing in memory
    second = await restarted.open(run_id)
    assert second.last_seq == 2
    assert second.emit(RUN_COMPLETED, {"status": "failed"}).seq == 3
    await second.close()
    assert [(e.seq, e.type) for e in await log.read(run_id)] == [
        (1, "run_started"),
        (2, "token"),
        (3, RUN_COMPLETED),
    ]


async def test_a_failed_insert_surfaces_on_close_and_the_writer_is_forgotten(log) -> None:
    writer = await log.open("run_not_stored")  # the foreign key to runs fails
    writer.emit("token", {})
    with pytest.raises(IntegrityError):
        await writer.close()
    assert "run_not_stored" not in log._live


async def test_follow_a_live_run_replays_then_tails(db, log) -> None:
    run_id = await new_run(db, "run_live")
    writer = await log.open(run_id)
    writer.emit("run_started", {})
    writer.emit("token", {"delta": "a"})
    from_start = asyncio.create_task(collect(log.follow(run_id)))
    from_two = asyncio.create_task(collect(log.follow(run_id, 2)))
    await asyncio.sleep(0.01)
    writer.emit("token", {"delta": "b"})
    await asyncio.sleep(0)
    writer.emit(RUN_COMPLETED, {"status": "succeeded"})
    writer.emit("late", {})  # nothing after run_completed reaches a follower
    everything = await asyncio.wait_for(from_start, 2)
    assert [(e.seq, e.type) for e in everything] == [
        (1, "run_started"),
        (2, "token"),
        (3, "token"),
        (4, RUN_COMPLETED),
    ]
    assert shape(await asyncio.wait_for(from_two, 2)) == shape(everything[2:])
    assert log.bus._subscribers == {}
    await writer.close()


async def test_follow_a_live_run_that_already_completed_in_memory(db, log) -> None:
    run_id = await new_run(db, "run_done_live")
    writer = await log.open(run_id)
    writer.emit("run_started", {})
    writer.emit(RUN_COMPLETED, {})
    events = await asyncio.wait_for(collect(log.follow(run_id, 1)), 2)
    assert [(e.seq, e.type) for e in events] == [(2, RUN_COMPLETED)]
    await writer.close()


async def test_follow_a_stored_run(db, log) -> None:
    run_id = await new_run(db, "run_stored")
    writer = await log.open(run_id)
    for kind in ("run_started", "token", RUN_COMPLETED):
        writer.emit(kind, {})
    await writer.close()
    await RunRepository(db).finish(run_id, RunStatus.SUCCEEDED)
    fresh = RunEventLog(db)
    assert [e.seq for e in await collect(fresh.follow(run_id))] == [1, 2, 3]
    assert [e.seq for e in await collect(fresh.follow(run_id, 1))] == [2, 3]
    assert await collect(fresh.follow(run_id, 3)) == []


async def test_follow_a_finished_run_without_run_completed_ends(db, log) -> None:
    run_id = await new_run(db, "run_cut")
    writer = await log.open(run_id)
    writer.emit("run_started", {})
    await writer.close()
    await RunRepository(db).finish(run_id, RunStatus.FAILED, error={"code": "x", "message": "y"})
    events = await asyncio.wait_for(collect(RunEventLog(db).follow(run_id)), 2)
    assert [(e.seq, e.type) for e in events] == [(1, "run_started")]


async def test_follow_polls_a_run_live_in_another_process(db, log) -> None:
    run_id = await new_run(db, "run_elsewhere")
    await RunRepository(db).mark_running(run_id)
    follower = asyncio.create_task(collect(log.follow(run_id)))
    other_process = RunEventLog(db)
    writer = await other_process.open(run_id)
    writer.emit("run_started", {})
    await writer.flush()
    await asyncio.sleep(0.3)  # one poll interval
    writer.emit(RUN_COMPLETED, {"status": "succeeded"})
    await writer.close()
    events = await asyncio.wait_for(follower, 3)
    assert [(e.seq, e.type) for e in events] == [(1, "run_started"), (2, RUN_COMPLETED)]


def test_bus_fans_out_per_run_and_forgets_empty_subscriptions() -> None:
    bus = EventBus()
    q1, q2, other = bus.subscribe("r"), bus.subscribe("r"), bus.subscribe("s")
    event = RunEvent("r", 1, "token", {}, 0.0)
    bus.publish(event)
    assert (q1.get_nowait(), q2.get_nowait(), other.qsize()) == (event, event, 0)
    bus.unsubscribe("r", q1)
    bus.unsubscribe("r", q2)
    bus.unsubscribe("r", q2)
    assert set(bus._subscribers) == {"s"}
