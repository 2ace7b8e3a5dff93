"""What a viewer sees: everything readable and runnable, no edit control."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from .browser_support import NexusServer, PageFactory, canvas_nodes, create_workflow


def test_a_viewer_sees_no_edit_controls(open_page: PageFactory, nexus: NexusServer) -> None:
    workflow_id = create_workflow(
        nexus,
        {
            "name": "Shown to viewers",
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
        },
    )
    viewer = nexus.make_user("viewer")
    page = open_page(nexus, viewer)

    page.goto("/workflows")
    expect(page.get_by_test_id("current-user")).to_contain_text(f"{viewer} · viewer")
    row = page.get_by_test_id("workflow-row").filter(has_text="Shown to viewers")
    expect(row).to_have_count(1)
    expect(page.get_by_role("button", name="Open Shown to viewers")).to_be_visible()
    for name in ("New workflow", "Import", "Duplicate Shown to viewers", "Delete Shown to viewers"):
        expect(page.get_by_role("button", name=name, exact=True)).to_have_count(0)

    page.goto(f"/workflows/{workflow_id}")
    expect(canvas_nodes(page)).to_have_count(2)
    expect(page.get_by_role("button", name="Run", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    expect(page.locator('[data-testid^="palette-item-"]')).to_have_count(0)

    # Selecting a node and pressing Delete does not remove it for a viewer.
    page.get_by_test_id("node-finish").click()
    page.keyboard.press("Delete")
    expect(canvas_nodes(page)).to_have_count(2)
    spec = nexus.api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert [n["id"] for n in spec["nodes"]] == ["start", "finish"]

    # Viewers run what they may read (issue 3): the run is theirs and completes.
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_test_id("run-status")).to_have_text(
        re.compile("succeeded", re.I), timeout=30_000
    )
