"""``/api/v1/workflows``, ``/api/v1/executions`` and ``/api/v1/node-types`` over HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import yaml

CHAIN: dict[str, Any] = {
    "name": "greeter",
    "inputs": {
        "type": "object",
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
    },
    "nodes": [
        {"id": "start", "type": "input", "properties": {"field": "name"}},
        {
            "id": "greet",
            "type": "transform",
            "properties": {"template": "hello {{ input.input }}", "output_type": "text"},
        },
        {"id": "out", "type": "output", "properties": {"name": "greeting"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "greet", "port": "input"}},
        {"id": "e2", "source": {"node": "greet", "port": "output"},
         "target": {"node": "out", "port": "input"}},
    ],
}  # fmt: skip

GATE: dict[str, Any] = {
    "name": "gate",
    "nodes": [
        {"id": "start", "type": "input"},
        {"id": "ask", "type": "approval", "properties": {"message": "ok?"}},
        {"id": "yes", "type": "output", "properties": {"name": "approved"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "ask", "port": "input"}},
        {"id": "e2", "source": {"node": "ask", "port": "approved"},
         "target": {"node": "yes", "port": "input"}},
    ],
}  # fmt: skip


async def _create(client, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post("/api/v1/workflows", json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def test_crud_list_and_paging(client) -> None:
    created = await _create(client, CHAIN)
    assert created["name"] == "greeter" and created["published_version"] is None
    assert created["editable"] is True
    wid = created["id"]
    assert (await client.get(f"/api/v1/workflows/{wid}")).json() == created
    await _create(client, {**CHAIN, "name": "second"})
    page = (await client.get("/api/v1/workflows?page=2&limit=1")).json()
    assert (page["total"], page["page"], [w["name"] for w in page["items"]]) == (
        2,
        2,
        ["second"],
    )
    # Lists carry summaries: the size of the graph, not the graph.
    summary = (await client.get("/api/v1/workflows?limit=1")).json()["items"][0]
    assert summary["node_count"] == 3 and "nodes" not in summary
    assert {k: summary[k] for k in ("id", "name", "editable", "visibility")} == {
        k: created[k] for k in ("id", "name", "editable", "visibility")
    }
    found = (await client.get("/api/v1/workflows", params={"search": "SEC"})).json()
    assert [w["name"] for w in found["items"]] == ["second"]
    literal = (await client.get("/api/v1/workflows", params={"search": "%"})).json()
    assert literal["total"] == 0  # a wildcard character is matched literally
    too_long = await client.get("/api/v1/workflows", params={"search": "x" * 201})
    assert too_long.status_code == 422
    updated = await client.put(f"/api/v1/workflows/{wid}", json={**CHAIN, "description": "d"})
    assert updated.status_code == 200 and updated.json()["description"] == "d"
    assert (await client.delete(f"/api/v1/workflows/{wid}")).status_code == 204
    assert (await client.get(f"/api/v1/workflows/{wid}")).status_code == 404


async def test_execute_sync_async_and_versions(client) -> None:
    wid = (await _create(client, CHAIN))["id"]
    url = f"/api/v1/workflows/{wid}/execute"
    sync = await client.post(url, json={"input_data": {"name": "ada"}})
    assert sync.status_code == 200, sync.text
    body = sync.json()
    assert (body["status"], body["outputs"]) == ("succeeded", {"greeting": "hello ada"})

    published = await client.post(f"/api/v1/workflows/{wid}/versions", json={"label": "first"})
    assert published.status_code == 201 and published.json()["version"] == 1
    edited = {**CHAIN, "nodes": [dict(n) for n in CHAIN["nodes"]]}
    edited["nodes"][1] = {
        **edited["nodes"][1],
        "properties": {"template": "bye", "output_type": "text"},
    }
    assert (await client.put(f"/api/v1/workflows/{wid}", json=edited)).status_code == 200
    pinned = (await client.post(url, json={"input_data": {"name": "b"}})).json()
    assert pinned["outputs"] == {"greeting": "hello b"}  # the published version, not the draft
    await client.post(f"/api/v1/workflows/{wid}/versions")
    versions = (await client.get(f"/api/v1/workflows/{wid}/versions")).json()
    assert [(v["version"], v["label"]) for v in versions] == [(1, "first"), (2, None)]
    latest = (await client.post(url, json={"input_data": {"name": "b"}})).json()
    assert latest["outputs"] == {"greeting": "bye"}
    old = await client.post(url, json={"input_data": {"name": "c"}, "options": {"version": 1}})
    assert old.json()["outputs"] == {"greeting": "hello c"}

    started = await client.post(url, json={"input_data": {"name": "z"}, "options": {"async": True}})
    assert started.status_code == 202
    run_id = started.json()["execution_id"]
    for _ in range(100):
        execution = (await client.get(f"/api/v1/executions/{run_id}")).json()
        if execution["status"] == "succeeded":
            break
        await asyncio.sleep(0.02)
    assert execution["workflow_id"] == wid and execution["version"] == 2
    assert execution["output"] == {"greeting": "bye"}
    assert {n: r["status"] for n, r in execution["nodes"].items()} == dict.fromkeys(
        ("greet", "out", "start"), "completed"
    )
    run = (await client.get(f"/api/v1/runs/{run_id}")).json()
    assert run["kind"] == "workflow"
    events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run_completed"


async def test_approval_stop_retry_and_rerun(client) -> None:
    wid = (await _create(client, GATE))["id"]
    waiting = (
        await client.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": {"a": 1}})
    ).json()
    assert waiting["status"] == "waiting"
    assert waiting["waiting"]["ask"]["message"] == "ok?"
    run_id = waiting["execution_id"]
    url = f"/api/v1/executions/{run_id}"
    not_waiting = await client.post(f"{url}/approvals/start", json={"approved": True})
    assert not_waiting.status_code == 409
    decided = await client.post(f"{url}/approvals/ask", json={"approved": True, "comment": "go"})
    assert decided.status_code == 202
    for _ in range(100):
        done = (await client.get(url)).json()
        if done["status"] == "succeeded":
            break
        await asyncio.sleep(0.02)
    assert done["output"] == {"approved": {"a": 1}}
    assert done["nodes"]["ask"]["outputs"]["decision"]["comment"] == "go"
    assert (await client.post(f"{url}/stop")).status_code == 409
    assert (await client.post(f"{url}/retry")).status_code == 409
    rerun = await client.post(f"{url}/rerun", json={"from_node": "ask", "inputs": {"a": 2}})
    assert rerun.status_code == 202, rerun.text
    second = rerun.json()["id"]
    stopped = await client.post(f"/api/v1/executions/{second}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"


async def test_viewers_decide_and_stop_their_own_runs_only(client, make_user) -> None:
    wid = (await _create(client, {**GATE, "visibility": "workspace"}))["id"]
    execute = f"/api/v1/workflows/{wid}/execute"
    viewer = await make_user("view@nexus.test", role="viewer")
    theirs = (await viewer.post(execute, json={"input_data": {"a": 1}})).json()
    admins = (await client.post(execute, json={"input_data": {"a": 2}})).json()
    assert theirs["status"] == admins["status"] == "waiting"
    url = f"/api/v1/executions/{theirs['execution_id']}"
    decided = await viewer.post(f"{url}/approvals/ask", json={"approved": True})
    assert decided.status_code == 202, decided.text
    other = f"/api/v1/executions/{admins['execution_id']}"
    assert (await viewer.post(f"{other}/approvals/ask", json={"approved": True})).status_code == 404
    assert (await viewer.post(f"{other}/stop")).status_code == 404
    assert (await client.get(other)).json()["status"] == "waiting"  # untouched
    assert (await client.get(url)).status_code == 200  # the workspace admin sees every run
    stopped = await client.post(f"{other}/stop")
    assert stopped.status_code == 200 and stopped.json()["status"] == "cancelled"


async def test_import_export_round_trip(client) -> None:
    imported = await client.post(
        "/api/v1/workflows/import",
        content=yaml.safe_dump(CHAIN).encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert imported.status_code == 201, imported.text
    wid = imported.json()["id"]
    exported = await client.get(f"/api/v1/workflows/{wid}/export?format=yaml")
    assert exported.headers["content-type"].startswith("application/yaml")
    as_json = (await client.get(f"/api/v1/workflows/{wid}/export?format=json")).json()
    assert yaml.safe_load(exported.text) == as_json
    again = await client.post(
        "/api/v1/workflows/import",
        json={**as_json, "name": "copy"},
    )
    assert again.status_code == 201
    assert (
        await client.get(f"/api/v1/workflows/{again.json()['id']}/export?format=json")
    ).json() == {**as_json, "name": "copy"}


async def test_node_types(client) -> None:
    types = (await client.get("/api/v1/node-types")).json()
    names = {t["type"] for t in types}
    assert {"input", "output", "llm", "agent", "tool", "condition", "switch", "loop", "merge",
            "transform", "http", "approval", "subworkflow", "delay"} <= names  # fmt: skip
    assert all(isinstance(t["properties_schema"], dict) for t in types)


GHOST_EDGE = {
    "id": "e3",
    "source": {"node": "out", "port": "output"},
    "target": {"node": "ghost", "port": "input"},
}
NO_TEMPLATE = [CHAIN["nodes"][0], {"id": "greet", "type": "transform"}, CHAIN["nodes"][2]]
BAD_GRAPHS = [
    ({**CHAIN, "nodes": [*CHAIN["nodes"], {"id": "x", "type": "nope"}]}, "x", "type"),
    ({**CHAIN, "edges": [*CHAIN["edges"], GHOST_EDGE]}, None, None),
    ({**CHAIN, "nodes": NO_TEMPLATE}, "greet", None),
]


@pytest.mark.parametrize("body,node,field", BAD_GRAPHS)
async def test_invalid_graphs_are_422_with_details_and_write_nothing(
    client, body, node, field
) -> None:
    response = await client.post("/api/v1/workflows", json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["details"]
    if node is not None:
        assert error["details"][0]["node"] == node
    if field is not None:
        assert field in error["details"][0]["field"]
    assert (await client.get("/api/v1/workflows")).json()["total"] == 0


@pytest.mark.parametrize("body,node,field", BAD_GRAPHS)
async def test_an_unfinished_draft_is_saved_with_its_problems_and_cannot_run(
    client, body, node, field
) -> None:
    created = await _create(client, CHAIN)
    url = f"/api/v1/workflows/{created['id']}"
    assert created["problems"] == []
    saved = await client.put(url, json=body)
    assert saved.status_code == 200, saved.text  # the work is kept
    problems = saved.json()["problems"]
    assert problems and saved.json()["nodes"] == (await client.get(url)).json()["nodes"]
    if node is not None:
        assert problems[0]["node"] == node
    if field is not None:
        assert field in problems[0]["field"]
    assert (await client.get(url)).json()["problems"] == problems
    # It cannot run or be published until the problems are fixed.
    ran = await client.post(f"{url}/execute", json={"input_data": {"name": "a"}})
    assert ran.status_code == 422 and ran.json()["error"]["details"], ran.text
    assert (await client.post(f"{url}/versions")).status_code == 422
    assert (await client.get("/api/v1/runs")).json()["total"] == 0
    fixed = await client.put(url, json=CHAIN)
    assert fixed.status_code == 200 and fixed.json()["problems"] == []
    ran = await client.post(f"{url}/execute", json={"input_data": {"name": "a"}})
    assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text


async def test_a_body_that_is_not_a_workflow_is_refused_and_saves_nothing(client) -> None:
    created = await _create(client, CHAIN)
    url = f"/api/v1/workflows/{created['id']}"
    for body in ({**CHAIN, "nodes": "many"}, {**CHAIN, "name": ""}, {**CHAIN, "extra": 1}):
        response = await client.put(url, json=body)
        assert response.status_code == 422, (body, response.text)
    after = (await client.get(url)).json()
    assert {k: after[k] for k in ("name", "nodes", "edges")} == {
        k: created[k] for k in ("name", "nodes", "edges")
    }


BAD_REQUESTS = [
    ("get", "/api/v1/workflows/wf_missing", None, 404),
    ("put", "/api/v1/workflows/wf_missing", CHAIN, 404),
    ("delete", "/api/v1/workflows/wf_missing", None, 404),
    ("post", "/api/v1/workflows/wf_missing/execute", {}, 404),
    ("get", "/api/v1/workflows/wf_missing/export", None, 404),
    ("get", "/api/v1/workflows/wf_missing/versions", None, 404),
    ("post", "/api/v1/workflows/wf_missing/versions", None, 404),
    ("get", "/api/v1/executions/run_missing", None, 404),
    ("post", "/api/v1/executions/run_missing/stop", None, 404),
    ("post", "/api/v1/executions/run_missing/retry", None, 404),
    ("post", "/api/v1/executions/run_missing/rerun", {"from_node": "a"}, 404),
    ("post", "/api/v1/executions/run_missing/approvals/a", {"approved": True}, 404),
    ("post", "/api/v1/workflows", {"name": ""}, 422),
    ("post", "/api/v1/workflows", {**CHAIN, "extra": 1}, 422),
]


@pytest.mark.parametrize("method,url,body,expected", BAD_REQUESTS)
async def test_bad_requests(client, method, url, body, expected) -> None:
    kwargs = {"json": body} if body is not None else {}
    response = await client.request(method, url, **kwargs)
    assert response.status_code == expected, response.text
    assert "error" in response.json()


async def test_bad_execute_input_and_unknown_version(client) -> None:
    wid = (await _create(client, CHAIN))["id"]
    url = f"/api/v1/workflows/{wid}/execute"
    bad = await client.post(url, json={"input_data": {"name": 5}})
    assert bad.status_code == 422
    assert bad.json()["error"]["details"][0]["field"] == "input_data.name"
    missing = await client.post(url, json={"input_data": {"name": "x"}, "options": {"version": 9}})
    assert missing.status_code == 404
    assert (await client.get("/api/v1/runs")).json()["total"] == 0
    bad_import = await client.post(
        "/api/v1/workflows/import", content=b"name: [", headers={"Content-Type": "application/yaml"}
    )
    assert bad_import.status_code == 422
    duplicate = await client.post("/api/v1/workflows", json=CHAIN)
    assert duplicate.status_code == 409


async def test_other_workspaces_see_nothing(client, make_user) -> None:
    wid = (await _create(client, CHAIN))["id"]
    run = (
        await client.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": {"name": "a"}})
    ).json()
    intruder = await make_user("eve@nexus.test", role="developer", workspace="Other")
    for method, url in [
        ("get", f"/api/v1/workflows/{wid}"),
        ("post", f"/api/v1/workflows/{wid}/execute"),
        ("get", f"/api/v1/executions/{run['execution_id']}"),
        ("post", f"/api/v1/executions/{run['execution_id']}/rerun"),
    ]:
        kwargs = {"json": {"from_node": "greet"}} if url.endswith("rerun") else {}
        if url.endswith("execute"):
            kwargs = {"json": {}}
        assert (await intruder.request(method, url, **kwargs)).status_code == 404
    assert (await intruder.get("/api/v1/workflows")).json()["total"] == 0
    viewer = await make_user("view@nexus.test", role="viewer")
    assert (await viewer.get(f"/api/v1/workflows/{wid}")).status_code == 200
    assert (await viewer.put(f"/api/v1/workflows/{wid}", json=CHAIN)).status_code == 403
    # viewers run what they may read (issue 3); the run is theirs, others' runs stay hidden
    ran = await viewer.post(f"/api/v1/workflows/{wid}/execute", json={"input_data": {"name": "v"}})
    assert ran.status_code == 200, ran.text
    mine = ran.json()["execution_id"]
    assert (await viewer.get(f"/api/v1/executions/{mine}")).status_code == 200
    assert (await viewer.get(f"/api/v1/executions/{run['execution_id']}")).status_code == 404
    listed = (await viewer.get("/api/v1/executions", params={"workflow_id": wid})).json()
    assert [item["id"] for item in listed["items"]] == [mine]


async def test_version_get_diff_and_restore(client) -> None:
    wid = (await _create(client, CHAIN))["id"]
    base = f"/api/v1/workflows/{wid}"
    await client.post(f"{base}/versions", json={"label": "v1"})
    edited = {
        **CHAIN,
        "description": "two",
        "nodes": [*CHAIN["nodes"][:2], {**CHAIN["nodes"][2], "name": "renamed"}],
    }
    await client.put(base, json=edited)
    await client.post(f"{base}/versions")
    one = (await client.get(f"{base}/versions/1")).json()
    assert (one["version"], one["label"], one["spec"]["description"]) == (1, "v1", "")
    diff = (await client.get(f"{base}/versions/1/diff?against=2")).json()
    assert diff == {
        "fields_changed": ["description"],
        "nodes_added": [],
        "nodes_removed": [],
        "nodes_changed": ["out"],
        "edges_added": [],
        "edges_removed": [],
        "edges_changed": [],
    }
    restored = await client.post(f"{base}/versions/1/restore")
    assert restored.status_code == 200 and restored.json()["description"] == ""
    assert restored.json()["published_version"] == 2  # restoring edits the draft only
    assert (await client.get(f"{base}/versions/2/diff")).json()["nodes_changed"] == ["out"]
    assert (await client.get(f"{base}/versions/9")).status_code == 404
    assert (await client.post(f"{base}/versions/9/restore")).status_code == 404
