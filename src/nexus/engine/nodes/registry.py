"""Node types: the base every type extends, the result a node returns, and the registry.

A node type is a class with a name, a description, a JSON Schema for its properties, default
ports, and ``async run(ctx, inputs, properties) -> NodeResult``. The ports present in
``NodeResult.outputs`` fire; the others do not (that is how condition and switch route). A result
with ``waiting`` set pauses the node until a decision arrives (human approval).

Built-in types register through ``default_node_types()``; modules add theirs with ``register``.
``describe()`` is the catalog the API serves at ``GET /api/v1/node-types``.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from jsonschema import Draft202012Validator

from nexus.core.errors import InvalidInputError, NotFoundError
from nexus.engine.spec import PortSpec

if TYPE_CHECKING:
    from nexus.engine.context import NodeContext

Trigger = Literal["all", "first"]


@dataclass(slots=True)
class NodeResult:
    outputs: dict[str, Any]
    """Values by output port; only the ports present fire."""

    waiting: dict[str, Any] | None = None
    """Set to pause the node (``node_waiting``); it runs again once a decision arrives."""


def port(name: str, type: str = "any", *, required: bool = False) -> PortSpec:
    return PortSpec(name=name, type=type, required=required)  # type: ignore[arg-type]


class NodeType:
    """Base of every node type. Subclasses set the class attributes and implement ``run``."""

    name: ClassVar[str]
    description: ClassVar[str]
    properties_schema: ClassVar[dict[str, Any]] = {"type": "object"}
    inputs: ClassVar[tuple[PortSpec, ...]] = (port("input"),)
    outputs: ClassVar[tuple[PortSpec, ...]] = (port("output"),)
    dynamic_inputs: ClassVar[bool] = False
    """Any input port name is accepted (merge)."""
    raw_properties: ClassVar[frozenset[str]] = frozenset()
    """Properties handed to ``run`` unrendered (expressions the node evaluates itself)."""

    def input_ports(self, properties: dict[str, Any]) -> list[PortSpec]:
        return list(self.inputs)

    def output_ports(self, properties: dict[str, Any]) -> list[PortSpec]:
        return list(self.outputs)

    def trigger(self, properties: dict[str, Any]) -> Trigger:
        """``all``: run once every incoming edge has fired or been skipped; ``first``: run on
        the first value that arrives."""
        return "all"

    def check(
        self, properties: dict[str, Any], registry: NodeTypeRegistry
    ) -> list[tuple[str, str]]:
        """Checks beyond the JSON Schema: ``(field, message)`` pairs."""
        return []

    async def run(
        self, ctx: NodeContext, inputs: dict[str, Any], properties: dict[str, Any]
    ) -> NodeResult:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        return {
            "type": self.name,
            "description": self.description,
            "properties_schema": self.properties_schema,
            "inputs": [p.model_dump() for p in self.inputs],
            "outputs": [p.model_dump() for p in self.outputs],
            "dynamic_inputs": self.dynamic_inputs,
        }


class NodeTypeRegistry:
    """Node types by name, with their compiled property validators."""

    def __init__(self) -> None:
        self._types: dict[str, NodeType] = {}
        self._validators: dict[str, Draft202012Validator] = {}

    def register(self, node_type: NodeType, *, replace: bool = False) -> None:
        name = node_type.name
        if name in self._types and not replace:
            raise InvalidInputError(
                f"Node type {name!r} is already registered; pass replace=True to override it.",
                field="type",
            )
        Draft202012Validator.check_schema(node_type.properties_schema)
        self._types[name] = node_type
        self._validators[name] = Draft202012Validator(node_type.properties_schema)

    def unregister(self, name: str) -> None:
        self._types.pop(name, None)
        self._validators.pop(name, None)

    def get(self, name: str) -> NodeType:
        try:
            return self._types[name]
        except KeyError:
            raise NotFoundError(
                f"Unknown node type {name!r}; known types: {', '.join(sorted(self._types))}.",
                field="type",
            ) from None

    def validator(self, name: str) -> Draft202012Validator:
        return self._validators[name]

    def __contains__(self, name: object) -> bool:
        return name in self._types

    def list(self) -> builtins.list[NodeType]:
        return [self._types[n] for n in sorted(self._types)]

    def describe(self) -> builtins.list[dict[str, Any]]:
        return [t.describe() for t in self.list()]


def default_node_types() -> NodeTypeRegistry:
    """A registry with every built-in node type."""
    from nexus.engine.nodes import builtin_node_types

    registry = NodeTypeRegistry()
    for node_type in builtin_node_types():
        registry.register(node_type)
    return registry
