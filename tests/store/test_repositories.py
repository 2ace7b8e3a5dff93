"""Agent and run repositories over a real SQLite file: CRUD, unique names, filters, pages and
the run state transitions."""

from __future__ import annotations

import pytest

from nexus.agents.spec import AgentSpec
from nexus.core.errors import ConflictError, NotFoundError
from nexus.core.status import RunStatus
from nexus.store.agent_repository import AgentRepository
from nexus.store.run_repository import RunRepository


def spec(name: str, **fields) -> AgentSpec:
    return AgentSpec(name=name, model="test:x", **fields)


async def test_agent_create_get_update_delete(db) -> None:
    agents = AgentRepository(db)
    created = await agents.create(spec("alpha", instructions="Be brief."))
    assert created.id.startswith("agt_")
    assert created.spec == spec("alpha", instructions="Be brief.")
    got = await agents.get(created.id)
    assert got == created
    assert got.created_at.tzinfo is not None
    updated = await agents.update(created.id, spec("alpha2", max_turns=3))
    assert (updated.id, updated.spec, updated.created_at) == (
        created.id,
        spec("alpha2", max_turns=3),
        created.created_at,
    )
    assert updated.updated_at >= created.updated_at
    assert await agents.get(created.id) == updated
    await agents.delete(created.id)
    assert await agents.get(created.id) is None


async def test_agent_names_are_unique_in_a_workspace(db) -> None:
    agents = AgentRepository(db)
    first = await agents.create(spec("alpha"))
    with pytest.raises(ConflictError) as taken:
        await agents.create(spec("alpha"))
    assert (taken.value.field, taken.value.code) == ("name", "conflict")
    other = await agents.create(spec("beta"))
    with pytest.raises(ConflictError):
        await agents.update(other.id, spec("alpha"))
    assert (await agents.get(other.id)).spec.name == "beta"
    assert (await agents.update(first.id, spec("alpha", description="same name"))).spec.name == (
        "alpha"
    )
    _, total = await agents.list()
    assert total == 2


async def test_agent_list_is_ordered_by_name_and_paged(db) -> None:
    agents = AgentRepository(db)
    for name in ["delta", "alpha", "charlie", "bravo"]:
        await agents.create(spec(name))
    names = []
    for offset in (0, 2, 4):
        page, total = await agents.list(offset=offset, limit=2)
        assert total == 4
        names.append([a.spec.name for a in page])
    assert names == [["alpha", "bravo"], ["charlie", "delta"], []]


async def test_agents_referencing_a_target(db) -> None:
    agents = AgentRepository(db)
    target = await agents.create(spec("target"))
    await agents.create(spec("by-name", handoffs=[{"agent": "target"}]))
    await agents.create(spec("by-id", handoffs=[{"agent": target.id, "mode": "tool"}]))
    await agents.create(spec("unrelated"))
    assert sorted(await agents.referencing(target)) == ["by-id", "by-name"]


async def new_run(runs: RunRepository, run_id: str, agent_id: str = "agt_a") -> None:
    await runs.create(
        run_id, agent_id=agent_id, session_id=None, input={"input": "hi"}, spec_snapshot={"a": 1}
    )


async def test_run_lifecycle(db) -> None:
    runs = RunRepository(db)
    await new_run(runs, "run_1")
    queued = await runs.get("run_1")
    assert (queued.status, queued.input, queued.spec_snapshot, queued.output) == (
        RunStatus.QUEUED,
        {"input": "hi"},
        {"a": 1},
        None,
    )
    assert (queued.started_at, queued.finished_at) == (None, None)
    assert await runs.mark_running("run_1") is True
    assert await runs.mark_running("run_1") is False
    usage = {"input_tokens": 1, "output_tokens": 2, "by_model": {}}
    assert await runs.finish("run_1", RunStatus.SUCCEEDED, output={"k": [1]}, usage=usage)
    assert not await runs.finish("run_1", RunStatus.FAILED, error={"code": "x"})
    done = await runs.get("run_1")
    assert (done.status, done.output, done.error, done.usage) == (
        RunStatus.SUCCEEDED,
        {"k": [1]},
        None,
        usage,
    )
    assert done.created_at <= done.started_at <= done.finished_at


async def test_a_cancelled_queued_run_never_starts(db) -> None:
    runs = RunRepository(db)
    await new_run(runs, "run_q")
    assert await runs.finish("run_q", RunStatus.CANCELLED, error={"code": "cancelled"})
    assert await runs.mark_running("run_q") is False
    assert (await runs.get("run_q")).status is RunStatus.CANCELLED


async def test_unknown_run(db) -> None:
    with pytest.raises(NotFoundError):
        await RunRepository(db).get("run_missing")


async def test_run_list_filters_and_pages_newest_first(db) -> None:
    runs = RunRepository(db)
    for index in range(5):
        await new_run(runs, f"run_{index}", agent_id="agt_a" if index < 3 else "agt_b")
    await runs.finish("run_1", RunStatus.FAILED)
    await runs.finish("run_4", RunStatus.FAILED)

    async def ids(**kw) -> tuple[list[str], int]:
        items, total = await runs.list(**kw)
        return [r.id for r in items], total

    assert await ids() == (["run_4", "run_3", "run_2", "run_1", "run_0"], 5)
    assert await ids(agent_id="agt_a") == (["run_2", "run_1", "run_0"], 3)
    assert await ids(status=RunStatus.FAILED) == (["run_4", "run_1"], 2)
    assert await ids(agent_id="agt_b", status=RunStatus.FAILED) == (["run_4"], 1)
    assert await ids(offset=2, limit=2) == (["run_2", "run_1"], 5)
    assert await runs.spans("run_0") == []
