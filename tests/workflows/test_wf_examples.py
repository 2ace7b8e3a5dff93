"""The example workflows in ``examples/workflows`` validate and run end to end (a fake model
answers in place of the embedded one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nexus.core.status import RunStatus
from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.services import Services
from nexus.engine.spec import WorkflowSpec

EXAMPLES = Path(__file__).parents[2] / "examples" / "workflows"
INPUTS: dict[str, dict[str, Any]] = {
    "research-and-summarise": {"topic": "bees"},
    "triage": {"message": "my invoice is wrong"},
    "parallel-perspectives": {"idea": "remote work"},
    "iterate-list": {"items": ["a", "b", "c"]},
    "approval-gate": {"subject": "the office"},
    "code-node": {"numbers": [1, 2, 3]},
}


async def fake_llm(prompt: str, *, model: str, system, schema, on_token) -> str:  # type: ignore[no-untyped-def]
    assert model == "local:smollm2-135m"
    return "billing" if "Classify" in prompt else f"answer to: {prompt.splitlines()[-1]}"


async def fake_run_code(language: str, code: str, *, files, timeout_s, memory_mb):  # type: ignore[no-untyped-def]
    """Stands in for the sandbox (tests/code/test_code_example.py runs the real one)."""
    assert language == "python" and "statistics" in files["node_code.py"]
    return {"exit_code": 0, "stdout": '{"count": 3, "mean": 2.0, "median": 2, "max": 3}\n'}


def test_every_example_is_listed() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(INPUTS)


@pytest.mark.parametrize("name", sorted(INPUTS))
async def test_example_runs(name: str) -> None:
    spec = WorkflowSpec.from_yaml((EXAMPLES / f"{name}.yaml").read_text())
    assert spec.name == name
    executor = WorkflowExecutor(
        InMemoryCheckpointer(), services=Services(llm=fake_llm, run_code=fake_run_code)
    )
    plan = executor.compile(spec)
    sink = MemoryEventSink()
    outcome = await executor.start(plan, INPUTS[name], events=sink)
    if name == "approval-gate":
        assert outcome.status is RunStatus.WAITING and list(outcome.waiting) == ["review"]
        decision = {"review": {"approved": True}}
        outcome = await executor.resume(plan, outcome.run_id, events=sink, decisions=decision)
    assert outcome.status is RunStatus.SUCCEEDED, outcome.error
    expected: dict[str, Any] = {
        "research-and-summarise": {
            "summary": "answer to: answer to: Write five short factual notes about: bees"
        },
        "triage": {"ticket": {"queue": "billing", "message": "my invoice is wrong"}},
        "parallel-perspectives": {
            "perspectives": {
                "pros": "answer to: List two advantages of: remote work",
                "cons": "answer to: List two drawbacks of: remote work",
                "example": "answer to: Give one concrete example of: remote work",
            }
        },
        "iterate-list": {"descriptions": [f"answer to: Describe {x} in one line." for x in "abc"]},
        "code-node": {"stats": {"count": 3, "mean": 2.0, "median": 2, "max": 3}},
        "approval-gate": {
            "published": {
                "published": True,
                "text": "answer to: Write a two-sentence announcement about: the office",
            }
        },
    }
    assert outcome.outputs == expected[name]
