"""``JsonSchemaOutput``: an agent's final output described by a user's JSON Schema.

The SDK's own ``AgentOutputSchema`` needs a Python type; a stored agent only has a JSON Schema
dict. This class hands that schema to the model as given, tells the SDK whether it is already in
OpenAI strict mode (we never rewrite a user's schema to make it strict), and validates what the
model returns with ``jsonschema``, raising ``ModelBehaviorError`` that names the failing path.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from typing import Any

from agents import AgentOutputSchemaBase
from agents.exceptions import ModelBehaviorError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError, ValidationError, best_match

from nexus.core.errors import InvalidInputError

DEFAULT_NAME = "final_output"
# OpenAI's response_format name: letters, digits, underscores and dashes, at most 64 characters.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")
_MAX_NAME = 64
_MAX_ERROR_CHARS = 500

# Keywords whose value is one subschema, a list of subschemas, or a mapping of name → subschema.
_SUBSCHEMA_KEYS = ("items", "additionalProperties", "not", "if", "then", "else", "contains")
_SUBSCHEMA_LIST_KEYS = ("anyOf", "allOf", "oneOf", "prefixItems")
_SUBSCHEMA_MAP_KEYS = ("properties", "$defs", "definitions", "patternProperties")


class JsonSchemaOutput(AgentOutputSchemaBase):
    """Structured final output checked against a JSON Schema object schema.

    Use it as ``Agent(output_type=JsonSchemaOutput(schema))``; the run's ``final_output`` is the
    parsed, validated ``dict``.
    """

    def __init__(self, schema: dict[str, Any], *, name: str | None = None) -> None:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise InvalidInputError(
                f"output_schema is not a valid JSON Schema: {exc.message}", field="output_schema"
            ) from exc
        if schema.get("type") != "object":
            raise InvalidInputError(
                'output_schema must describe an object: set "type": "object"',
                field="output_schema",
            )
        self._schema = copy.deepcopy(schema)
        self._name = _safe_name(name if name is not None else schema.get("title"))
        self._strict = is_strict_schema(self._schema)
        self._validator = Draft202012Validator(
            self._schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )

    def is_plain_text(self) -> bool:
        return False

    def name(self) -> str:
        return self._name

    def json_schema(self) -> dict[str, Any]:
        return copy.deepcopy(self._schema)

    def is_strict_json_schema(self) -> bool:
        return self._strict

    def validate_json(self, json_str: str) -> dict[str, Any]:
        try:
            value = json.loads(json_str)
        except json.JSONDecodeError as exc:
            raise ModelBehaviorError(
                f"final output is not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
            ) from exc
        errors = list(self._validator.iter_errors(value))
        if errors:
            error = best_match(errors) or errors[0]
            raise ModelBehaviorError(_describe(error, count=len(errors)))
        return value

    def __repr__(self) -> str:
        return f"JsonSchemaOutput(name={self._name!r}, strict={self._strict})"


def is_strict_schema(schema: dict[str, Any]) -> bool:
    """True when every object in ``schema`` forbids extra keys and requires all its properties.

    That is what OpenAI strict mode demands; a schema that does not already satisfy it is sent
    non-strict rather than silently changed.
    """
    return all(_object_is_strict(node) for node in _walk(schema) if _is_object_schema(node))


def _is_object_schema(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    is_object_type = kind == "object" or (isinstance(kind, list) and "object" in kind)
    return is_object_type or "properties" in node


def _object_is_strict(node: dict[str, Any]) -> bool:
    if node.get("additionalProperties") is not False:
        return False
    properties = node.get("properties", {})
    required = node.get("required", [])
    return isinstance(properties, dict) and set(properties) == set(required)


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(node, dict):
        return
    yield node
    for key in _SUBSCHEMA_KEYS:
        child = node.get(key)
        if isinstance(child, list):
            for item in child:
                yield from _walk(item)
        else:
            yield from _walk(child)
    for key in _SUBSCHEMA_LIST_KEYS:
        children = node.get(key)
        if isinstance(children, list):
            for item in children:
                yield from _walk(item)
    for key in _SUBSCHEMA_MAP_KEYS:
        children = node.get(key)
        if isinstance(children, dict):
            for item in children.values():
                yield from _walk(item)


def _safe_name(raw: object) -> str:
    if not isinstance(raw, str):
        return DEFAULT_NAME
    cleaned = _NAME_UNSAFE.sub("_", raw.strip()).strip("_")[:_MAX_NAME]
    return cleaned or DEFAULT_NAME


def _describe(error: ValidationError, *, count: int) -> str:
    message = error.message
    if len(message) > _MAX_ERROR_CHARS:
        message = message[:_MAX_ERROR_CHARS] + "…"
    more = f" (and {count - 1} more error(s))" if count > 1 else ""
    return f"final output does not match the output schema at {error.json_path}: {message}{more}"
