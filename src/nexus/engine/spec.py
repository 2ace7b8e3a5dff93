"""The stored form of a workflow: nodes with typed ports, edges between ports, per-node policy.

This is the edge of the engine (stored JSON, YAML import/export, HTTP bodies), so it is pydantic.
``to_yaml()``/``from_yaml()`` round-trip exactly: ``WorkflowSpec.from_yaml(s.to_yaml()) == s``.
Ids are kept as given; nothing here renames or reorders nodes, ports or edges.
"""

from __future__ import annotations

from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field

from nexus.core.errors import InvalidInputError
from nexus.core.yaml_text import dump_yaml

PortType = Literal["text", "json", "number", "boolean", "list", "any"]
OnError = Literal["fail", "continue", "error_port"]
ERROR_PORT = "error"
"""The output port a node with ``on_error: error_port`` fires when it fails."""

_ID = r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PortSpec(_Model):
    """One input or output of a node."""

    name: str = Field(pattern=_ID)
    type: PortType = "any"
    required: bool = False
    """For inputs: validation fails when no edge reaches this port."""


class Position(_Model):
    """Where the designer draws the node; the engine ignores it."""

    x: float = 0.0
    y: float = 0.0


class NodePolicy(_Model):
    """What the executor does around one node: time limit, retries, and what a failure means."""

    timeout_s: float | None = Field(default=None, gt=0)
    retries: int = Field(default=0, ge=0, le=20)
    backoff_s: float = Field(default=0.0, ge=0)
    """Wait before retry n: ``backoff_s * 2 ** (n - 1)``."""
    on_error: OnError = "fail"
    """``fail`` the run; ``continue`` with ``default`` on every output port; or fire the
    ``error`` port with ``{code, message}`` instead of the normal outputs."""
    default: Any = None


class NodeSpec(_Model):
    id: str = Field(pattern=_ID)
    type: str
    name: str = ""
    position: Position = Field(default_factory=Position)
    properties: dict[str, Any] = Field(default_factory=dict)
    inputs: list[PortSpec] | None = None
    """``None``: the node type's default input ports."""
    outputs: list[PortSpec] | None = None
    """``None``: the node type's default output ports."""
    policy: NodePolicy = Field(default_factory=NodePolicy)


class Endpoint(_Model):
    node: str
    port: str


class EdgeSpec(_Model):
    id: str
    source: Endpoint
    target: Endpoint


class WorkflowLimits(_Model):
    """Bounds of one run; exceeding one fails validation or the run with an error naming it."""

    max_nodes: int = Field(default=1_000, ge=1, le=100_000)
    max_steps: int = Field(default=10_000, ge=1)
    """Node executions per run, counting retries and loop iterations."""
    max_run_time_s: float = Field(default=3_600.0, gt=0)
    max_loop_iterations: int = Field(default=1_000, ge=1)
    max_payload_bytes: int = Field(default=1_000_000, ge=64)
    """Largest JSON size of one node output."""
    max_subworkflow_depth: int = Field(default=5, ge=0, le=20)


class WorkflowSpec(_Model):
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    version: int | None = None
    inputs: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    """JSON Schema of the workflow's inputs."""
    nodes: list[NodeSpec] = Field(default_factory=list)
    edges: list[EdgeSpec] = Field(default_factory=list)
    limits: WorkflowLimits = Field(default_factory=WorkflowLimits)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def to_yaml(self) -> str:
        return dump_yaml(self.to_json())

    @classmethod
    def from_yaml(cls, text: str) -> WorkflowSpec:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"Workflow YAML does not parse: {exc}", field="yaml") from exc
        if not isinstance(data, dict):
            raise InvalidInputError("Workflow YAML must be a mapping at the top.", field="yaml")
        return cls.model_validate(data)
