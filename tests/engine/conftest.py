"""Fixtures for engine tests: a spec builder, an executor on an in-memory checkpointer."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nexus.engine.executor import WorkflowExecutor
from nexus.engine.memory import InMemoryCheckpointer, MemoryEventSink
from nexus.engine.services import Services
from nexus.engine.spec import WorkflowSpec

SpecBuilder = Callable[..., WorkflowSpec]


def build_spec(nodes: list[dict[str, Any]], edges: list[str], **extra: Any) -> WorkflowSpec:
    """Edges as ``"a.port->b.port"`` (``"a->b"`` means ``a.output->b.input``)."""
    edge_specs = []
    for i, text in enumerate(edges):
        left, right = (part.strip() for part in text.split("->"))
        src, _, sport = left.partition(".")
        dst, _, dport = right.partition(".")
        edge_specs.append(
            {
                "id": f"e{i}",
                "source": {"node": src, "port": sport or "output"},
                "target": {"node": dst, "port": dport or "input"},
            }
        )
    return WorkflowSpec.model_validate(
        {"name": "test", "nodes": nodes, "edges": edge_specs, **extra}
    )


@pytest.fixture
def spec() -> SpecBuilder:
    return build_spec


@pytest.fixture
def checkpointer() -> InMemoryCheckpointer:
    return InMemoryCheckpointer()


@pytest.fixture
def sink() -> MemoryEventSink:
    return MemoryEventSink()


@pytest.fixture
def executor(checkpointer: InMemoryCheckpointer) -> WorkflowExecutor:
    return WorkflowExecutor(checkpointer, services=Services())
