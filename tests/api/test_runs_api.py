"""Running agents over HTTP: plain and streamed results, tools, handoffs, guardrails, failures,
sessions, cancellation, and the runs listing — all driven by scripted ``test:*`` models."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from agents import Usage
from agents.testing import ModelCall, ModelStep, assistant_message, function_call

from nexus.testing.scripted_providers import ScriptedProviders


def usage(input_tokens: int, output_tokens: int) -> Usage:
    return Usage(
        requests=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
    )


def sse_events(body: str) -> list[dict[str, Any]]:
    """The ``data`` of each SSE frame, checking that its ``id`` and ``event`` agree with it."""
    events = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        fields = dict(
            line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":")
        )
        if not fields:
            continue
        data = json.loads(fields["data"])
        assert (fields["id"], fields["event"]) == (str(data["seq"]), data["type"])
        events.append(data)
    return events


async def create_agent(client: httpx.AsyncClient, name: str, **fields: Any) -> str:
    body = {"name": name, "model": f"test:{name}", **fields}
    created = await client.post("/api/v1/agents", json=body)
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def run(client: httpx.AsyncClient, agent_id: str, **body: Any) -> dict[str, Any]:
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", **body})
    assert ran.status_code == 200, ran.text
    return ran.json()


async def test_plain_run_returns_output_and_usage_per_model(client, providers) -> None:
    providers.scripted("echo").enqueue(
        ModelStep(output=[assistant_message("hello there")], usage=usage(7, 3))
    )
    agent_id = await create_agent(client, "echo")
    body = await run(client, agent_id)
    assert body == {
        "run_id": body["run_id"],
        "status": "succeeded",
        "output": "hello there",
        "error": None,
        "usage": {
            "input_tokens": 7,
            "output_tokens": 3,
            "by_model": {"test:echo": {"requests": 1, "input_tokens": 7, "output_tokens": 3}},
        },
    }
    stored = (await client.get(f"/api/v1/runs/{body['run_id']}")).json()
    assert (stored["status"], stored["output"], stored["input"], stored["agent_id"]) == (
        "succeeded",
        "hello there",
        {"input": "hi"},
        agent_id,
    )
    assert stored["usage"] == body["usage"]


async def test_streamed_run_ends_with_run_completed_and_tokens_make_the_output(
    client, providers
) -> None:
    model = providers.scripted("echo")
    model.enqueue([assistant_message("streamed answer")])
    agent_id = await create_agent(client, "echo")
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", "stream": True})
    assert ran.status_code == 200
    assert ran.headers["content-type"].startswith("text/event-stream")
    events = sse_events(ran.text)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert [e["type"] for e in events] == [
        "run_started",
        "agent_updated",
        "token",
        "message",
        "run_completed",
    ]
    tokens = "".join(e["data"]["delta"] for e in events if e["type"] == "token")
    assert tokens == "streamed answer"
    assert events[-1]["data"]["status"] == "succeeded"
    assert events[-1]["data"]["output"] == "streamed answer"
    assert model.calls[0].streamed is True


async def test_structured_output_is_stored_as_a_dict(client, providers) -> None:
    schema = {
        "type": "object",
        "properties": {"label": {"type": "string"}, "score": {"type": "number"}},
        "required": ["label", "score"],
        "additionalProperties": False,
    }
    providers.scripted("classify").enqueue([assistant_message('{"label": "spam", "score": 0.9}')])
    agent_id = await create_agent(client, "classify", output_schema=schema)
    body = await run(client, agent_id)
    assert (body["status"], body["output"]) == ("succeeded", {"label": "spam", "score": 0.9})
    stored = (await client.get(f"/api/v1/runs/{body['run_id']}")).json()
    assert stored["output"] == {"label": "spam", "score": 0.9}


async def test_tool_call_emits_tool_called_and_tool_output(client, providers) -> None:
    model = providers.scripted("calc")
    model.extend(
        [
            [function_call("calculator", '{"expression":"2+3"}', call_id="call-1")],
            [assistant_message("2+3 is 5")],
        ]
    )
    agent_id = await create_agent(client, "calc", tools=[{"name": "calculator"}])
    body = await run(client, agent_id)
    assert (body["status"], body["output"]) == ("succeeded", "2+3 is 5")
    events = (await client.get(f"/api/v1/runs/{body['run_id']}/events/list")).json()
    called = [e["data"] for e in events if e["type"] == "tool_called"]
    outputs = [e["data"] for e in events if e["type"] == "tool_output"]
    assert called == [
        {
            "agent": "calc",
            "tool": "calculator",
            "call_id": "call-1",
            "arguments": '{"expression":"2+3"}',
        }
    ]
    assert len(outputs) == 1
    assert (outputs[0]["agent"], outputs[0]["call_id"]) == ("calc", "call-1")
    assert json.loads(outputs[0]["output"])["result"] == 5
    # the tool's result went back to the model on its second call
    second_input = model.calls[1].input
    assert any(
        isinstance(i, dict) and i.get("type") == "function_call_output" and "5" in i["output"]
        for i in second_input
    )


async def test_handoff_between_two_stored_agents(client, providers) -> None:
    from agents import Agent
    from agents.handoffs import Handoff

    assert Handoff.default_tool_name(Agent(name="billing")) == "transfer_to_billing"
    providers.scripted("triage").enqueue(
        ModelStep(
            output=[function_call("transfer_to_billing", "{}", call_id="h1")], usage=usage(4, 1)
        )
    )
    providers.scripted("billing").enqueue(
        ModelStep(output=[assistant_message("billing here")], usage=usage(6, 2))
    )
    await create_agent(client, "billing", description="Handles invoices")
    triage_id = await create_agent(client, "triage", handoffs=[{"agent": "billing"}])
    body = await run(client, triage_id)
    assert (body["status"], body["output"]) == ("succeeded", "billing here")
    assert body["usage"]["by_model"] == {
        "test:triage": {"requests": 1, "input_tokens": 4, "output_tokens": 1},
        "test:billing": {"requests": 1, "input_tokens": 6, "output_tokens": 2},
    }
    events = (await client.get(f"/api/v1/runs/{body['run_id']}/events/list")).json()
    assert [e["data"] for e in events if e["type"] == "handoff"] == [
        {"from": "triage", "to": "billing"}
    ]
    assert [e["data"]["agent"] for e in events if e["type"] == "agent_updated"] == [
        "triage",
        "billing",
    ]


async def test_agent_called_as_a_tool(client, providers) -> None:
    manager = providers.scripted("manager")
    manager.extend(
        [
            [function_call("ask_expert", '{"input": "what is owed?"}', call_id="t1")],
            [assistant_message("you owe 3 dollars")],
        ]
    )
    providers.scripted("expert").enqueue([assistant_message("3 dollars")])
    await create_agent(client, "expert")
    manager_id = await create_agent(
        client, "manager", handoffs=[{"agent": "expert", "mode": "tool"}]
    )
    body = await run(client, manager_id)
    assert (body["status"], body["output"]) == ("succeeded", "you owe 3 dollars")
    events = (await client.get(f"/api/v1/runs/{body['run_id']}/events/list")).json()
    assert [
        (e["data"]["tool"], e["data"]["call_id"]) for e in events if e["type"] == "tool_called"
    ] == [("ask_expert", "t1")]
    assert [e["data"]["output"] for e in events if e["type"] == "tool_output"] == ["3 dollars"]
    assert [e["type"] for e in events].count("handoff") == 0
    assert providers.scripted("expert").calls[0].input == [
        {"content": "what is owed?", "role": "user"}
    ]


async def test_input_guardrail_blocks_before_the_model_is_called(client, providers) -> None:
    model = providers.scripted("guarded")
    guard = {"type": "keyword", "name": "no-passwords", "keywords": ["password"]}
    agent_id = await create_agent(client, "guarded", input_guardrails=[guard])
    body = await run(client, agent_id, input="my password is hunter2")
    assert body["status"] == "blocked_by_guardrail"
    assert body["output"] is None
    assert body["error"]["code"] == "guardrail_tripped"
    assert (body["error"]["guardrail"], body["error"]["stage"]) == ("no-passwords", "input")
    assert "no-passwords" in body["error"]["message"]
    assert model.calls == ()
    events = (await client.get(f"/api/v1/runs/{body['run_id']}/events/list")).json()
    assert [e["type"] for e in events][-2:] == ["guardrail_tripped", "run_completed"]
    assert events[-1]["data"]["status"] == "blocked_by_guardrail"


async def test_model_failure_fails_the_run_and_closes_the_stream(client, providers) -> None:
    providers.scripted("flaky").enqueue(RuntimeError("upstream exploded"))
    agent_id = await create_agent(client, "flaky")
    ran = await client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "hi", "stream": True})
    assert ran.status_code == 200
    events = sse_events(ran.text)
    error = {"code": "run_failed", "message": "RuntimeError: upstream exploded"}
    assert [e["type"] for e in events] == [
        "run_started",
        "agent_updated",
        "run_failed",
        "run_completed",
    ]
    assert events[2]["data"] == error
    assert (events[3]["data"]["status"], events[3]["data"]["error"]) == ("failed", error)
    stored = (await client.get(f"/api/v1/runs/{events[0]['run_id']}")).json()
    assert (stored["status"], stored["error"], stored["output"]) == ("failed", error, None)


async def test_runs_in_one_session_share_history(client, providers) -> None:
    model = providers.scripted("chat")
    model.extend([[assistant_message("hello Ada")], [assistant_message("you are Ada")]])
    agent_id = await create_agent(client, "chat")
    first = await run(client, agent_id, input="I am Ada", session_id="s-1")
    second = await run(client, agent_id, input="who am I?", session_id="s-1")
    assert (first["output"], second["output"]) == ("hello Ada", "you are Ada")
    history = model.calls[1].input
    texts = [
        (i["role"], i["content"] if isinstance(i["content"], str) else i["content"][0]["text"])
        for i in history
    ]
    assert texts == [("user", "I am Ada"), ("assistant", "hello Ada"), ("user", "who am I?")]
    runs = (await client.get("/api/v1/runs")).json()["items"]
    assert [r["session_id"] for r in runs] == ["s-1", "s-1"]


async def test_runs_without_a_session_do_not_share_history(client, providers) -> None:
    model = providers.scripted("chat")
    model.extend([[assistant_message("one")], [assistant_message("two")]])
    agent_id = await create_agent(client, "chat")
    await run(client, agent_id, input="first")
    await run(client, agent_id, input="second")
    assert model.calls[1].input == [{"content": "second", "role": "user"}]


async def blocked_run(
    client: httpx.AsyncClient, providers: ScriptedProviders, name: str
) -> tuple[str, asyncio.Task[httpx.Response], asyncio.Event]:
    """Start a run whose model call waits; return its id, the POST task and the release."""
    entered, release = asyncio.Event(), asyncio.Event()

    async def responder(_call: ModelCall) -> list[Any]:
        entered.set()
        await release.wait()
        return [assistant_message("too late")]

    providers.scripted(name).enqueue(ModelStep.respond(responder))
    agent_id = await create_agent(client, name)
    post = asyncio.create_task(client.post(f"/api/v1/agents/{agent_id}/run", json={"input": "x"}))
    await asyncio.wait_for(entered.wait(), 5)
    runs = (await client.get("/api/v1/runs", params={"agent_id": agent_id})).json()["items"]
    assert [r["status"] for r in runs] == ["running"]
    return runs[0]["id"], post, release


async def test_cancel_a_running_run(client, providers) -> None:
    run_id, post, _release = await blocked_run(client, providers, "slow")
    cancelled = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["error"] == {"code": "cancelled", "message": "cancelled by request"}
    answer = await asyncio.wait_for(post, 5)
    assert (answer.json()["status"], answer.json()["output"]) == ("cancelled", None)
    events = (await client.get(f"/api/v1/runs/{run_id}/events/list")).json()
    assert events[-1]["type"] == "run_completed"
    assert events[-1]["data"]["status"] == "cancelled"
    again = await client.post(f"/api/v1/runs/{run_id}/cancel")
    assert (again.status_code, again.json()["error"]["code"]) == (409, "conflict")


async def test_cancel_a_finished_run_is_a_conflict(client, providers) -> None:
    providers.scripted("done").enqueue([assistant_message("ok")])
    body = await run(client, await create_agent(client, "done"))
    refused = await client.post(f"/api/v1/runs/{body['run_id']}/cancel")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "conflict"
    assert (await client.get(f"/api/v1/runs/{body['run_id']}")).json()["status"] == "succeeded"


async def test_runs_list_filters_by_agent_and_status_and_pages(client, providers) -> None:
    providers.scripted("alpha").extend([[assistant_message(f"a{i}")] for i in range(3)])
    providers.scripted("beta").extend([[assistant_message("b0")], RuntimeError("down")])
    alpha, beta = await create_agent(client, "alpha"), await create_agent(client, "beta")
    alpha_runs = [(await run(client, alpha))["run_id"] for _ in range(3)]
    beta_ok, beta_failed = (await run(client, beta))["run_id"], (await run(client, beta))["run_id"]

    async def ids(**params: Any) -> tuple[list[str], int]:
        page = (await client.get("/api/v1/runs", params=params)).json()
        return [r["id"] for r in page["items"]], page["total"]

    newest_first = [beta_failed, beta_ok, *reversed(alpha_runs)]
    assert await ids() == (newest_first, 5)
    assert await ids(agent_id=alpha) == (list(reversed(alpha_runs)), 3)
    assert await ids(agent_id=beta, status="failed") == ([beta_failed], 1)
    assert await ids(status="succeeded") == ([beta_ok, *reversed(alpha_runs)], 4)
    assert await ids(status="cancelled") == ([], 0)
    assert await ids(limit=2, page=2) == (newest_first[2:4], 5)
    assert await ids(limit=2, page=3) == (newest_first[4:], 5)
    assert await ids(limit=2, page=4) == ([], 5)
    page = (await client.get("/api/v1/runs", params={"limit": 2, "page": 2})).json()
    assert (page["page"], page["limit"]) == (2, 2)


async def test_run_spans_over_http(client, providers) -> None:
    providers.scripted("traced").enqueue([assistant_message("done")])
    created = await client.post("/api/v1/agents", json={"name": "traced", "model": "test:traced"})
    ran = await client.post(f"/api/v1/agents/{created.json()['id']}/run", json={"input": "hi"})
    spans = await client.get(f"/api/v1/runs/{ran.json()['run_id']}/spans")
    assert spans.status_code == 200
    assert spans.json() != []
    assert all(
        set(s) == {"id", "trace_id", "parent_id", "kind", "started_at", "ended_at", "data", "error"}
        for s in spans.json()
    )
