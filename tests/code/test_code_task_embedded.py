"""The code agent with the real embedded model (SmolLM2-135M) on a trivial task."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.model


async def test_the_embedded_model_writes_a_program_that_prints_hello(client) -> None:
    response = await client.post(
        "/api/v1/code/tasks",
        params={"wait": "true"},
        json={
            "prompt": "Print hello.",
            "model": "local:smollm2-135m",
            "language": "python",
            "max_attempts": 3,
            "expect_output": "hello",
        },
        timeout=600,
    )
    assert response.status_code == 200, response.text
    done = response.json()
    events = (await client.get(f"/api/v1/runs/{done['run_id']}/events/list")).json()
    steps = [e["data"] for e in events if e["type"] == "code_attempt"]
    for step in steps:
        print(f"--- attempt {step['attempt']}: exit {step['exit_code']}\n{step['answer']}")
    assert steps, "the loop recorded no attempt"
    assert done["status"] == "succeeded", done
    out = done["output"]
    assert out["success"] is True and 1 <= out["attempts"] <= 3
    assert "hello" in out["stdout"].lower()
    assert steps[-1]["exit_code"] == 0
