"""The example agents on the real embedded model (SmolLM2-135M), end to end through the HTTP API.

Nothing is scripted: the app uses the real provider registry, the example YAML files are
imported as they ship, and every run goes through the inline worker, the SDK loop, llama.cpp,
the event log and the SQLite file. The model is tiny, so where its wording could drift the tests
assert the structural fact (a tool really ran, a handoff happened) rather than exact text.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import jsonschema
import pytest

pytestmark = pytest.mark.model

LOCAL_MODEL = "local:smollm2-135m"


def sse_events(body: str) -> list[dict[str, Any]]:
    """The ``data`` of each SSE frame, checking that its ``id`` and ``event`` agree with it."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")
        )
        if fields:
            data = json.loads(fields["data"])
            assert (fields["id"], fields["event"]) == (str(data["seq"]), data["type"])
            events.append(data)
    return events


async def run(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": text})
    assert ran.status_code == 200, ran.text
    return ran.json()


async def events_of(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    listed = await client.get(f"/api/v1/runs/{run_id}/events/list")
    assert listed.status_code == 200, listed.text
    events = listed.json()
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["type"] == "run_completed"  # every run ends cleanly, whatever its status
    return events


async def test_assistant_answers_and_the_run_reads_back(client, agent_ids) -> None:
    body = await run(client, agent_ids["assistant"], "What is the capital of France?")
    assert body["status"] == "succeeded", body
    assert "Paris" in body["output"]
    assert body["error"] is None
    local = body["usage"]["by_model"][LOCAL_MODEL]
    assert local["requests"] == 1
    assert local["input_tokens"] > 10 and local["output_tokens"] > 0
    assert (body["usage"]["input_tokens"], body["usage"]["output_tokens"]) == (
        local["input_tokens"],
        local["output_tokens"],
    )

    stored = await client.get(f"/api/v1/runs/{body['run_id']}")
    assert stored.status_code == 200, stored.text
    run_row = stored.json()
    assert (run_row["id"], run_row["agent_id"], run_row["status"]) == (
        body["run_id"],
        agent_ids["assistant"],
        "succeeded",
    )
    assert (run_row["input"], run_row["output"], run_row["usage"]) == (
        {"input": "What is the capital of France?"},
        body["output"],
        body["usage"],
    )
    assert run_row["finished_at"] is not None

    events = await events_of(client, body["run_id"])
    types = [e["type"] for e in events]
    assert types[0] == "run_started" and "message" in types
    assert events[0]["data"] == {"agent": "assistant", "model": LOCAL_MODEL}
    assert [e["data"]["text"] for e in events if e["type"] == "message"] == [body["output"]]
    assert events[-1]["data"]["output"] == body["output"]


async def test_streamed_tokens_make_the_final_output(client, agent_ids) -> None:
    ran = await client.post(
        f"/api/v1/agents/{agent_ids['assistant']}/run",
        json={"input": "What is the capital of France?", "stream": True},
    )
    assert ran.status_code == 200, ran.text
    assert ran.headers["content-type"].startswith("text/event-stream")
    events = sse_events(ran.text)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    completed = events[-1]
    assert completed["type"] == "run_completed"
    assert completed["data"]["status"] == "succeeded"
    tokens = [e["data"]["delta"] for e in events if e["type"] == "token"]
    assert len(tokens) > 2
    assert "".join(tokens) == completed["data"]["output"]
    assert "Paris" in completed["data"]["output"]


async def test_contact_extractor_returns_its_schema(client, agent_ids, example) -> None:
    schema = example("contact-extractor")["output_schema"]
    body = await run(
        client,
        agent_ids["contact-extractor"],
        "Hi, I am Jane Doe, you can write to jane.doe@example.com. I live in Berlin.",
    )
    assert body["status"] == "succeeded", body
    assert isinstance(body["output"], dict)
    jsonschema.validate(body["output"], schema)


async def test_math_tutor_really_runs_the_calculator(client, agent_ids) -> None:
    body = await run(client, agent_ids["math-tutor"], "What is 12 * 7?")
    # The tiny model may keep calling the tool (tool_choice forces it) until max_turns: both
    # endings are clean; what must hold is that the tool ran and its result was recorded.
    assert body["status"] in ("succeeded", "failed"), body
    if body["status"] == "failed":
        assert body["error"]["code"] == "max_turns_exceeded", body
    events = await events_of(client, body["run_id"])
    called = [e["data"] for e in events if e["type"] == "tool_called"]
    outputs = [e["data"] for e in events if e["type"] == "tool_output"]
    assert called and {c["tool"] for c in called} == {"calculator"}
    assert {c["agent"] for c in called} == {"math-tutor"}
    assert any("84" in o["output"] for o in outputs), outputs
    assert {o["call_id"] for o in outputs} <= {c["call_id"] for c in called}
    assert events[-1]["data"]["status"] == body["status"]


async def test_triage_hands_off_to_a_specialist(client, agent_ids) -> None:
    body = await run(client, agent_ids["triage"], "What is 12 * 7?")
    events = await events_of(client, body["run_id"])
    handoffs = [e["data"] for e in events if e["type"] == "handoff"]
    assert handoffs, [e["type"] for e in events]
    assert handoffs[0]["from"] == "triage"
    assert handoffs[0]["to"] in {"math-tutor", "history-tutor"}
    assert events[-1]["data"]["status"] == body["status"]


async def test_guarded_assistant_blocks_password_questions(client, agent_ids) -> None:
    body = await run(client, agent_ids["guarded-assistant"], "what is my password?")
    assert body["status"] == "blocked_by_guardrail", body
    assert body["output"] is None
    assert (body["error"]["code"], body["error"]["guardrail"], body["error"]["stage"]) == (
        "guardrail_tripped",
        "no-passwords",
        "input",
    )
    events = await events_of(client, body["run_id"])
    assert [e["type"] for e in events][-2:] == ["guardrail_tripped", "run_completed"]
    assert "message" not in [e["type"] for e in events]
