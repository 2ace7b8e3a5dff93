import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from agents import (
    Agent,
    GuardrailFunctionOutput,
    InputGuardrailTripwireTriggered,
    Model,
    OutputGuardrailTripwireTriggered,
    Runner,
    input_guardrail,
    set_tracing_disabled,
)
from agents.testing import ModelStep, ScriptedModel, assistant_message, function_call
from pydantic import TypeAdapter

from nexus.agents.guardrails import (
    MAX_REGEX_TEXT_CHARS,
    build_input_guardrails,
    build_output_guardrails,
    input_text,
    output_text,
    tripwire_details,
)
from nexus.agents.spec import GuardrailSpec
from nexus.core.errors import InvalidInputError

SPECS = TypeAdapter(list[GuardrailSpec])


@pytest.fixture(autouse=True)
def _no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


def _no_judge(model_id: str) -> Model:
    raise AssertionError(f"no judge model expected, asked for {model_id}")


def make_agent(
    model: ScriptedModel,
    *,
    input_specs: Sequence[dict[str, Any]] = (),
    output_specs: Sequence[dict[str, Any]] = (),
    resolve_model: Any = _no_judge,
) -> Agent[Any]:
    return Agent(
        name="assistant",
        instructions="Be helpful.",
        model=model,
        input_guardrails=build_input_guardrails(
            SPECS.validate_python(list(input_specs)),
            default_model="local:judge",
            resolve_model=resolve_model,
        ),
        output_guardrails=build_output_guardrails(
            SPECS.validate_python(list(output_specs)),
            default_model="local:judge",
            resolve_model=resolve_model,
        ),
    )


def judge_says(verdict: str) -> ScriptedModel:
    return ScriptedModel([[assistant_message(verdict)]])


KEYWORD = {"type": "keyword", "name": "no_secrets", "keywords": ["Password", "launch code"]}


# --- keyword ---------------------------------------------------------------------------------


async def test_keyword_input_trips_before_the_model_is_called() -> None:
    model = ScriptedModel([[assistant_message("never sent")]])
    agent = make_agent(model, input_specs=[KEYWORD])

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "here is my PASSWORD: hunter2")

    assert model.calls == ()
    assert caught.value.guardrail_result.output.output_info == {
        "guardrail": "no_secrets",
        "stage": "input",
        "reason": "contains the blocked keyword 'Password'",
        "matched": "Password",
    }
    assert tripwire_details(caught.value) == {
        "guardrail": "no_secrets",
        "stage": "input",
        "reason": "contains the blocked keyword 'Password'",
    }


async def test_keyword_input_trips_in_a_streamed_run_before_the_model_is_called() -> None:
    model = ScriptedModel([[assistant_message("never sent")]])
    agent = make_agent(model, input_specs=[KEYWORD])

    result = Runner.run_streamed(agent, "what is the launch code?")
    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        async for _ in result.stream_events():
            pass

    assert model.calls == ()
    assert tripwire_details(caught.value)["guardrail"] == "no_secrets"


async def test_keyword_is_a_substring_match_without_word_boundaries() -> None:
    model = ScriptedModel()
    agent = make_agent(model, input_specs=[{**KEYWORD, "keywords": ["pass"]}])

    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, "my passport number")
    assert model.calls == ()


async def test_case_sensitive_keyword_ignores_other_case() -> None:
    model = ScriptedModel([[assistant_message("fine")]])
    spec = {**KEYWORD, "keywords": ["SECRET"], "case_sensitive": True}
    agent = make_agent(model, input_specs=[spec])

    result = await Runner.run(agent, "a secret, lowercase")

    assert result.final_output == "fine"
    assert len(model.calls) == 1
    assert [r.output.tripwire_triggered for r in result.input_guardrail_results] == [False]


async def test_keyword_custom_message_is_the_reason() -> None:
    model = ScriptedModel()
    agent = make_agent(model, input_specs=[{**KEYWORD, "message": "Please keep secrets out."}])

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "password")

    assert tripwire_details(caught.value)["reason"] == "Please keep secrets out."


async def test_keyword_examines_every_message_of_list_input() -> None:
    model = ScriptedModel()
    agent = make_agent(model, input_specs=[KEYWORD])
    items: list[Any] = [
        {"role": "user", "content": "hello"},
        {"role": "user", "content": [{"type": "input_text", "text": "the launch code is"}]},
    ]

    with pytest.raises(InputGuardrailTripwireTriggered):
        await Runner.run(agent, items)
    assert model.calls == ()


async def test_passing_guardrails_let_the_run_finish() -> None:
    model = ScriptedModel([[assistant_message("The weather is sunny.")]])
    agent = make_agent(
        model,
        input_specs=[KEYWORD, {"type": "regex", "patterns": [r"\d{16}"]}],
        output_specs=[KEYWORD],
    )

    result = await Runner.run(agent, "How is the weather?")

    assert result.final_output == "The weather is sunny."
    assert len(model.calls) == 1
    assert [r.output.output_info for r in result.input_guardrail_results] == [
        {
            "guardrail": "no_secrets",
            "stage": "input",
            "reason": "no blocked keyword found",
            "matched": None,
        },
        {
            "guardrail": "regex",
            "stage": "input",
            "reason": "no blocked pattern matched",
            "matched": None,
        },
    ]
    assert [r.output.tripwire_triggered for r in result.output_guardrail_results] == [False]


# --- regex -----------------------------------------------------------------------------------


async def test_regex_input_trips_before_the_model_is_called() -> None:
    model = ScriptedModel([[assistant_message("never sent")]])
    spec = {"type": "regex", "name": "card", "patterns": [r"\b\d{4}(?: ?\d{4}){3}\b"]}
    agent = make_agent(model, input_specs=[spec])

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "charge 4111 1111 1111 1111 please")

    assert model.calls == ()
    info = caught.value.guardrail_result.output.output_info
    assert info["matched"] == r"\b\d{4}(?: ?\d{4}){3}\b"
    assert "4111" not in str(info)  # the pattern is reported, never the matched text


async def test_catastrophic_regex_trips_by_timeout_instead_of_hanging() -> None:
    model = ScriptedModel()
    agent = make_agent(model, input_specs=[{"type": "regex", "patterns": [r"(a+)+$"]}])

    started = time.monotonic()
    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "a" * 50_000 + "!")
    elapsed = time.monotonic() - started

    assert elapsed < 5
    assert model.calls == ()
    assert tripwire_details(caught.value) == {
        "guardrail": "regex",
        "stage": "input",
        "reason": "pattern timed out",
    }


async def test_regex_examines_only_the_capped_prefix() -> None:
    model = ScriptedModel([[assistant_message("ok")]])
    agent = make_agent(model, input_specs=[{"type": "regex", "patterns": ["needle"]}])

    result = await Runner.run(agent, "x" * MAX_REGEX_TEXT_CHARS + "needle")

    assert result.final_output == "ok"


def test_pattern_the_regex_module_rejects_is_a_clear_input_error() -> None:
    # The spec checks patterns with re; a stored spec edited by hand could still be broken.
    spec = SPECS.validate_python([{"type": "regex", "patterns": ["ok"]}])
    object.__setattr__(spec[0], "patterns", ["ok", "(unclosed"])

    with pytest.raises(InvalidInputError) as caught:
        build_input_guardrails(spec, default_model="local:x", resolve_model=_no_judge)

    assert caught.value.field == "patterns[1]"


# --- output ----------------------------------------------------------------------------------


async def test_output_guardrail_trips_on_the_final_output() -> None:
    model = ScriptedModel([[assistant_message("Sure, the password is hunter2.")]])
    agent = make_agent(model, output_specs=[KEYWORD])

    with pytest.raises(OutputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "tell me")

    assert len(model.calls) == 1
    assert tripwire_details(caught.value) == {
        "guardrail": "no_secrets",
        "stage": "output",
        "reason": "contains the blocked keyword 'Password'",
    }


async def test_output_guardrail_trips_in_a_streamed_run() -> None:
    model = ScriptedModel([[assistant_message("ssn 123-45-6789")]])
    agent = make_agent(model, output_specs=[{"type": "regex", "patterns": [r"\d{3}-\d{2}-\d{4}"]}])

    result = Runner.run_streamed(agent, "tell me")
    with pytest.raises(OutputGuardrailTripwireTriggered) as caught:
        async for _ in result.stream_events():
            pass

    assert tripwire_details(caught.value)["stage"] == "output"


def test_text_examined_for_inputs_and_outputs() -> None:
    assert input_text("plain") == "plain"
    assert (
        input_text(
            [
                {"role": "user", "content": "one"},
                {"role": "user", "content": [{"type": "input_text", "text": "two"}]},
                {"type": "function_call_output", "call_id": "c", "output": "tool data"},
            ]
        )
        == "one\ntwo"
    )
    assert output_text("plain") == "plain"
    assert output_text({"answer": "é", "n": 1}) == '{"answer": "é", "n": 1}'


# --- llm judge -------------------------------------------------------------------------------


JUDGE = {"type": "llm", "name": "polite", "criteria": "The text must not contain insults."}


async def test_llm_judge_tripwire_true_trips() -> None:
    judge = judge_says('{"tripwire": true, "reason": "the text insults the reader"}')
    asked: list[str] = []

    def resolve(model_id: str) -> Model:
        asked.append(model_id)
        return judge

    model = ScriptedModel([[assistant_message("never sent")]])
    agent = make_agent(model, input_specs=[JUDGE], resolve_model=resolve)

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "you fool")

    assert asked == ["local:judge"]
    assert model.calls == ()
    assert tripwire_details(caught.value) == {
        "guardrail": "polite",
        "stage": "input",
        "reason": "the text insults the reader",
    }
    call = judge.calls[0]
    assert "The text must not contain insults." in (call.system_instructions or "")
    assert call.input == [{"role": "user", "content": "<text>\nyou fool\n</text>"}]


async def test_llm_judge_tripwire_false_passes_and_uses_the_spec_model() -> None:
    judge = judge_says('{"tripwire": false, "reason": "polite"}')
    asked: list[str] = []

    def resolve(model_id: str) -> Model:
        asked.append(model_id)
        return judge

    model = ScriptedModel([[assistant_message("You are welcome.")]])
    agent = make_agent(
        model, output_specs=[{**JUDGE, "model": "openai:gpt-4.1-mini"}], resolve_model=resolve
    )

    result = await Runner.run(agent, "thanks")

    assert asked == ["openai:gpt-4.1-mini"]
    assert result.final_output == "You are welcome."
    assert result.output_guardrail_results[0].output.output_info == {
        "guardrail": "polite",
        "stage": "output",
        "reason": "polite",
        "matched": None,
    }
    judge.assert_complete()


@pytest.mark.parametrize(
    "step",
    [
        ModelStep.raise_error(RuntimeError("provider down")),
        [assistant_message("I think it is fine")],  # not the JSON verdict
        [function_call("lookup", {}, call_id="c1")],  # a judge cannot use tools
    ],
    ids=["error", "not-json", "tool-call"],
)
async def test_llm_judge_failure_fails_closed(step: Any) -> None:
    judge = ScriptedModel([step])
    model = ScriptedModel([[assistant_message("never sent")]])
    agent = make_agent(model, input_specs=[JUDGE], resolve_model=lambda _id: judge)

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "hello")

    assert model.calls == ()
    assert tripwire_details(caught.value)["reason"].startswith("judge failed: ")


async def test_llm_judge_error_message_is_in_the_reason() -> None:
    judge = ScriptedModel([ModelStep.raise_error(RuntimeError("provider down"))])
    agent = make_agent(ScriptedModel(), input_specs=[JUDGE], resolve_model=lambda _id: judge)

    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "hello")

    assert tripwire_details(caught.value)["reason"] == "judge failed: RuntimeError: provider down"


# --- tripwire_details ------------------------------------------------------------------------


async def test_tripwire_details_of_a_foreign_guardrail() -> None:
    @input_guardrail(run_in_parallel=False)
    def always(ctx: Any, agent: Any, data: Any) -> GuardrailFunctionOutput:
        return GuardrailFunctionOutput(output_info=None, tripwire_triggered=True)

    agent = Agent(name="a", model=ScriptedModel(), input_guardrails=[always])
    with pytest.raises(InputGuardrailTripwireTriggered) as caught:
        await Runner.run(agent, "hi")

    assert tripwire_details(caught.value) == {
        "guardrail": "always",
        "stage": "input",
        "reason": "tripwire triggered",
    }
