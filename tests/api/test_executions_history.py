"""``GET /api/v1/executions`` (a workflow's run history) and the per-node inspector of
``GET /api/v1/executions/{id}``."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx


def edge(i: int, src: str, sport: str, dst: str, dport: str = "input") -> dict[str, Any]:
    return {
        "id": f"e{i}",
        "source": {"node": src, "port": sport},
        "target": {"node": dst, "port": dport},
    }


GATE = {
    "name": "gate",
    "nodes": [
        {"id": "start", "type": "input"},
        {"id": "ask", "type": "approval"},
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [edge(0, "start", "output", "ask"), edge(1, "ask", "approved", "out")],
}
CHAIN = {
    "name": "chain",
    "inputs": {"type": "object", "properties": {"text": {"type": "string"}}},
    "nodes": [
        {"id": "start", "type": "input", "properties": {"field": "text"}},
        {
            "id": "shout",
            "name": "Shout",
            "type": "transform",
            "properties": {"template": "{{ input.input | upper }}", "output_type": "text"},
        },
        {
            "id": "parse",
            "type": "transform",
            "properties": {"template": "{{ input.input }}"},
        },
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [
        edge(0, "start", "output", "shout"),
        edge(1, "shout", "output", "parse"),
        edge(2, "parse", "output", "out"),
    ],
}


async def create_workflow(client: httpx.AsyncClient, body: dict[str, Any]) -> str:
    response = await client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


async def start(client: httpx.AsyncClient, workflow_id: str, inputs: dict[str, Any]) -> str:
    body = {"input_data": inputs, "options": {"async": True}}
    response = await client.post(f"/api/v1/workflows/{workflow_id}/execute", json=body)
    assert response.status_code == 202, response.text
    return response.json()["execution_id"]


async def wait_status(client: httpx.AsyncClient, run_id: str, status: str) -> None:
    for _ in range(2000):
        response = await client.get(f"/api/v1/runs/{run_id}")
        if response.json()["status"] == status:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} never became {status}: {response.text}")


async def run_to_end(client: httpx.AsyncClient, workflow_id: str, inputs: dict[str, Any]) -> str:
    response = await client.post(
        f"/api/v1/workflows/{workflow_id}/execute", json={"input_data": inputs}
    )
    assert response.status_code == 200, response.text
    return response.json()["execution_id"]


async def history(client: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/executions", params=params)
    assert response.status_code == 200, response.text
    return response.json()


async def test_history_of_a_workflow_newest_first_with_filters_and_pages(client) -> None:
    chain = await create_workflow(client, CHAIN)
    gate = await create_workflow(client, GATE)
    ok = await run_to_end(client, chain, {"text": "7"})
    failed = await run_to_end(client, chain, {"text": "{oops"})
    other = await start(client, gate, {})
    await wait_status(client, other, "waiting")

    page = await history(client, workflow_id=chain)
    assert [r["id"] for r in page["items"]] == [failed, ok]
    assert (page["total"], page["page"], page["limit"]) == (2, 1, 20)
    newest = page["items"][0]
    assert set(newest) == {
        "id", "workflow_id", "version", "status", "created_at", "started_at", "finished_at",
        "error",
    }  # fmt: skip
    assert (newest["workflow_id"], newest["version"], newest["status"]) == (chain, None, "failed")
    assert newest["error"]["code"] == "invalid_input" and newest["error"]["node"] == "parse"
    assert newest["started_at"] is not None and newest["finished_at"] is not None
    assert page["items"][1]["error"] is None

    assert [
        r["id"] for r in (await history(client, workflow_id=chain, status="succeeded"))["items"]
    ] == [ok]
    second = await history(client, workflow_id=chain, limit=1, page=2)
    assert ([r["id"] for r in second["items"]], second["total"]) == ([ok], 2)
    # By name too, and without a filter every visible workflow run (agent runs are not).
    assert [r["id"] for r in (await history(client, workflow_id="chain"))["items"]] == [
        failed,
        ok,
    ]
    assert {r["id"] for r in (await history(client))["items"]} == {ok, failed, other}


async def test_reruns_join_the_history_and_published_versions_are_named(client) -> None:
    chain = await create_workflow(client, CHAIN)
    published = await client.post(f"/api/v1/workflows/{chain}/versions", json={})
    assert published.status_code == 201, published.text
    first = await run_to_end(client, chain, {"text": "a"})
    rerun = await client.post(
        f"/api/v1/executions/{first}/rerun", json={"from_node": "parse", "inputs": {"text": "b"}}
    )
    assert rerun.status_code == 202, rerun.text
    again = rerun.json()["id"]
    await wait_status(client, again, "succeeded")
    items = (await history(client, workflow_id=chain))["items"]
    assert [(r["id"], r["version"]) for r in items] == [(again, 1), (first, 1)]


async def test_history_shows_only_runs_the_caller_may_see(client, make_user) -> None:
    alice = await make_user("alice@nexus.test", role="developer")
    bob = await make_user("bob@nexus.test", role="developer", workspace="Team B")
    shared = await create_workflow(client, {**CHAIN, "visibility": "workspace"})
    admins = await run_to_end(client, shared, {"text": "x"})
    alices = await run_to_end(alice, shared, {"text": "y"})
    assert [r["id"] for r in (await history(alice, workflow_id=shared))["items"]] == [alices]
    # The workspace admin sees every run of the workspace.
    assert {r["id"] for r in (await history(client, workflow_id=shared))["items"]} == {
        admins,
        alices,
    }
    # Another workspace's workflow is not found, exactly like a missing one.
    theirs = await bob.get("/api/v1/executions", params={"workflow_id": shared})
    absent = await bob.get("/api/v1/executions", params={"workflow_id": "wf_doesnotexist"})
    assert theirs.status_code == absent.status_code == 404
    assert theirs.json()["error"]["code"] == absent.json()["error"]["code"] == "not_found"
    assert (await history(bob))["total"] == 0


async def test_bad_history_queries_are_422(client) -> None:
    for params in ({"status": "sleeping"}, {"limit": 0}, {"page": 0}, {"workflow_id": ""}):
        response = await client.get("/api/v1/executions", params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.json()["error"]["code"] == "invalid_input"


async def test_the_inspector_shows_each_nodes_inputs_outputs_error_and_duration(client) -> None:
    chain = await create_workflow(client, CHAIN)
    failed = await run_to_end(client, chain, {"text": "{oops"})
    detail = (await client.get(f"/api/v1/executions/{failed}")).json()
    assert (detail["workflow_id"], detail["status"]) == (chain, "failed")
    nodes = detail["nodes"]
    assert set(nodes) == {"start", "shout", "parse"}  # ``out`` never ran
    shout = nodes["shout"]
    assert (shout["type"], shout["name"], shout["status"], shout["attempt"]) == (
        "transform",
        "Shout",
        "completed",
        1,
    )
    assert shout["inputs"] == {"input": "{oops"}
    assert shout["outputs"] == {"output": "{OOPS"}
    assert shout["error"] is None and shout["duration_ms"] >= 0
    parse = nodes["parse"]
    assert (parse["status"], parse["inputs"], parse["outputs"]) == (
        "failed",
        {"input": "{OOPS"},
        None,
    )
    assert parse["error"]["code"] == "invalid_input" and parse["error"]["node"] == "parse"
    assert nodes["start"]["inputs"] == {}


async def test_the_inspector_shows_a_waiting_request(client) -> None:
    gate = await create_workflow(client, GATE)
    run_id = await start(client, gate, {"q": 1})
    await wait_status(client, run_id, "waiting")
    for _ in range(100):  # the waiting record is saved just before the status
        nodes = (await client.get(f"/api/v1/executions/{run_id}")).json()["nodes"]
        if nodes.get("ask", {}).get("status") == "waiting":
            break
        await asyncio.sleep(0.01)
    ask = nodes["ask"]
    assert (ask["type"], ask["status"], ask["inputs"]) == (
        "approval",
        "waiting",
        {"input": {"q": 1}},
    )
    assert ask["waiting"] is not None
