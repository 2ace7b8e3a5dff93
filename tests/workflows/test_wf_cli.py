"""``nexus workflow validate|run|import|export`` (in-process, on a temporary NEXUS_HOME)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nexus.cli import app
from nexus.engine.spec import WorkflowSpec
from nexus.settings import get_settings

GREETER = {
    "name": "greeter",
    "inputs": {"type": "object", "properties": {"name": {"type": "string"}}},
    "nodes": [
        {"id": "start", "type": "input", "properties": {"field": "name"}},
        {"id": "greet", "type": "transform",
         "properties": {"template": "hello {{ input.input }}", "output_type": "text"}},
        {"id": "out", "type": "output", "properties": {"name": "greeting"}},
    ],
    "edges": [
        {"id": "e1", "source": {"node": "start", "port": "output"},
         "target": {"node": "greet", "port": "input"}},
        {"id": "e2", "source": {"node": "greet", "port": "output"},
         "target": {"node": "out", "port": "input"}},
    ],
}  # fmt: skip


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("NEXUS_HOME", str(tmp_path / "home"))
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    yield runner
    get_settings.cache_clear()


def test_validate_run_import_export(cli: CliRunner, tmp_path: Path) -> None:
    good = tmp_path / "greeter.yaml"
    good.write_text(yaml.safe_dump(GREETER))
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"name": "bad", "nodes": [{"id": "a", "type": "nope"}]}))

    assert cli.invoke(app, ["workflow", "validate", str(good)]).exit_code == 0
    invalid = cli.invoke(app, ["workflow", "validate", str(bad)])
    assert invalid.exit_code == 1 and "node a · type" in invalid.output

    ran = cli.invoke(app, ["workflow", "run", str(good), "-i", "name=ada", "--json"])
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.stdout)
    assert (result["status"], result["outputs"]) == ("succeeded", {"greeting": "hello ada"})

    assert cli.invoke(app, ["workflow", "import", str(good)]).exit_code == 0
    stored = cli.invoke(app, ["workflow", "run", "greeter", "-i", "name=bo", "--json"])
    assert json.loads(stored.stdout)["outputs"] == {"greeting": "hello bo"}
    exported = cli.invoke(app, ["workflow", "export", "greeter", "--format", "json"])
    assert exported.exit_code == 0
    spec = WorkflowSpec.model_validate(json.loads(exported.stdout))
    assert spec == WorkflowSpec.model_validate(GREETER)
