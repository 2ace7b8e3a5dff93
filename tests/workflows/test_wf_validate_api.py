"""``POST /api/v1/workflows/validate``: the editor's check, exactly the engine's, saving nothing."""

from __future__ import annotations

import copy
from typing import Any

GRAPH: dict[str, Any] = {
    "name": "checked",
    "nodes": [
        {"id": "start", "type": "input"},
        {"id": "shout", "type": "transform",
         "properties": {"template": "{{ input.input | upper }}", "output_type": "text"}},
        {"id": "out", "type": "output", "properties": {"name": "result"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "shout", "port": "input"}},
        {"id": "e2", "source": {"node": "shout", "port": "output"},
         "target": {"node": "out", "port": "input"}},
    ],
}  # fmt: skip


async def _count(client) -> int:
    return (await client.get("/api/v1/workflows")).json()["total"]


async def test_a_valid_graph_is_valid_and_nothing_is_saved(client) -> None:
    before = await _count(client)
    response = await client.post("/api/v1/workflows/validate", json=GRAPH)
    assert response.status_code == 200, response.text
    assert response.json() == {"valid": True, "errors": []}
    assert await _count(client) == before


async def test_problems_name_their_node_and_field(client) -> None:
    broken = copy.deepcopy(GRAPH)
    broken["nodes"][1]["type"] = "no-such-type"
    broken["edges"].append(
        {"id": "e3", "source": {"node": "out", "port": "output"},
         "target": {"node": "ghost", "port": "input"}}
    )  # fmt: skip
    response = await client.post("/api/v1/workflows/validate", json=broken)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["valid"] is False
    nodes = {problem["node"] for problem in report["errors"]}
    assert "shout" in nodes, report
    assert all(problem["message"] for problem in report["errors"])
    assert len(report["errors"]) >= 2, report


async def test_a_body_that_is_not_a_workflow_is_422(client, anon) -> None:
    response = await client.post("/api/v1/workflows/validate", json={"nodes": "nope"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_input"
    assert (await anon.post("/api/v1/workflows/validate", json=GRAPH)).status_code == 401
