import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, Runner, set_tracing_disabled
from agents.exceptions import ModelBehaviorError
from agents.testing import ScriptedModel, assistant_message

from nexus.agents.output_schema import JsonSchemaOutput, is_strict_schema
from nexus.core.errors import InvalidInputError

LOOSE: dict[str, Any] = {
    "title": "Weather report",
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"temp": {"type": "number"}, "sky": {"type": "string"}},
                "required": ["temp"],
            },
        },
    },
    "required": ["city"],
}

STRICT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"temp": {"type": "number"}, "sky": {"type": "string"}},
                "required": ["temp", "sky"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["city", "days"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def _no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


def test_describes_a_structured_output() -> None:
    output = JsonSchemaOutput(LOOSE)

    assert output.is_plain_text() is False
    assert output.name() == "Weather_report"
    assert output.json_schema() == LOOSE
    assert JsonSchemaOutput(STRICT).name() == "final_output"
    assert JsonSchemaOutput(STRICT, name="forecast").name() == "forecast"


def test_json_schema_is_a_copy_the_caller_cannot_change() -> None:
    schema = json.loads(json.dumps(STRICT))
    output = JsonSchemaOutput(schema)
    schema["properties"]["city"]["type"] = "integer"
    output.json_schema()["required"].clear()

    assert output.json_schema() == STRICT
    assert output.validate_json('{"city": "Oslo", "days": []}') == {"city": "Oslo", "days": []}


def test_strict_only_when_every_object_is_closed_and_fully_required() -> None:
    assert JsonSchemaOutput(STRICT).is_strict_json_schema() is True
    assert JsonSchemaOutput(LOOSE).is_strict_json_schema() is False

    nested_open = json.loads(json.dumps(STRICT))
    del nested_open["properties"]["days"]["items"]["additionalProperties"]
    assert is_strict_schema(nested_open) is False

    nested_optional = json.loads(json.dumps(STRICT))
    nested_optional["properties"]["days"]["items"]["required"] = ["temp"]
    assert is_strict_schema(nested_optional) is False

    in_defs = {
        "type": "object",
        "properties": {"a": {"$ref": "#/$defs/A"}},
        "required": ["a"],
        "additionalProperties": False,
        "$defs": {"A": {"type": "object", "properties": {"x": {"type": "string"}}}},
    }
    assert is_strict_schema(in_defs) is False


def test_validate_json_returns_the_parsed_value() -> None:
    output = JsonSchemaOutput(LOOSE)
    text = '{"city": "Oslo", "days": [{"temp": 3.5, "sky": "grey"}]}'

    assert output.validate_json(text) == {"city": "Oslo", "days": [{"temp": 3.5, "sky": "grey"}]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"city": "Oslo", "days": [{"temp": "warm"}]}',
            "final output does not match the output schema at $.days[0].temp: "
            "'warm' is not of type 'number'",
        ),
        (
            '{"days": []}',
            "final output does not match the output schema at $: 'city' is a required property",
        ),
        (
            '{"city": 1, "days": [{"sky": 2}]}',
            "final output does not match the output schema at $.city: "
            "1 is not of type 'string' (and 2 more error(s))",
        ),
    ],
)
def test_validate_json_names_the_failing_path(text: str, message: str) -> None:
    with pytest.raises(ModelBehaviorError) as caught:
        JsonSchemaOutput(LOOSE).validate_json(text)

    assert caught.value.message == message


def test_validate_json_rejects_text_that_is_not_json() -> None:
    with pytest.raises(ModelBehaviorError) as caught:
        JsonSchemaOutput(LOOSE).validate_json("The city is Oslo.")

    assert caught.value.message == (
        "final output is not valid JSON (line 1, column 1): Expecting value"
    )


@pytest.mark.parametrize(
    ("schema", "message"),
    [
        ({"type": "array", "items": {}}, 'output_schema must describe an object: set "type"'),
        ({"type": "object", "properties": 3}, "output_schema is not a valid JSON Schema"),
    ],
)
def test_rejects_schemas_that_cannot_describe_an_output(
    schema: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        JsonSchemaOutput(schema)

    assert caught.value.message.startswith(message)
    assert caught.value.field == "output_schema"


GOOD = '{"city": "Oslo", "days": [{"temp": 3.5, "sky": "grey"}]}'
BAD = '{"city": "Oslo", "days": [{"temp": "warm", "sky": "grey"}]}'


def _agent(model: ScriptedModel, schema: dict[str, Any]) -> Agent[Any]:
    return Agent(name="reporter", model=model, output_type=JsonSchemaOutput(schema))


async def _run_plain(agent: Agent[Any]) -> Any:
    return (await Runner.run(agent, "weather in Oslo?")).final_output


async def _run_streamed(agent: Agent[Any]) -> Any:
    result = Runner.run_streamed(agent, "weather in Oslo?")
    async for _ in result.stream_events():
        pass
    return result.final_output


@pytest.mark.parametrize("run", [_run_plain, _run_streamed], ids=["run", "run_streamed"])
async def test_agent_output_type_in_a_scripted_run(run: Any) -> None:
    model = ScriptedModel([[assistant_message(GOOD)]])

    final = await run(_agent(model, STRICT))

    assert final == {"city": "Oslo", "days": [{"temp": 3.5, "sky": "grey"}]}
    sent = model.calls[0].output_schema
    assert sent is not None
    assert sent.json_schema() == STRICT
    assert sent.is_strict_json_schema() is True


@pytest.mark.parametrize("run", [_run_plain, _run_streamed], ids=["run", "run_streamed"])
async def test_agent_run_fails_on_output_that_breaks_the_schema(run: Any) -> None:
    model = ScriptedModel([[assistant_message(BAD)]])

    with pytest.raises(ModelBehaviorError) as caught:
        await run(_agent(model, STRICT))

    assert "at $.days[0].temp" in caught.value.message
