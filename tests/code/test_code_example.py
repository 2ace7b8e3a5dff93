"""``examples/workflows/code-node.yaml`` runs through the API with the real sandbox."""

from __future__ import annotations

from pathlib import Path

EXAMPLE = Path(__file__).parents[2] / "examples" / "workflows" / "code-node.yaml"


async def test_the_code_node_example_runs_in_the_sandbox(client) -> None:
    imported = await client.post(
        "/api/v1/workflows/import",
        content=EXAMPLE.read_bytes(),
        headers={"Content-Type": "application/yaml"},
    )
    assert imported.status_code == 201, imported.text
    url = f"/api/v1/workflows/{imported.json()['id']}/execute"
    done = await client.post(url, json={"input_data": {"numbers": [3, 1, 4, 1, 5]}})
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "succeeded", done.json()
    assert done.json()["outputs"] == {"stats": {"count": 5, "mean": 2.8, "median": 3, "max": 5}}
