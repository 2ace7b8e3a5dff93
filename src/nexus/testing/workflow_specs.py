"""Building workflow specs in tests with edges written as ``"a.port->b.port"``."""

from __future__ import annotations

from typing import Any

from nexus.engine.spec import WorkflowSpec


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
    data = {"name": "test", "nodes": nodes, "edges": edge_specs, **extra}
    return WorkflowSpec.model_validate(data)
