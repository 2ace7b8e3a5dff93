"""The workflows list in the browser: YAML import then export."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from nexus.engine.spec import WorkflowSpec

from .browser_support import NexusServer

ROUND_TRIP = WorkflowSpec.model_validate(
    {
        "name": "Round trip",
        "description": "Imported from a YAML file, exported back unchanged.",
        "inputs": {
            "type": "object",
            "properties": {"topic": {"type": "string"}},
            "required": ["topic"],
        },
        "nodes": [
            {
                "id": "topic",
                "type": "input",
                "name": "Topic",
                "position": {"x": 0, "y": 80},
                "properties": {"field": "topic"},
            },
            {
                "id": "shape",
                "type": "transform",
                "position": {"x": 320, "y": 80},
                "properties": {"template": "About {{ input.input }}", "output_type": "text"},
                "policy": {"retries": 2, "backoff_s": 0.5},
            },
            {
                "id": "answer",
                "type": "output",
                "position": {"x": 640, "y": 80},
                "properties": {"name": "answer"},
            },
        ],
        "edges": [
            {
                "id": "e1",
                "source": {"node": "topic", "port": "output"},
                "target": {"node": "shape", "port": "input"},
            },
            {
                "id": "e2",
                "source": {"node": "shape", "port": "output"},
                "target": {"node": "answer", "port": "input"},
            },
        ],
    }
)


def test_yaml_import_then_export_round_trips_byte_for_byte(
    page: Any, nexus: NexusServer, tmp_path: Path
) -> None:
    # The API exports a workflow as its canonical YAML (``WorkflowSpec.to_yaml``) and promises
    # that reading it back gives the same spec; a file already in that form comes back unchanged.
    document = ROUND_TRIP.to_yaml().encode()
    source = tmp_path / "round-trip.yaml"
    source.write_bytes(document)

    page.goto("/workflows")
    expect(page.get_by_role("button", name="Import", exact=True)).to_be_visible()
    page.get_by_test_id("import-file").set_input_files(str(source))
    row = page.get_by_test_id("workflow-row").filter(has_text="Round trip")
    expect(row).to_have_count(1)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Export Round trip").click()
    download = download_info.value
    assert download.suggested_filename == "Round trip.yaml"
    exported = Path(download.path()).read_bytes()
    assert exported == document

    # And it is the workflow as stored, not a copy the page kept of the file.
    stored = [
        w for w in nexus.api.get("/api/v1/workflows").json()["items"] if w["name"] == "Round trip"
    ]
    assert len(stored) == 1
    assert nexus.api.get(f"/api/v1/workflows/{stored[0]['id']}/export").content == exported
