"""The tool registry: named ``ToolSpec``s, and their conversion to Agents SDK ``FunctionTool``s.

A tool call never kills a run: invalid arguments, a ``ToolError`` or an unexpected failure become
an ``"error: ..."`` string that the model reads and can act on.
"""

from __future__ import annotations

import builtins
import copy
import json
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jsonschema
from agents import FunctionTool
from agents.tool_context import ToolContext
from jsonschema.exceptions import best_match

from nexus.core.errors import InvalidInputError, NotFoundError, ToolError

if TYPE_CHECKING:
    from nexus.tools.http_fetch import HttpFetcher

logger = logging.getLogger(__name__)

TOOL_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_OUTPUT_CHARS = 20_000

ToolHandler = Callable[[dict[str, Any]], Awaitable[Any]]


@dataclass(frozen=True)
class ToolSpec:
    """A callable the model can use, described by a JSON schema."""

    name: str
    """Unique snake_case name, as the model sees it."""

    description: str
    """What the tool does and when to use it, for the model."""

    parameters: dict[str, Any]
    """JSON Schema of the arguments: a strict object (every property required, no extras)."""

    handler: ToolHandler
    """``async (arguments) -> result``; the result is a string or a JSON-able value."""

    category: str = "builtin"
    """Where the tool comes from: ``builtin``, ``module``, ``mcp``, ``agent``, ``workflow``."""


def check_spec(spec: ToolSpec) -> None:
    """Raise ``InvalidInputError`` unless ``spec`` has a valid name and a strict object schema."""
    if not TOOL_NAME.fullmatch(spec.name):
        raise InvalidInputError(
            f"invalid tool name {spec.name!r}: use snake_case, start with a letter, "
            "at most 64 characters (e.g. 'http_fetch')",
            field="name",
        )
    schema = spec.parameters
    if not isinstance(schema, dict) or schema.get("type") != "object":
        raise InvalidInputError(
            f"tool {spec.name!r}: parameters must be a JSON schema with type 'object'",
            field="parameters",
        )
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        raise InvalidInputError(
            f"tool {spec.name!r}: parameters is not a valid JSON schema: {exc.message}",
            field="parameters",
        ) from exc
    properties = schema.get("properties", {})
    if schema.get("additionalProperties") is not False:
        raise InvalidInputError(
            f"tool {spec.name!r}: parameters must set additionalProperties to false",
            field="parameters",
        )
    if sorted(schema.get("required", [])) != sorted(properties):
        raise InvalidInputError(
            f"tool {spec.name!r}: every property must be listed in 'required' "
            "(strict schemas express optional values as a nullable type)",
            field="parameters",
        )


def render_output(result: Any, limit: int = MAX_OUTPUT_CHARS) -> str:
    """The text the model sees for ``result``: strings as-is, anything else as JSON, capped."""
    text = (
        result if isinstance(result, str) else json.dumps(result, ensure_ascii=False, default=str)
    )
    if len(text) > limit:
        return f"{text[:limit]}\n[truncated: showing {limit} of {len(text)} characters]"
    return text


async def invoke_tool(spec: ToolSpec, arguments_json: str) -> str:
    """Run ``spec`` on the model's JSON arguments and return text; never raises for bad input."""
    try:
        arguments = json.loads(arguments_json) if arguments_json.strip() else {}
    except json.JSONDecodeError as exc:
        return f"error: arguments for tool {spec.name!r} are not valid JSON: {exc.msg}"
    if not isinstance(arguments, dict):
        return f"error: arguments for tool {spec.name!r} must be a JSON object"
    error = best_match(jsonschema.Draft202012Validator(spec.parameters).iter_errors(arguments))
    if error is not None:
        where = "/".join(str(part) for part in error.absolute_path) or "arguments"
        return f"error: invalid arguments for tool {spec.name!r} at {where}: {error.message}"
    try:
        result = await spec.handler(arguments)
    except ToolError as exc:
        return f"error: {exc.message}"
    except Exception:
        # Details may hold internals or secrets: log them, tell the model only that it failed.
        logger.exception("tool %s failed", spec.name)
        return f"error: tool {spec.name!r} failed unexpectedly; try again or use another approach"
    return render_output(result)


class ToolRegistry:
    """Tools by name. Each instance is independent; ``default_registry()`` builds one."""

    def __init__(self) -> None:
        self._specs: dict[str, ToolSpec] = {}
        self._version = 0

    @property
    def version(self) -> int:
        """Changes on every ``register``/``unregister``: what was built from the registry at
        one version (compiled agents) is stale at another."""
        return self._version

    def register(self, spec: ToolSpec) -> None:
        """Add ``spec``; ``InvalidInputError`` if its name is taken or it is malformed."""
        check_spec(spec)
        if spec.name in self._specs:
            raise InvalidInputError(
                f"a tool named {spec.name!r} is already registered; "
                "unregister it first or choose another name",
                field="name",
            )
        self._specs[spec.name] = spec
        self._version += 1

    def unregister(self, name: str) -> None:
        """Remove the tool ``name``; ``NotFoundError`` if there is none."""
        self.get(name)
        del self._specs[name]
        self._version += 1

    def get(self, name: str) -> ToolSpec:
        """The tool ``name``; ``NotFoundError`` listing the available tools otherwise."""
        try:
            return self._specs[name]
        except KeyError:
            available = ", ".join(self.names()) or "(none)"
            raise NotFoundError(
                f"unknown tool {name!r}; available tools: {available}", field="tool"
            ) from None

    def names(self) -> builtins.list[str]:
        """Registered tool names, sorted."""
        return sorted(self._specs)

    def list(self) -> builtins.list[ToolSpec]:
        """Registered tools, sorted by name."""
        return [self._specs[name] for name in self.names()]

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __len__(self) -> int:
        return len(self._specs)

    async def invoke(self, name: str, arguments_json: str) -> str:
        """Run tool ``name`` on JSON arguments, returning the text the model would see."""
        return await invoke_tool(self.get(name), arguments_json)

    def to_sdk_tool(self, name: str) -> FunctionTool:
        """An Agents SDK ``FunctionTool`` for ``name``, whose failures are text for the model."""
        spec = self.get(name)

        async def on_invoke_tool(_context: ToolContext[Any], arguments_json: str) -> str:
            return await invoke_tool(spec, arguments_json)

        return FunctionTool(
            name=spec.name,
            description=spec.description,
            params_json_schema=copy.deepcopy(spec.parameters),
            on_invoke_tool=on_invoke_tool,
            strict_json_schema=True,
        )

    def to_sdk_tools(self, names: builtins.list[str] | None = None) -> builtins.list[FunctionTool]:
        """``FunctionTool``s for ``names`` (all registered tools if ``None``)."""
        return [self.to_sdk_tool(name) for name in (names if names is not None else self.names())]


def default_registry(*, http_fetcher: HttpFetcher | None = None) -> ToolRegistry:
    """A NEW registry holding the built-in tools (``http_fetcher`` is injectable for tests)."""
    # Imported here: the built-in modules import ToolSpec from this module.
    from nexus.tools.calculator import calculator_tool
    from nexus.tools.clock import clock_tool
    from nexus.tools.http_fetch import http_fetch_tool

    registry = ToolRegistry()
    for spec in (calculator_tool(), clock_tool(), http_fetch_tool(http_fetcher)):
        registry.register(spec)
    return registry
