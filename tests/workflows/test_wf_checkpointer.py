"""The SQL checkpointer's node saves: the direct SQLite path stores exactly what the async
engine stores, falls back to the engine when another writer holds the lock, and refuses a run
without a row."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from nexus.core.errors import NotFoundError
from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeRecord, NodeStatus, RunState
from nexus.store.checkpointer import SqlCheckpointer

RECORDS = [
    NodeRecord("a", NodeStatus.RUNNING, 1),
    NodeRecord("b", NodeStatus.COMPLETED, 2, {"output": ["é", 1, None]}, duration_ms=1.5),
    NodeRecord("c", NodeStatus.FAILED, 1, error={"code": "x", "message": "m"}),
    NodeRecord("d", NodeStatus.WAITING, 1, waiting={"message": "ok?"}),
]


async def _new_run(services, run_id: str) -> None:  # type: ignore[no-untyped-def]
    await services.runs.create(
        run_id,
        agent_id=None,
        session_id=None,
        input={},
        spec_snapshot={"depth": 0},
        kind="workflow",
    )


def _rows(path: str, run_id: str) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT node_id, status, attempt, outputs, error, waiting, duration_ms, "
            "typeof(updated_at) FROM node_checkpoints WHERE run_id = ? ORDER BY node_id",
            (run_id,),
        ).fetchall()


async def test_direct_saves_match_the_async_engine_and_round_trip(services) -> None:  # type: ignore[no-untyped-def]
    direct = SqlCheckpointer(services.db)
    engine = SqlCheckpointer(services.db, direct=False)
    await _new_run(services, "run_direct")
    await _new_run(services, "run_engine")
    try:
        for record in RECORDS:
            await direct.save_node("run_direct", record)
            await engine.save_node("run_engine", record)
        # an update replaces the record (upsert)
        done = NodeRecord("a", NodeStatus.COMPLETED, 1, {"output": 3}, duration_ms=0.5)
        await direct.save_node("run_direct", done)
        await engine.save_node("run_engine", done)
        expected = {r.node_id: r for r in [done, *RECORDS[1:]]}
        assert await direct.load_nodes("run_direct") == expected
        assert await engine.load_nodes("run_engine") == expected
        path = services.db.engine.url.database
        assert _rows(path, "run_direct") == _rows(path, "run_engine")
        state = await direct.load_run("run_direct")
        assert state is not None and state.waiting == {}
    finally:
        direct.close()


async def test_a_locked_database_falls_back_without_blocking_the_loop(services) -> None:  # type: ignore[no-untyped-def]
    checkpointer = SqlCheckpointer(services.db)
    await _new_run(services, "run_locked")
    holder = sqlite3.connect(services.db.engine.url.database, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the write lock
        save = asyncio.create_task(
            checkpointer.save_node("run_locked", NodeRecord("n", NodeStatus.RUNNING, 1))
        )
        for _ in range(3):  # the loop keeps running while the save waits for the lock
            await asyncio.sleep(0.01)
        holder.execute("COMMIT")
        await save
        records = await checkpointer.load_nodes("run_locked")
        assert records == {"n": NodeRecord("n", NodeStatus.RUNNING, 1)}
    finally:
        holder.close()
        checkpointer.close()


async def test_a_run_without_a_row_is_refused(services) -> None:  # type: ignore[no-untyped-def]
    checkpointer = SqlCheckpointer(services.db)
    try:
        with pytest.raises(NotFoundError):
            await checkpointer.save_node("run_missing", NodeRecord("n", NodeStatus.RUNNING, 1))
    finally:
        checkpointer.close()


def _run_row(path: str, run_id: str) -> tuple:
    with sqlite3.connect(path) as conn:
        return conn.execute(
            "SELECT status, input, output, error, started_at IS NOT NULL, "
            "finished_at IS NOT NULL FROM runs WHERE id = ?",
            (run_id,),
        ).fetchone()


async def test_run_state_saves_and_loads_match_the_async_engine(services) -> None:  # type: ignore[no-untyped-def]
    direct = SqlCheckpointer(services.db)
    engine = SqlCheckpointer(services.db, direct=False)
    path = services.db.engine.url.database
    try:
        for checkpointer, run_id in ((direct, "run_sd"), (engine, "run_se")):
            await _new_run(services, run_id)
            state = await checkpointer.load_run(run_id)
            assert state == RunState(run_id, RunStatus.QUEUED, {})
            state.status = RunStatus.RUNNING
            await checkpointer.save_run(state)
            await checkpointer.save_node(
                run_id, NodeRecord("ask", NodeStatus.WAITING, 1, waiting={"message": "ok?"})
            )
            state.status = RunStatus.WAITING
            await checkpointer.save_run(state)
        assert await direct.load_run("run_sd") == await engine.load_run("run_sd")
        waiting = await direct.load_run("run_se")
        assert waiting is not None and waiting.waiting == {"ask": {"message": "ok?"}}
        assert _run_row(path, "run_sd") == _run_row(path, "run_se")
        for checkpointer, run_id in ((direct, "run_sd"), (engine, "run_se")):
            final = RunState(
                run_id, RunStatus.SUCCEEDED, {}, outputs={"a": [1, "é"]}, error=None, depth=0
            )
            await checkpointer.save_run(final)
        assert _run_row(path, "run_sd") == _run_row(path, "run_se")
        assert _run_row(path, "run_sd")[4:] == (1, 1)
        done = RunState("run_se", RunStatus.SUCCEEDED, {}, outputs={"a": [1, "é"]})
        assert await direct.load_run("run_se") == await engine.load_run("run_se") == done
        assert await direct.load_run("run_missing") is None
        with pytest.raises(NotFoundError):
            await direct.save_run(RunState("run_missing", RunStatus.RUNNING, {}))
    finally:
        direct.close()
