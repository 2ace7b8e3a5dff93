"""A validated workflow, precomputed for execution: adjacency, in-degrees, template renderers.

Built once per workflow version by ``compile_workflow`` (``validation.py``) and shared by every
run of it; nothing in here changes while runs execute.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator

from nexus.engine.nodes.registry import NodeType
from nexus.engine.spec import NodePolicy, NodeSpec, WorkflowSpec

Renderer = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(slots=True, eq=False)
class PlannedNode:
    id: str
    spec: NodeSpec
    type: NodeType
    policy: NodePolicy
    properties: dict[str, Any]
    render: Renderer | None
    """Renders the templated properties for one execution; ``None`` when there are none."""
    output_ports: tuple[str, ...]
    out_edges: tuple[tuple[str, str, str], ...] = ()
    """``(source port, target node, target port)`` for every edge leaving this node (tuples
    of strings: the garbage collector stops tracking them, so big plans cost it little)."""
    in_degree: int = 0
    first: bool = False
    """Runs on the first value that arrives (merge ``first``)."""


@dataclass(slots=True, eq=False)
class WorkflowPlan:
    spec: WorkflowSpec
    nodes: dict[str, PlannedNode]
    order: list[str]
    """Topological order."""
    sources: list[str]
    """Nodes without incoming edges: ready when a run starts."""
    outputs: dict[str, str]
    """Output name → ``output`` node id."""
    inputs_validator: Draft202012Validator
    """Checks run inputs against ``spec.inputs``."""
    inputs_any_object: bool = False
    """``spec.inputs`` is ``{"type": "object"}`` (the default): any dict is valid."""

    def descendants(self, node_id: str) -> set[str]:
        """``node_id`` and every node downstream of it."""
        seen = {node_id}
        stack = [node_id]
        while stack:
            for _, target, _ in self.nodes[stack.pop()].out_edges:
                if target not in seen:
                    seen.add(target)
                    stack.append(target)
        return seen
