"""Reconnecting to a run's event stream with ``Last-Event-ID`` (or ``?after=``): after the run
ended, and while it is still running. The union of what two connections saw is always 1..N."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from agents.testing import ModelCall, ModelStep, assistant_message, function_call

from nexus.api.app import create_app

EXPECTED_TYPES = [
    "run_started",
    "agent_updated",
    "tool_called",
    "tool_output",
    "token",
    "message",
    "run_completed",
]


def sse_events(body: str) -> list[dict[str, Any]]:
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")
        )
        if fields:
            data = json.loads(fields["data"])
            assert (fields["id"], fields["event"]) == (str(data["seq"]), data["type"])
            events.append(data)
    return events


def script(providers, name: str, *, block: bool) -> tuple[asyncio.Event, asyncio.Event]:
    """A tool call, then a final message; with ``block`` the second model call waits."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def responder(_call: ModelCall) -> list[Any]:
        entered.set()
        if block:
            await release.wait()
        return [assistant_message("the answer is 5")]

    model = providers.scripted(name)
    model.enqueue([function_call("calculator", '{"expression":"2+3"}', call_id="c1")])
    model.enqueue(ModelStep.respond(responder))
    return entered, release


async def create_agent(client: httpx.AsyncClient, name: str) -> str:
    body = {"name": name, "model": f"test:{name}", "tools": [{"name": "calculator"}]}
    created = await client.post("/api/v1/agents", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def events_after(client: httpx.AsyncClient, run_id: str, **kw: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/runs/{run_id}/events", **kw)
    assert response.status_code == 200, response.text
    return sse_events(response.text)


@pytest.fixture
async def finished_run(client, providers) -> tuple[str, list[dict[str, Any]]]:
    script(providers, "calc", block=False)
    agent_id = await create_agent(client, "calc")
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", "stream": True})
    events = sse_events(ran.text)
    assert [e["type"] for e in events] == EXPECTED_TYPES
    assert [e["seq"] for e in events] == list(range(1, len(EXPECTED_TYPES) + 1))
    return events[0]["run_id"], events


async def test_resume_a_finished_run_from_every_cursor(client, finished_run) -> None:
    run_id, events = finished_run
    n = len(events)
    for k in range(n + 1):
        by_header = await events_after(client, run_id, headers={"Last-Event-ID": str(k)})
        by_query = await events_after(client, run_id, params={"after": k})
        assert by_header == events[k:], f"Last-Event-ID: {k}"
        assert by_query == events[k:], f"?after={k}"
        if k < n:
            assert by_header[-1]["type"] == "run_completed"
    assert await events_after(client, run_id, headers={"Last-Event-ID": "99"}) == []


async def test_no_cursor_replays_everything(client, finished_run) -> None:
    run_id, events = finished_run
    assert await events_after(client, run_id) == events
    assert await events_after(client, run_id, headers={"Last-Event-ID": ""}) == events
    listed = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    assert [(e["seq"], e["type"], e["data"]) for e in listed] == [
        (e["seq"], e["type"], e["data"]) for e in events
    ]


async def test_stream_after_restart_replays_from_the_table(
    finished_run, app, migrated, providers, admin_token
) -> None:
    """Once the run is over and the server restarted, replay comes from SQLite, not memory."""
    run_id, events = finished_run
    await app.state.runner.wait(run_id)
    assert run_id not in app.state.services.events._live
    restarted = create_app(migrated, providers=providers)
    async with restarted.router.lifespan_context(restarted):
        transport = httpx.ASGITransport(app=restarted)
        auth = {"Authorization": f"Bearer {admin_token}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://nexus.test", headers=auth
        ) as http:
            assert await events_after(http, run_id, headers={"Last-Event-ID": "3"}) == events[3:]
            assert await events_after(http, run_id) == events


async def stored_events(client: httpx.AsyncClient, run_id: str, count: int) -> None:
    """Wait until ``count`` events are in the table (inserts are batched just after emit)."""
    for _ in range(500):
        listed = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
        if len(listed) >= count:
            break
        await asyncio.sleep(0.01)
    assert [e["type"] for e in listed] == EXPECTED_TYPES[:count]


async def subscribers(app, run_id: str) -> int:
    return len(app.state.services.events.bus._subscribers.get(run_id, ()))


@pytest.mark.parametrize("cursor", range(1, 5))
async def test_reconnect_during_a_live_run(client, providers, app, cursor: int) -> None:
    """Events 1..4 exist when the model blocks; a second connection resumes after ``cursor``."""
    entered, release = script(providers, "live", block=True)
    agent_id = await create_agent(client, "live")
    first = asyncio.create_task(
        client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", "stream": True})
    )
    await asyncio.wait_for(entered.wait(), 5)
    (run,) = (await client.get("/api/v1/runs")).json()["items"]
    await stored_events(client, run["id"], 4)

    second = asyncio.create_task(
        client.get(f"/api/v1/runs/{run['id']}/events", headers={"Last-Event-ID": str(cursor)})
    )
    for _ in range(500):  # both connections are following the live run
        if await subscribers(app, run["id"]) == 2:
            break
        await asyncio.sleep(0.01)
    assert await subscribers(app, run["id"]) == 2
    release.set()

    first_events = sse_events((await asyncio.wait_for(first, 5)).text)
    second_events = sse_events((await asyncio.wait_for(second, 5)).text)
    assert [e["type"] for e in first_events] == EXPECTED_TYPES
    assert [e["seq"] for e in second_events] == list(range(cursor + 1, len(EXPECTED_TYPES) + 1))
    assert first_events[:cursor] + second_events == first_events
    assert second_events[-1]["data"]["status"] == "succeeded"
    assert await subscribers(app, run["id"]) == 0


async def test_connect_after_the_last_live_event(client, providers, app) -> None:
    """A cursor equal to the newest seq yields only what comes later."""
    entered, release = script(providers, "live", block=True)
    agent_id = await create_agent(client, "live")
    first = asyncio.create_task(client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "x"}))
    await asyncio.wait_for(entered.wait(), 5)
    (run,) = (await client.get("/api/v1/runs")).json()["items"]
    await stored_events(client, run["id"], 4)
    tail = asyncio.create_task(events_after(client, run["id"], params={"after": 4}))
    for _ in range(500):
        if await subscribers(app, run["id"]) == 1:
            break
        await asyncio.sleep(0.01)
    release.set()
    assert (await asyncio.wait_for(first, 5)).json()["status"] == "succeeded"
    assert [e["type"] for e in await asyncio.wait_for(tail, 5)] == EXPECTED_TYPES[4:]
