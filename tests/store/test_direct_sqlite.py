"""The direct SQLite path of runs and events: it stores exactly what the async engine stores,
reads back what the engine's readers read, falls back to the engine when another writer holds
the lock, and what it wrote is readable by another process — also after this one is killed."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.exc import IntegrityError

from nexus.core.events import RUN_COMPLETED, RunEvent
from nexus.core.status import RunStatus
from nexus.store import event_log
from nexus.store.db import Database, connect
from nexus.store.direct_sqlite import DirectSqlite, decode_datetime, encode_datetime
from nexus.store.event_log import RunEventLog
from nexus.store.run_repository import RunRepository, StoredRun

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
SPANS = [
    {
        "id": "span_1",
        "trace_id": "trace_1",
        "parent_id": None,
        "started_at": "2026-11-22T05:00:00.000001+00:00",
        "ended_at": "2026-11-22T05:00:00.000002+00:00",
        "span_data": {"type": "agent", "name": "é", "tools": ["calculator"]},
        "error": None,
    },
    {
        "id": "span_2",
        "trace_id": "trace_1",
        "parent_id": "span_1",
        "started_at": None,
        "ended_at": None,
        "span_data": None,
        "error": {"message": "boom", "data": None},
    },
]


@pytest.fixture
async def db(migrated) -> AsyncIterator[Database]:
    database = connect(migrated.resolved_database_url)
    assert database.direct is not None
    try:
        yield database
    finally:
        await database.dispose()


def engine_only(db: Database) -> Database:
    """The same database with every statement on the async engine."""
    return dataclasses.replace(db, direct=None)


def raw(path: str, sql: str, *params: object) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


RUN_COLUMNS = (
    "kind, owner_id, workspace_id, agent_id, workflow_id, session_id, status, input, output, "
    "error, usage, spec_snapshot, typeof(created_at), length(created_at), typeof(started_at), "
    "length(started_at), typeof(finished_at), length(finished_at), lease_owner, lease_until"
)


def without_times(run: StoredRun) -> StoredRun:
    """``run`` without what differs between two runs (id, times), and which times are set."""
    return dataclasses.replace(
        run,
        id="",
        created_at=EPOCH,
        started_at=run.started_at and EPOCH,
        finished_at=run.finished_at and EPOCH,
    )


async def lifecycle(runs: RunRepository, run_id: str, spans: list[dict]) -> list[StoredRun]:
    seen = [
        await runs.create(
            run_id,
            agent_id="agt_1",
            session_id="s",
            owner_id="usr_1",
            workspace_id=None,
            input={"input": "héllo", "n": [1, None]},
            spec_snapshot={"root": {"name": "a"}},
        )
    ]
    seen.append(await runs.get(run_id))
    assert await runs.mark_running(run_id) is True
    assert await runs.mark_running(run_id) is False
    seen.append(await runs.get(run_id))
    usage = {"input_tokens": 3, "output_tokens": 4, "by_model": {"test:x": {"requests": 1}}}
    finished = await runs.finish(
        run_id, RunStatus.SUCCEEDED, output={"answer": "é"}, usage=usage, spans=spans
    )
    assert finished is True
    assert await runs.finish(run_id, RunStatus.FAILED, error={"code": "x"}) is False
    seen.append(await runs.get(run_id))
    return seen


async def test_run_rows_match_the_async_engine_and_round_trip(db) -> None:
    direct, engine = RunRepository(db), RunRepository(engine_only(db))
    spans_b = [{**s, "id": s["id"] + "b", "trace_id": "trace_2"} for s in SPANS]
    by_direct = await lifecycle(direct, "run_d", SPANS)
    by_engine = await lifecycle(engine, "run_e", spans_b)
    path = db.engine.url.database
    sql = f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?"
    assert raw(path, sql, "run_d") == raw(path, sql, "run_e")
    span_sql = (
        "SELECT parent_id, run_id IS NOT NULL, kind, started_at, ended_at, data, error "
        "FROM trace_spans WHERE trace_id = ? ORDER BY id"
    )
    d_spans, e_spans = raw(path, span_sql, "trace_1"), raw(path, span_sql, "trace_2")
    assert [s[1:] for s in d_spans] == [s[1:] for s in e_spans]
    assert len(d_spans) == 2
    # both readers read both rows identically (times included)
    for run_id in ("run_d", "run_e"):
        assert await direct.get(run_id) == await engine.get(run_id)
    stored = sorted(await direct.spans("run_d"), key=lambda s: s["id"])
    assert [(s["id"], s["parent_id"], s["kind"], s["data"], s["error"]) for s in stored] == [
        ("span_1", None, "agent", SPANS[0]["span_data"], None),
        ("span_2", "span_1", "span", None, SPANS[1]["error"]),
    ]
    assert [without_times(r) for r in by_direct] == [without_times(r) for r in by_engine]
    done = by_direct[-1]
    assert (done.status, done.output, done.error, done.usage["input_tokens"]) == (
        RunStatus.SUCCEEDED,
        {"answer": "é"},
        None,
        3,
    )
    assert done.created_at <= done.started_at <= done.finished_at
    assert done.created_at.tzinfo is not None
    assert await direct.find("run_missing") is None


async def test_a_failed_direct_statement_raises_the_engines_error(db) -> None:
    runs = RunRepository(db)
    await runs.create("run_dup", agent_id=None, session_id=None, input={}, spec_snapshot={})
    with pytest.raises(IntegrityError):
        await runs.create("run_dup", agent_id=None, session_id=None, input={}, spec_snapshot={})
    log = RunEventLog(db)
    with pytest.raises(IntegrityError):  # the foreign key to runs
        await log.insert([RunEvent("run_none", 1, "token", {}, time.time())])


async def test_event_rows_match_the_async_engine(db) -> None:
    runs = RunRepository(db)
    for run_id in ("run_d", "run_e"):
        await runs.create(run_id, agent_id=None, session_id=None, input={}, spec_snapshot={})
    stamp = time.time()
    payloads = [{"text": "é"}, {"n": 1.5, "none": None, "list": [1, "a"]}, {}]
    for log, run_id in ((RunEventLog(db), "run_d"), (RunEventLog(engine_only(db)), "run_e")):
        await log.insert(
            [RunEvent(run_id, i + 1, "token", p, stamp) for i, p in enumerate(payloads)]
        )
        await log.insert([RunEvent(run_id, 4, RUN_COMPLETED, {"status": "succeeded"}, stamp)])
    path = db.engine.url.database
    sql = (
        "SELECT seq, type, data, created_at, typeof(created_at) FROM run_events "
        "WHERE run_id = ? ORDER BY seq"
    )
    assert raw(path, sql, "run_d") == raw(path, sql, "run_e")
    read_d = await RunEventLog(engine_only(db)).read("run_d")
    read_e = await RunEventLog(engine_only(db)).read("run_e")
    assert [(e.seq, e.type, e.data, e.created_at) for e in read_d] == [
        (e.seq, e.type, e.data, e.created_at) for e in read_e
    ]
    assert [e.data for e in read_d][:3] == payloads


async def test_a_locked_database_falls_back_without_blocking_the_loop(db) -> None:
    runs, log = RunRepository(db), RunEventLog(db)
    await runs.create("run_l", agent_id=None, session_id=None, input={}, spec_snapshot={})
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        ticks = 0

        async def writes() -> bool:
            await runs.create("run_m", agent_id=None, session_id=None, input={}, spec_snapshot={})
            assert await runs.mark_running("run_l")
            writer = log.open_new("run_l")
            writer.emit("token", {"i": 1})
            writer.emit(RUN_COMPLETED, {})
            await writer.close()
            return await runs.finish("run_l", RunStatus.SUCCEEDED, output=1, spans=SPANS)

        task = asyncio.create_task(writes())
        for _ in range(5):  # the loop keeps running while the writes wait for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not task.done()
        holder.execute("COMMIT")
        assert await asyncio.wait_for(task, 10) is True
        assert ticks == 5
    finally:
        holder.close()
    assert (await runs.get("run_l")).status is RunStatus.SUCCEEDED
    assert (await runs.get("run_m")).status is RunStatus.QUEUED
    assert [e.seq for e in await log.read("run_l")] == [1, 2]
    assert len(await runs.spans("run_l")) == 2


async def test_a_locked_direct_call_writes_nothing(db) -> None:
    assert await RunRepository(engine_only(db)).find("run_x") is None  # the engine made it WAL
    direct = DirectSqlite(db.engine.url.database)
    holder = sqlite3.connect(db.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        sql = "INSERT INTO trace_spans (id, trace_id, kind) VALUES (?, ?, ?)"
        assert direct.execute(sql, ("s1", "t", "k")) is None
        assert direct.transaction([(sql, [("s2", "t", "k"), ("s3", "t", "k")])]) is None
        assert direct.fetch("SELECT count(*) FROM trace_spans") == [(0,)]  # readers never wait
        holder.execute("ROLLBACK")
        with pytest.raises(sqlite3.IntegrityError):  # a duplicate rolls the whole batch back
            direct.transaction([(sql, [("s2", "t", "k"), ("s2", "t", "k")])])
        assert not direct.connection().in_transaction
        assert direct.fetch("SELECT count(*) FROM trace_spans") == [(0,)]
        assert direct.transaction([(sql, [("s4", "t", "k")]), (sql, ("s5", "t", "k"))]) == [1, 1]
        assert direct.fetch("SELECT id FROM trace_spans ORDER BY id") == [("s4",), ("s5",)]
    finally:
        holder.close()
        direct.close()


CHILD = textwrap.dedent(
    """
    import asyncio, os, sys
    from nexus.store.db import connect
    from nexus.store.event_log import RunEventLog
    from nexus.store.run_repository import RunRepository
    from nexus.core.status import RunStatus

    async def main():
        db = connect(sys.argv[1])
        runs, log = RunRepository(db), RunEventLog(db)
        await runs.create("run_k", agent_id=None, session_id=None, input={}, spec_snapshot={})
        await runs.mark_running("run_k")
        writer = log.open_new("run_k")
        for i in range(3):
            writer.emit("token", {"i": i})
        await writer.flush()
        await runs.finish("run_k", RunStatus.SUCCEEDED, output="done")
        writer.emit("run_completed", {"status": "succeeded"})
        await writer.flush()
        writer.emit("token", {"i": "never flushed"})
        print("flushed", flush=True)
        os._exit(0)  # killed: no close, no dispose, no WAL checkpoint

    asyncio.run(main())
    """
)


async def test_what_is_flushed_survives_a_kill_and_is_read_by_another_process(db) -> None:
    url = str(db.engine.url)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", CHILD, url],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip() == "flushed", done.stderr
    run = await RunRepository(db).get("run_k")
    assert (run.status, run.output) == (RunStatus.SUCCEEDED, "done")
    events = await RunEventLog(engine_only(db)).read("run_k")
    assert [(e.seq, e.type) for e in events] == [
        (1, "token"),
        (2, "token"),
        (3, "token"),
        (4, RUN_COMPLETED),
    ]
    replayed = [e async for e in RunEventLog(db).follow("run_k", after_seq=2)]
    assert [e.seq for e in replayed] == [3, 4]


def test_datetimes_are_stored_and_read_like_sqlalchemy() -> None:
    aware = datetime(2026, 11, 22, 7, 8, 9, 10, tzinfo=timezone(timedelta(hours=2)))
    assert encode_datetime(aware) == "2026-11-22 05:08:09.000010"
    assert decode_datetime("2026-11-22 05:08:09.000010") == aware.astimezone(UTC)
    assert decode_datetime(None) is None and encode_datetime(None) is None


@pytest.mark.parametrize("path", ["direct", "engine"])
async def test_the_last_events_commit_with_the_final_state(db, monkeypatch, path) -> None:
    monkeypatch.setattr(event_log, "FLUSH_INTERVAL_S", 3600.0)
    database = db if path == "direct" else engine_only(db)
    runs, log = RunRepository(database), RunEventLog(database)
    await runs.create("run_f", agent_id=None, session_id=None, input={}, spec_snapshot={})
    writer = log.open_new("run_f")
    seen = log.bus.subscribe("run_f")
    writer.emit("token", {"i": 0})
    writer.emit("message", {"text": "hi"})
    with pytest.raises(RuntimeError):  # a failed transaction: the events are pending again
        async with writer.last_batch(RUN_COMPLETED, {"status": "succeeded"}) as events:
            assert [e.seq for e in events] == [1, 2, 3]
            raise RuntimeError("the transaction failed")
    assert writer.last_seq == 2 and [e.seq for e in writer.events] == [1, 2]
    async with writer.last_batch(RUN_COMPLETED, {"status": "succeeded"}) as events:
        assert await runs.finish("run_f", RunStatus.SUCCEEDED, output="hi", events=events)
        assert [e.seq for e in await log.read("run_f")] == [1, 2, 3]
        assert seen.qsize() == 2  # published only once committed
    assert seen.qsize() == 3 and writer.events[-1].type == RUN_COMPLETED
    await writer.close()
    assert [(e.seq, e.type) for e in await log.read("run_f")] == [
        (1, "token"),
        (2, "message"),
        (3, RUN_COMPLETED),
    ]
    assert (await runs.get("run_f")).status is RunStatus.SUCCEEDED
