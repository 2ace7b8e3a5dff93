"""An unfinished graph is saved, not lost: the editor shows what keeps it from running on the
nodes, after saving and again after a reload, and the API refuses to run it."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .browser_support import NexusServer, canvas_nodes, create_workflow

CONNECTED = {
    "name": "Half drawn",
    "nodes": [
        {"id": "start", "type": "input", "position": {"x": 0, "y": 0}},
        {"id": "finish", "type": "output", "position": {"x": 320, "y": 0}},
    ],
    "edges": [
        {
            "id": "e1",
            "source": {"node": "start", "port": "output"},
            "target": {"node": "finish", "port": "input"},
        }
    ],
}


def test_an_unfinished_draft_is_saved_with_its_problems_shown(
    page: Any, nexus: NexusServer
) -> None:
    workflow_id = create_workflow(nexus, CONNECTED)
    page.goto(f"/workflows/{workflow_id}")
    expect(canvas_nodes(page)).to_have_count(2)

    # A transform node with no template and no connection: the graph cannot run yet.
    page.get_by_test_id("palette-item-transform").click()
    expect(canvas_nodes(page)).to_have_count(3)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Saved with")).to_be_visible()
    errors = page.locator('[data-testid^="node-error-"]')
    expect(errors.first).to_be_visible()

    stored = nexus.api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert len(stored["nodes"]) == 3 and stored["problems"], stored["problems"]
    ran = nexus.api.post(f"/api/v1/workflows/{workflow_id}/execute", json={"input_data": {}})
    assert ran.status_code == 422, ran.text

    page.reload()
    expect(canvas_nodes(page)).to_have_count(3)
    expect(page.locator('[data-testid^="node-error-"]').first).to_be_visible()
    expect(page.locator('[data-testid^="node-error-"]').first).to_contain_text(re.compile(r"\w"))
