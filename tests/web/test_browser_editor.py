"""The workflow editor in the browser: build by drag and drop, save, run, inspect, fail and retry,
refuse an incompatible connection, and ask before Back leaves unsaved changes."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect

from .browser_support import (
    NexusServer,
    canvas_nodes,
    create_workflow,
    drag_between,
    port_handle,
    save_screenshot,
    workflow_executions,
)

RUN_TIMEOUT_MS = 60_000


def node_id_of(node: Any) -> str:
    return str(node.get_attribute("data-testid")).removeprefix("node-")


def drop_on_canvas(page: Any, node_type: str, x: float, y: float) -> None:
    """Drag the palette item of ``node_type`` onto the canvas at (x, y) of the pane."""
    page.get_by_test_id(f"palette-item-{node_type}").drag_to(
        page.locator(".react-flow__pane"), target_position={"x": x, "y": y}
    )


def test_build_a_two_node_workflow_by_drag_and_drop_save_and_run_it(
    page: Any, nexus: NexusServer
) -> None:
    page.goto("/workflows")
    page.get_by_role("button", name="New workflow").click()
    page.get_by_label("Name", exact=True).fill("Dragged together")
    page.get_by_role("button", name="Create", exact=True).click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    workflow_id = page.url.rstrip("/").rsplit("/", 1)[-1]
    expect(page.get_by_test_id("palette-item-input")).to_be_visible()
    expect(canvas_nodes(page)).to_have_count(0)

    drop_on_canvas(page, "input", 200, 250)
    expect(canvas_nodes(page)).to_have_count(1)
    drop_on_canvas(page, "output", 650, 250)
    expect(canvas_nodes(page)).to_have_count(2)
    first, second = canvas_nodes(page).nth(0), canvas_nodes(page).nth(1)
    input_id, output_id = node_id_of(first), node_id_of(second)
    expect(first).to_have_attribute("data-status", "idle")

    drag_between(
        page,
        port_handle(page, input_id, "output", "source"),
        port_handle(page, output_id, "input", "target"),
    )
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    expect(page.get_by_test_id("connection-error")).to_have_count(0)

    save = page.get_by_role("button", name="Save", exact=True)
    expect(save).to_be_enabled()
    save.click()
    expect(save).to_be_disabled()
    stored = nexus.api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert sorted(n["type"] for n in stored["nodes"]) == ["input", "output"]
    assert [(e["source"], e["target"]) for e in stored["edges"]] == [
        ({"node": input_id, "port": "output"}, {"node": output_id, "port": "input"})
    ]

    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Start run").click()
    expect(page.get_by_test_id("run-status")).to_have_text(
        re.compile("succeeded", re.I), timeout=RUN_TIMEOUT_MS
    )
    for node_id in (input_id, output_id):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "completed")

    page.get_by_test_id(f"node-{output_id}").click()
    inspector = page.get_by_test_id("inspector")
    expect(inspector).to_be_visible()
    # The workflow's input (an empty object, the form had no fields) flowed through both nodes.
    expect(inspector.get_by_test_id("inspector-output")).to_contain_text("{}")
    expect(inspector.get_by_test_id("inspector-input")).to_contain_text("{}")
    assert [r["status"] for r in workflow_executions(nexus, workflow_id)] == ["succeeded"]
    save_screenshot(page, "screen-editor-run")


CHILD = {
    "name": "Greeter child",
    "nodes": [
        {"id": "hello", "type": "transform", "properties": {"template": "hello from the child"}},
        {"id": "result", "type": "output", "properties": {"name": "greeting"}},
    ],
    "edges": [
        {
            "id": "e1",
            "source": {"node": "hello", "port": "output"},
            "target": {"node": "result", "port": "input"},
        }
    ],
}


def test_a_failing_node_shows_failed_and_retry_from_the_failed_node_completes_it(
    page: Any, nexus: NexusServer
) -> None:
    # The parent calls version 1 of a child workflow that is not published yet: the sub-workflow
    # node fails deterministically. Publishing the child fixes the cause; a retry from the failed
    # node then completes it without running the nodes that already completed again.
    child_id = create_workflow(nexus, CHILD)
    parent_id = create_workflow(
        nexus,
        {
            "name": "Calls an unpublished child",
            "nodes": [
                {"id": "start", "type": "input", "position": {"x": 0, "y": 0}},
                {
                    "id": "child",
                    "type": "subworkflow",
                    "position": {"x": 300, "y": 0},
                    "properties": {"workflow_id": child_id, "version": 1},
                },
                {"id": "done", "type": "output", "position": {"x": 600, "y": 0}},
            ],
            "edges": [
                {
                    "id": "e1",
                    "source": {"node": "start", "port": "output"},
                    "target": {"node": "child", "port": "input"},
                },
                {
                    "id": "e2",
                    "source": {"node": "child", "port": "output"},
                    "target": {"node": "done", "port": "input"},
                },
            ],
        },
    )
    page.goto(f"/workflows/{parent_id}")
    expect(canvas_nodes(page)).to_have_count(3)
    page.get_by_role("button", name="Run", exact=True).click()
    page.get_by_role("button", name="Start run").click()

    expect(page.get_by_test_id("run-status")).to_have_text(
        re.compile("failed", re.I), timeout=RUN_TIMEOUT_MS
    )
    expect(page.get_by_test_id("node-child")).to_have_attribute("data-status", "failed")
    expect(page.get_by_test_id("node-start")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("node-done")).not_to_have_attribute("data-status", "completed")
    page.get_by_test_id("node-child").click()
    expect(page.get_by_test_id("inspector-error")).to_contain_text("no version 1")
    save_screenshot(page, "screen-editor-failed-run")

    published = nexus.api.post(f"/api/v1/workflows/{child_id}/versions", json={})
    assert published.status_code == 201, published.text

    page.get_by_role("button", name="Retry from failed node").click()
    expect(page.get_by_test_id("run-status")).to_have_text(
        re.compile("succeeded", re.I), timeout=RUN_TIMEOUT_MS
    )
    for node_id in ("start", "child", "done"):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "completed")
    page.get_by_test_id("node-done").click()
    expect(page.get_by_test_id("inspector-output")).to_contain_text("hello from the child")

    executions = workflow_executions(nexus, parent_id)
    assert len(executions) == 1, "a retry continues the same run"
    execution = executions[0]
    assert execution["status"] == "succeeded"
    assert execution["nodes"]["start"]["attempt"] == 1, "completed nodes are not run again"
    assert execution["nodes"]["child"]["attempt"] >= 2


def test_an_incompatible_connection_is_refused_with_a_visible_reason(
    page: Any, nexus: NexusServer
) -> None:
    workflow_id = create_workflow(
        nexus,
        {
            "name": "Typed ports",
            "nodes": [
                {
                    "id": "words",
                    "type": "transform",
                    "position": {"x": 0, "y": 0},
                    "properties": {"template": "some words", "output_type": "text"},
                    "outputs": [{"name": "output", "type": "text"}],
                },
                {
                    "id": "count",
                    "type": "transform",
                    "position": {"x": 400, "y": 200},
                    "properties": {"template": "1"},
                    "inputs": [{"name": "input", "type": "number"}],
                },
            ],
        },
    )
    page.goto(f"/workflows/{workflow_id}")
    expect(canvas_nodes(page)).to_have_count(2)
    expect(page.locator(".react-flow__edge")).to_have_count(0)

    drag_between(
        page,
        port_handle(page, "words", "output", "source"),
        port_handle(page, "count", "input", "target"),
    )
    error = page.get_by_test_id("connection-error")
    expect(error).to_be_visible()
    expect(error).to_have_attribute("role", "alert")
    expect(error).to_contain_text(re.compile(r"text\s*→\s*number", re.I))
    expect(error).to_contain_text("incompatible")
    expect(page.locator(".react-flow__edge")).to_have_count(0)
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled()
    save_screenshot(page, "screen-editor-refused-connection")
    stored = nexus.api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert stored["edges"] == []


def test_back_with_unsaved_changes_asks_and_stay_keeps_the_edit(
    page: Any, nexus: NexusServer
) -> None:
    workflow_id = create_workflow(
        nexus,
        {
            "name": "Guarded",
            "nodes": [
                {
                    "id": "only",
                    "type": "transform",
                    "name": "Before",
                    "position": {"x": 0, "y": 0},
                    "properties": {"template": "x", "output_type": "text"},
                }
            ],
        },
    )
    page.goto("/workflows")
    page.get_by_role("link", name="Guarded", exact=True).click()
    page.wait_for_url(f"**/workflows/{workflow_id}")
    expect(canvas_nodes(page)).to_have_count(1)

    page.get_by_test_id("node-only").click()
    name = page.get_by_test_id("properties-panel").get_by_label("Node name", exact=True)
    name.fill("After")
    save = page.get_by_role("button", name="Save", exact=True)
    expect(save).to_be_enabled()

    page.go_back()
    guard = page.get_by_role("dialog", name="Leave without saving?")
    expect(guard).to_be_visible()
    save_screenshot(page, "screen-editor-leave-guard")
    guard.get_by_role("button", name="Stay").click()
    expect(guard).to_be_hidden()
    assert page.url.endswith(f"/workflows/{workflow_id}")
    expect(page.get_by_test_id("node-only")).to_contain_text("After")
    expect(save).to_be_enabled()

    # signing out is leaving too: "Stay" keeps the edit and the session
    page.get_by_role("button", name="Sign out").click()
    expect(guard).to_be_visible()
    guard.get_by_role("button", name="Stay").click()
    expect(guard).to_be_hidden()
    assert page.url.endswith(f"/workflows/{workflow_id}")
    expect(page.get_by_test_id("current-user")).to_be_visible()
    expect(page.get_by_test_id("node-only")).to_contain_text("After")
    assert page.evaluate("fetch('/api/v1/auth/me').then((r) => r.status)") == 200

    # leaving on purpose drops the edit
    page.go_back()
    guard.get_by_role("button", name="Leave without saving").click()
    page.wait_for_url("**/workflows")
    stored = nexus.api.get(f"/api/v1/workflows/{workflow_id}").json()
    assert [n.get("name") for n in stored["nodes"]] == ["Before"]
