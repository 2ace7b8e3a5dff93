"""``GET /api/v1/agents/{id}/sessions``: the caller's chat sessions with an agent, grouped from
the runs that share a ``session_id``, most recently active first; nobody sees another's."""

from __future__ import annotations

from typing import Any

import httpx
from agents.testing import assistant_message


async def create_agent(client: httpx.AsyncClient, name: str, **fields: Any) -> str:
    body = {"name": name, "model": f"test:{name}", **fields}
    created = await client.post("/api/v1/agents", json=body)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


async def run(client: httpx.AsyncClient, agent_id: str, **body: Any) -> dict[str, Any]:
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", **body})
    assert ran.status_code == 200, ran.text
    return dict(ran.json())


async def test_sessions_are_grouped_titled_and_ordered(client, providers, make_user) -> None:
    model = providers.scripted("chat")
    model.extend([[assistant_message(f"answer {i}")] for i in range(5)])
    agent_id = await create_agent(client, "chat", visibility="workspace")
    await run(client, agent_id, input="Plan a trip to Lisbon", session_id="trip")
    await run(client, agent_id, input="Write a haiku", session_id="poem")
    await run(client, agent_id, input="and a hotel?", session_id="trip")
    await run(client, agent_id, input="no session here")
    url = f"/api/v1/agents/{agent_id}/sessions"

    listed = (await client.get(url)).json()
    assert listed["total"] == 2
    assert [(s["id"], s["title"], s["runs"]) for s in listed["items"]] == [
        ("trip", "Plan a trip to Lisbon", 2),  # the latest run was in "trip"
        ("poem", "Write a haiku", 1),
    ]
    trip = listed["items"][0]
    assert trip["started_at"] < trip["last_at"]
    paged = (await client.get(url, params={"page": 2, "limit": 1})).json()
    assert (paged["total"], [s["id"] for s in paged["items"]]) == (2, ["poem"])

    # Another member of the workspace runs the shared agent in a session of the same name:
    # each sees only their own sessions.
    mate = await make_user("mate@nexus.test", role="developer")
    await run(mate, agent_id, input="mine, not yours", session_id="trip")
    theirs = (await mate.get(url)).json()
    assert [(s["id"], s["title"], s["runs"]) for s in theirs["items"]] == [
        ("trip", "mine, not yours", 1)
    ]
    assert (await client.get(url)).json()["items"][0]["runs"] == 2


async def test_unknown_or_hidden_agents_are_404(client, providers, make_user) -> None:
    providers.scripted("private_chat")
    assert (await client.get("/api/v1/agents/agt_missing/sessions")).status_code == 404
    agent_id = await create_agent(client, "private_chat", visibility="private")
    outsider = await make_user("eve@nexus.test", role="developer", workspace="Other")
    hidden = await outsider.get(f"/api/v1/agents/{agent_id}/sessions")
    assert hidden.status_code == 404 and hidden.json()["error"]["code"] == "not_found"
    bad = await client.get(f"/api/v1/agents/{agent_id}/sessions", params={"limit": 0})
    assert bad.status_code == 422
