"""Workflow runs on PostgreSQL (the scale-out backend): checkpoints upserted per node, a run
that waits for approval resumes from its checkpoints, and two workers sharing the database
never execute the same run (leases)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from nexus.core.status import RunStatus
from nexus.engine.checkpoints import NodeStatus
from nexus.providers.registry import ProviderRegistry
from nexus.settings import Settings
from nexus.testing.scripted_providers import ScriptedProviders
from nexus.testing.workflow_specs import build_spec
from nexus.worker.agent_runs import AgentRunner
from nexus.worker.services import build_services
from nexus.worker.workflow_runs import WorkflowRuns


@pytest.fixture
async def pg_services(migrated_pg: str, tmp_path: Path) -> AsyncIterator[object]:
    settings = Settings(home=tmp_path, database_url=migrated_pg, _env_file=None)  # type: ignore[call-arg]
    built = build_services(settings, ScriptedProviders(ProviderRegistry(settings)))  # type: ignore[arg-type]
    assert built.db.engine.dialect.name == "postgresql"
    try:
        yield built
    finally:
        await built.db.dispose()


def gated(name: str):  # type: ignore[no-untyped-def]
    return build_spec(
        [
            {"id": "start", "type": "input"},
            {"id": "pause", "type": "delay", "properties": {"seconds": 0.05}},
            {"id": "ask", "type": "approval", "properties": {"message": "ship?"}},
            {"id": "out", "type": "output", "properties": {"name": "result"}},
        ],
        ["start->pause", "pause->ask", "ask.approved->out"],
        name=name,
    )


async def test_a_run_waits_for_approval_and_resumes_from_its_checkpoints(pg_services) -> None:  # type: ignore[no-untyped-def]
    runs = WorkflowRuns(pg_services, AgentRunner(pg_services))
    try:
        stored = await pg_services.workflows.create(gated("pg-gated"))
        run = await runs.start(stored, {"topic": "pg"}, owner_id=None, workspace_id=None)
        waiting = await runs.wait(run.id)
        assert waiting.status is RunStatus.WAITING
        nodes = await runs.checkpointer.load_nodes(run.id)
        assert nodes["pause"].status is NodeStatus.COMPLETED
        assert nodes["ask"].status is NodeStatus.WAITING
        await runs.approve(waiting, "ask", approved=True, comment=None, by="tester")
        done = await runs.wait(run.id)
        assert done.status is RunStatus.SUCCEEDED, done.error
        nodes = await runs.checkpointer.load_nodes(run.id)
        assert {n.status for n in nodes.values()} == {NodeStatus.COMPLETED}
        assert nodes["pause"].attempt == 1  # not re-run on resume
        events = await pg_services.events.read(run.id)
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        assert [e.type for e in events].count("run_completed") == 1
        history, total = await pg_services.runs.list(workflow_id=stored.id)
        assert (total, history[0].id) == (1, run.id)
    finally:
        await runs.shutdown()


async def test_two_workers_on_one_database_never_run_the_same_run(pg_services) -> None:  # type: ignore[no-untyped-def]
    first = WorkflowRuns(pg_services, AgentRunner(pg_services))
    second = WorkflowRuns(pg_services, AgentRunner(pg_services))
    try:
        slow = build_spec(
            [
                {"id": "start", "type": "input"},
                {"id": "wait", "type": "delay", "properties": {"seconds": 0.5}},
                {"id": "out", "type": "output", "properties": {"name": "result"}},
            ],
            ["start->wait", "wait->out"],
            name="pg-slow",
        )
        stored = await pg_services.workflows.create(slow)
        run = await first.start(stored, {}, owner_id=None, workspace_id=None)
        for _ in range(500):
            if "wait" in await first.checkpointer.load_nodes(run.id):
                break
            await asyncio.sleep(0.01)
        assert await second.recover() == 0
        assert not await second.leases.acquire(run.id)
        done = await first.wait(run.id)
        assert done.status is RunStatus.SUCCEEDED
    finally:
        await first.shutdown()
        await second.shutdown()
