import json
from collections.abc import Iterator
from typing import Any

import pytest
from agents import Agent, FunctionTool, Runner, set_tracing_disabled
from agents.testing import ScriptedModel, assistant_message, function_call
from agents.tool_context import ToolContext

from nexus.core.errors import InvalidInputError, NotFoundError, ToolError
from nexus.tools.registry import (
    MAX_OUTPUT_CHARS,
    ToolRegistry,
    ToolSpec,
    default_registry,
    render_output,
)

ECHO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"text": {"type": "string"}, "times": {"type": "integer", "minimum": 1}},
    "required": ["text", "times"],
    "additionalProperties": False,
}


@pytest.fixture(autouse=True)
def _no_tracing() -> Iterator[None]:
    set_tracing_disabled(True)
    yield
    set_tracing_disabled(False)


async def echo(arguments: dict[str, Any]) -> Any:
    if arguments["text"] == "refuse":
        raise ToolError("echo refuses that word; pick another")
    if arguments["text"] == "crash":
        raise RuntimeError("database password is hunter2")
    if arguments["text"] == "structured":
        return {"echo": "ok", "n": arguments["times"]}
    return arguments["text"] * arguments["times"]


def spec(name: str = "echo", **changes: Any) -> ToolSpec:
    values: dict[str, Any] = {
        "name": name,
        "description": "Repeat text.",
        "parameters": ECHO_SCHEMA,
        "handler": echo,
    }
    values.update(changes)
    return ToolSpec(**values)


def context(name: str, arguments: str) -> ToolContext[None]:
    return ToolContext(
        context=None, tool_name=name, tool_call_id="call-1", tool_arguments=arguments
    )


def test_register_get_list_unregister() -> None:
    registry = ToolRegistry()
    registry.register(spec("zeta"))
    registry.register(spec("alpha", category="module"))
    assert registry.names() == ["alpha", "zeta"]
    assert [s.name for s in registry.list()] == ["alpha", "zeta"]
    assert registry.get("alpha").category == "module"
    assert "zeta" in registry and len(registry) == 2
    registry.unregister("zeta")
    assert registry.names() == ["alpha"]


def test_duplicate_name_is_refused() -> None:
    registry = ToolRegistry()
    registry.register(spec())
    with pytest.raises(InvalidInputError) as caught:
        registry.register(spec(description="another"))
    assert caught.value.message == (
        "a tool named 'echo' is already registered; unregister it first or choose another name"
    )
    assert registry.get("echo").description == "Repeat text."


def test_the_version_changes_on_every_register_and_unregister() -> None:
    registry = ToolRegistry()
    seen = [registry.version]
    registry.register(spec("alpha"))
    seen.append(registry.version)
    registry.unregister("alpha")
    seen.append(registry.version)
    registry.register(spec("alpha"))  # the same name again is still a change
    seen.append(registry.version)
    assert len(set(seen)) == 4
    with pytest.raises(InvalidInputError):
        registry.register(spec("alpha"))  # refused: nothing changed
    with pytest.raises(NotFoundError):
        registry.unregister("beta")
    assert registry.version == seen[-1]


@pytest.mark.parametrize("name", ["", "Echo", "1echo", "echo-tool", "echo tool", "é", "a" * 65])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(InvalidInputError, match="invalid tool name") as caught:
        ToolRegistry().register(spec(name))
    assert caught.value.field == "name"


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"type": "string"}, "parameters must be a JSON schema with type 'object'"),
        (
            {"type": "object", "properties": {"a": {"type": "nope"}}},
            "parameters is not a valid JSON schema",
        ),
        (
            {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "additionalProperties to false",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}, "b": {"type": "string"}},
                "required": ["a"],
                "additionalProperties": False,
            },
            "every property must be listed in 'required'",
        ),
    ],
)
def test_non_strict_schemas_are_refused(parameters: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        ToolRegistry().register(spec(parameters=parameters))
    assert message in caught.value.message
    assert caught.value.field == "parameters"


def test_unknown_tool_names_the_available_ones() -> None:
    registry = ToolRegistry()
    registry.register(spec("echo"))
    registry.register(spec("calc"))
    with pytest.raises(NotFoundError) as caught:
        registry.get("search")
    assert caught.value.message == "unknown tool 'search'; available tools: calc, echo"
    with pytest.raises(NotFoundError, match=r"available tools: \(none\)"):
        ToolRegistry().unregister("echo")


def test_default_registry_is_new_each_time() -> None:
    first, second = default_registry(), default_registry()
    assert first.names() == ["calculator", "current_datetime", "http_fetch"]
    first.unregister("calculator")
    assert second.names() == ["calculator", "current_datetime", "http_fetch"]
    assert all(s.category == "builtin" for s in second.list())


def test_to_sdk_tool_carries_name_description_and_strict_schema() -> None:
    registry = ToolRegistry()
    registry.register(spec())
    tool = registry.to_sdk_tool("echo")
    assert isinstance(tool, FunctionTool)
    assert (tool.name, tool.description, tool.strict_json_schema) == ("echo", "Repeat text.", True)
    assert tool.params_json_schema == ECHO_SCHEMA
    assert tool.params_json_schema is not ECHO_SCHEMA
    assert [t.name for t in registry.to_sdk_tools()] == ["echo"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ('{"text": "ab", "times": 3}', "ababab"),
        ('{"text": "structured", "times": 2}', '{"echo": "ok", "n": 2}'),
        ('{"text": "refuse", "times": 1}', "error: echo refuses that word; pick another"),
        (
            '{"text": "crash", "times": 1}',
            "error: tool 'echo' failed unexpectedly; try again or use another approach",
        ),
        (
            "{not json",
            "error: arguments for tool 'echo' are not valid JSON: Expecting property name",
        ),
        ("[1, 2]", "error: arguments for tool 'echo' must be a JSON object"),
        (
            '{"text": "ab"}',
            "error: invalid arguments for tool 'echo' at arguments: 'times' is a required property",
        ),
        (
            '{"text": "ab", "times": 0}',
            "error: invalid arguments for tool 'echo' at times: 0 is less than the minimum of 1",
        ),
        (
            '{"text": 5, "times": 1}',
            "error: invalid arguments for tool 'echo' at text: 5 is not of type 'string'",
        ),
        (
            '{"text": "a", "times": 1, "extra": true}',
            "error: invalid arguments for tool 'echo' at arguments: Additional properties are "
            "not allowed ('extra' was unexpected)",
        ),
    ],
)
async def test_function_tool_returns_text_for_every_outcome(arguments: str, expected: str) -> None:
    registry = ToolRegistry()
    registry.register(spec())
    tool = registry.to_sdk_tool("echo")
    output = await tool.on_invoke_tool(context("echo", arguments), arguments)
    assert output.startswith(expected) if expected.endswith("name") else output == expected


async def test_unexpected_failure_is_logged_not_shown(caplog: pytest.LogCaptureFixture) -> None:
    registry = ToolRegistry()
    registry.register(spec())
    output = await registry.invoke("echo", '{"text": "crash", "times": 1}')
    assert "hunter2" not in output
    assert "tool echo failed" in caplog.text


async def test_long_output_is_truncated_with_a_note() -> None:
    registry = ToolRegistry()
    registry.register(spec())
    output = await registry.invoke("echo", json.dumps({"text": "x", "times": 50_000}))
    assert output == "x" * MAX_OUTPUT_CHARS + (
        f"\n[truncated: showing {MAX_OUTPUT_CHARS} of 50000 characters]"
    )


def test_render_output() -> None:
    assert render_output("plain") == "plain"
    assert render_output({"a": [1, 2.5, None], "b": "é"}) == '{"a": [1, 2.5, null], "b": "é"}'
    assert render_output(42) == "42"
    assert render_output("abcdef", limit=3) == "abc\n[truncated: showing 3 of 6 characters]"


async def test_agent_run_feeds_tool_text_back_to_the_model() -> None:
    registry = default_registry()
    model = ScriptedModel(
        [
            [
                function_call("calculator", {"expression": "6 * 7"}, call_id="c1"),
                function_call("calculator", {"expression": "1 / 0"}, call_id="c2"),
                function_call("calculator", {"wrong": 1}, call_id="c3"),
            ],
            [assistant_message("42, and the others failed")],
        ]
    )
    agent = Agent(name="math", model=model, tools=registry.to_sdk_tools(["calculator"]))
    result = await Runner.run(agent, "what is 6 * 7?")
    assert result.final_output == "42, and the others failed"
    outputs = {
        item["call_id"]: item["output"]
        for item in model.last_call.input
        if isinstance(item, dict) and item.get("type") == "function_call_output"
    }
    assert outputs == {
        "c1": '{"expression": "6 * 7", "result": 42}',
        "c2": "error: division by zero",
        "c3": "error: invalid arguments for tool 'calculator' at arguments: "
        "'expression' is a required property",
    }
