"""WorkflowSpec: YAML round-trip (property test over generated specs), ids kept."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus.core.errors import InvalidInputError
from nexus.engine.spec import WorkflowSpec

ids = st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,12}", fullmatch=True)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)
port_types = st.sampled_from(["text", "json", "number", "boolean", "list", "any"])
ports = st.lists(
    st.fixed_dictionaries({"name": ids, "type": port_types, "required": st.booleans()}),
    max_size=3,
)
policies = st.fixed_dictionaries(
    {
        "timeout_s": st.none() | st.floats(min_value=0.001, max_value=1e6),
        "retries": st.integers(0, 20),
        "backoff_s": st.floats(min_value=0, max_value=1e6),
        "on_error": st.sampled_from(["fail", "continue", "error_port"]),
        "default": json_values,
    }
)
nodes = st.fixed_dictionaries(
    {
        "id": ids,
        "type": st.text(min_size=1, max_size=12),
        "name": st.text(max_size=20),
        "position": st.fixed_dictionaries(
            {"x": st.floats(allow_nan=False, allow_infinity=False), "y": st.integers(-9999, 9999)}
        ),
        "properties": st.dictionaries(st.text(max_size=10), json_values, max_size=4),
        "inputs": st.none() | ports,
        "outputs": st.none() | ports,
        "policy": policies,
    }
)
endpoints = st.fixed_dictionaries({"node": ids, "port": ids})
edges = st.fixed_dictionaries(
    {"id": st.text(min_size=1, max_size=8), "source": endpoints, "target": endpoints}
)
specs = st.fixed_dictionaries(
    {
        "name": st.text(min_size=1, max_size=30),
        "description": st.text(max_size=60),
        "version": st.none() | st.integers(1, 10_000),
        "inputs": st.dictionaries(st.text(max_size=8), json_values, max_size=3),
        "nodes": st.lists(nodes, max_size=4),
        "edges": st.lists(edges, max_size=4),
    }
)


@settings(max_examples=150, deadline=None)
@given(specs)
def test_yaml_round_trip_is_exact(data: dict) -> None:
    spec = WorkflowSpec.model_validate(data)
    text = spec.to_yaml()
    again = WorkflowSpec.from_yaml(text)
    assert again == spec
    assert again.to_json() == spec.to_json()
    assert again.to_yaml() == text


def test_yaml_keeps_ids_and_order() -> None:
    text = """
name: research
nodes:
  - id: zeta
    type: input
  - id: alpha
    type: output
    properties: {name: answer}
edges:
  - id: wire-1
    source: {node: zeta, port: output}
    target: {node: alpha, port: input}
"""
    spec = WorkflowSpec.from_yaml(text)
    assert [n.id for n in spec.nodes] == ["zeta", "alpha"]
    assert spec.edges[0].id == "wire-1"
    assert WorkflowSpec.from_yaml(spec.to_yaml()) == spec
    assert spec.to_yaml().index("zeta") < spec.to_yaml().index("alpha")


@pytest.mark.parametrize("text", ["name: [unclosed", "- just\n- a list\n"])
def test_bad_yaml_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        WorkflowSpec.from_yaml(text)
    assert caught.value.field == "yaml"
