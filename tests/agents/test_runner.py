"""``run_agent``: SDK stream events become Nexus events; outcomes become statuses and errors.
The same scripted model drives it (the runner always streams)."""

from __future__ import annotations

from typing import Any

from agents import Usage
from agents.testing import ModelStep, assistant_message, function_call

from nexus.agents.compiler import AgentBundle, compile_bundle
from nexus.agents.runner import AgentRunOutcome, run_agent
from nexus.agents.spec import AgentSpec
from nexus.core.events import RunEvent
from nexus.core.status import RunStatus
from nexus.core.usage import RunUsage
from nexus.tools.registry import default_registry


class ListSink:
    def __init__(self) -> None:
        self.events: list[RunEvent] = []

    def emit(self, type: str, data: dict[str, Any]) -> RunEvent:
        event = RunEvent("run_x", len(self.events) + 1, type, data, 0.0)
        self.events.append(event)
        return event

    def shape(self) -> list[tuple[str, dict[str, Any]]]:
        return [(e.type, e.data) for e in self.events]


async def run(
    providers, fields: dict[str, Any], text: str = "hi"
) -> tuple[AgentRunOutcome, ListSink]:
    spec = AgentSpec.model_validate({"name": "a", "model": "test:a", **fields})
    compiled = compile_bundle(
        AgentBundle(spec), models=providers.get_model, tools=default_registry()
    )
    sink = ListSink()
    outcome = await run_agent(compiled, text, sink=sink, max_turns=spec.max_turns)
    return outcome, sink


def usage_of(outcome: AgentRunOutcome) -> dict[str, object]:
    return outcome.usage.to_dict()


async def test_a_message(providers) -> None:
    providers.scripted("a").enqueue(
        ModelStep(
            output=[assistant_message("hello")],
            usage=Usage(requests=1, input_tokens=3, output_tokens=1),
        )
    )
    outcome, sink = await run(providers, {})
    assert (outcome.status, outcome.output, outcome.error) == (RunStatus.SUCCEEDED, "hello", None)
    assert sink.shape() == [
        ("agent_updated", {"agent": "a"}),
        ("token", {"delta": "hello"}),
        ("message", {"agent": "a", "text": "hello"}),
    ]
    assert usage_of(outcome) == {
        "input_tokens": 3,
        "output_tokens": 1,
        "by_model": {"test:a": {"requests": 1, "input_tokens": 3, "output_tokens": 1}},
    }


async def test_a_tool_call(providers) -> None:
    providers.scripted("a").extend(
        [
            [function_call("calculator", '{"expression":"6*7"}', call_id="c")],
            [assistant_message("42")],
        ]
    )
    outcome, sink = await run(providers, {"tools": [{"name": "calculator"}]})
    assert (outcome.status, outcome.output) == (RunStatus.SUCCEEDED, "42")
    types = [t for t, _ in sink.shape()]
    assert types == ["agent_updated", "tool_called", "tool_output", "token", "message"]
    assert '"result": 42' in sink.events[2].data["output"]


async def test_structured_output(providers) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    providers.scripted("a").enqueue([assistant_message('{"n": 7}')])
    outcome, _ = await run(providers, {"output_schema": schema})
    assert (outcome.status, outcome.output) == (RunStatus.SUCCEEDED, {"n": 7})


async def test_output_not_matching_the_schema_fails(providers) -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    providers.scripted("a").enqueue([assistant_message('{"n": "seven"}')])
    outcome, sink = await run(providers, {"output_schema": schema})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["code"] == "model_behavior_error"
    assert sink.shape()[-1] == ("run_failed", outcome.error)


async def test_max_turns(providers) -> None:
    providers.scripted("a").extend(
        [[function_call("calculator", '{"expression":"1+1"}', call_id=f"c{i}")] for i in range(2)]
    )
    outcome, sink = await run(providers, {"tools": [{"name": "calculator"}], "max_turns": 2})
    assert outcome.status is RunStatus.FAILED
    assert outcome.error is not None and outcome.error["code"] == "max_turns_exceeded"
    assert sink.shape()[-1] == ("run_failed", outcome.error)


async def test_output_guardrail(providers) -> None:
    providers.scripted("a").enqueue([assistant_message("the secret is 42")])
    guard = {"type": "keyword", "name": "no-secrets", "keywords": ["secret"]}
    outcome, sink = await run(providers, {"output_guardrails": [guard]})
    assert outcome.status is RunStatus.BLOCKED_BY_GUARDRAIL
    assert outcome.output is None
    assert outcome.error is not None
    assert (outcome.error["code"], outcome.error["guardrail"], outcome.error["stage"]) == (
        "guardrail_tripped",
        "no-secrets",
        "output",
    )
    assert sink.shape()[-1][0] == "guardrail_tripped"


async def test_a_model_error(providers) -> None:
    providers.scripted("a").enqueue(ConnectionError("refused"))
    outcome, sink = await run(providers, {})
    error = {"code": "run_failed", "message": "ConnectionError: refused"}
    assert (outcome.status, outcome.error) == (RunStatus.FAILED, error)
    assert sink.shape() == [("agent_updated", {"agent": "a"}), ("run_failed", error)]


def test_usage_adds_up_per_model() -> None:
    usage = RunUsage()
    usage.add("test:a", requests=1, input_tokens=2, output_tokens=3)
    usage.add("test:b", requests=1, input_tokens=5, output_tokens=0)
    usage.add("test:a", requests=2, input_tokens=1, output_tokens=1)
    assert usage.to_dict() == {
        "input_tokens": 8,
        "output_tokens": 4,
        "by_model": {
            "test:a": {"requests": 3, "input_tokens": 3, "output_tokens": 4},
            "test:b": {"requests": 1, "input_tokens": 5, "output_tokens": 0},
        },
    }
