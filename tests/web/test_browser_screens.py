"""A screenshot of every screen (test-artifacts/screenshots/screen-*.png), each shown working:
its own controls are there and no error state is showing."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .browser_support import NexusServer, canvas_nodes, create_workflow, save_screenshot


def no_error_state(page: Any) -> None:
    expect(page.locator(".state-error")).to_have_count(0)


def test_every_screen_renders_and_is_captured(page: Any, nexus: NexusServer) -> None:
    workflow_id = create_workflow(
        nexus,
        {
            "name": "Screenshot subject",
            "nodes": [
                {"id": "start", "type": "input", "position": {"x": 0, "y": 0}},
                {
                    "id": "shape",
                    "type": "transform",
                    "position": {"x": 320, "y": 0},
                    "properties": {"template": "About {{ input.input }}", "output_type": "text"},
                },
                {"id": "finish", "type": "output", "position": {"x": 640, "y": 0}},
            ],
            "edges": [
                {
                    "id": "e1",
                    "source": {"node": "start", "port": "output"},
                    "target": {"node": "shape", "port": "input"},
                },
                {
                    "id": "e2",
                    "source": {"node": "shape", "port": "output"},
                    "target": {"node": "finish", "port": "input"},
                },
            ],
        },
    )

    page.goto("/workflows")
    expect(
        page.get_by_test_id("workflow-row").filter(has_text="Screenshot subject")
    ).to_be_visible()
    expect(page.get_by_label("Search workflows")).to_be_visible()
    no_error_state(page)
    save_screenshot(page, "screen-workflows")

    page.goto(f"/workflows/{workflow_id}")
    expect(canvas_nodes(page)).to_have_count(3)
    page.get_by_test_id("node-shape").click()
    expect(page.get_by_test_id("properties-panel")).to_be_visible()
    no_error_state(page)
    save_screenshot(page, "screen-editor")
    page.keyboard.press("Escape")
    page.locator(".react-flow__pane").click(position={"x": 5, "y": 5})
    page.keyboard.press("?")
    expect(page.get_by_test_id("shortcuts-help")).to_be_visible()
    save_screenshot(page, "screen-editor-shortcuts")

    page.goto("/agents")
    expect(page.get_by_role("tab", name="Mine")).to_be_visible()
    expect(page.get_by_role("button", name="New agent")).to_be_visible()
    page.get_by_role("tab", name="Community").click()
    # The seeded example agents are public: the community tab lists them.
    expect(page.get_by_test_id("agent-row").first).to_be_visible()
    no_error_state(page)
    save_screenshot(page, "screen-agents")

    page.goto("/agents/new")
    expect(page.get_by_label("Instructions", exact=True)).to_be_visible()
    expect(page.get_by_label("Output schema (JSON Schema)")).to_be_visible()
    save_screenshot(page, "screen-agent-new")

    page.goto("/chat")
    page.get_by_role("combobox", name="Agent", exact=True).select_option(label="assistant")
    expect(page).to_have_url(re.compile(r"/chat/[^/]+$"))
    expect(page.get_by_role("region", name="Sessions")).to_be_visible()
    expect(page.get_by_label("Message", exact=True)).to_be_enabled()
    expect(page.get_by_role("button", name="New session")).to_be_enabled()
    no_error_state(page)
    save_screenshot(page, "screen-chat")

    for section, control in (
        ("keys", re.compile("^Add key$")),
        ("tokens", re.compile("^Create token$")),
    ):
        page.goto(f"/settings/{section}")
        expect(page.get_by_role("button", name=control)).to_be_visible()
        no_error_state(page)
        save_screenshot(page, f"screen-settings-{section}")
    for section in ("users", "limits"):
        page.goto(f"/settings/{section}")
        expect(page).to_have_url(re.compile(f"/settings/{section}$"))
        expect(page.get_by_test_id("current-user")).to_be_visible()
        no_error_state(page)
        save_screenshot(page, f"screen-settings-{section}")
    page.goto("/settings/users")
    expect(page.get_by_role("main").get_by_text(nexus.admin_email or "")).to_be_visible()
