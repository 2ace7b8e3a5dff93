"""Validation: every problem at once, each naming its node and field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from nexus.core.errors import InvalidInputError
from nexus.engine.nodes.registry import default_node_types
from nexus.engine.spec import WorkflowSpec
from nexus.engine.validation import compile_workflow, validate_workflow

OUT = {"id": "out", "type": "output"}

SpecBuilder = Callable[..., WorkflowSpec]


@pytest.mark.parametrize(
    ("nodes", "edges", "expected"),
    [
        ([{"id": "x", "type": "nope"}], [], ("x", "type", "Unknown node type 'nope'.")),
        (
            [{"id": "l", "type": "llm", "properties": {"model": "local:m"}}],
            [],
            ("l", "properties.prompt", "'prompt' is a required property"),
        ),
        (
            [{"id": "d", "type": "delay", "properties": {"seconds": "soon"}}],
            [],
            ("d", "properties.seconds", "'soon' is not of type 'number'"),
        ),
        (
            [{"id": "in", "type": "input"}],
            ["in->ghost"],
            ("ghost", "edges.e0.target.node", "No node 'ghost'."),
        ),
        (
            [{"id": "in", "type": "input"}, OUT],
            ["in.nope->out"],
            (
                "in",
                "edges.e0.source.port",
                "Node 'in' has no output port 'nope' (outputs: output).",
            ),
        ),
        (
            [
                {"id": "in", "type": "input", "outputs": [{"name": "output", "type": "text"}]},
                {
                    "id": "n",
                    "type": "transform",
                    "properties": {"template": "x"},
                    "inputs": [{"name": "input", "type": "number"}],
                },
            ],
            ["in->n"],
            ("n", "edges.e0", "Edge carries text from in.output into number port n.input."),
        ),
        (
            [
                {"id": "a", "type": "delay", "properties": {"seconds": 0}},
                {"id": "b", "type": "delay", "properties": {"seconds": 0}},
            ],
            ["a->b", "b->a"],
            (
                "a",
                "edges",
                "Node is on a cycle (nodes involved: a, b); iterate with a loop node instead.",
            ),
        ),
        ([OUT], [], ("out", "inputs.input", "Output node is unreachable: no edge reaches it.")),
        (
            [{"id": "t", "type": "transform", "properties": {"template": "{{ nodes.zz.output }}"}}],
            [],
            ("t", "properties.template", "Template refers to unknown node 'zz'."),
        ),
        (
            [{"id": "t", "type": "transform", "properties": {"template": "{% if %}"}}],
            [],
            ("t", "properties.template", None),
        ),
        (
            [{"id": "c", "type": "condition", "properties": {"expression": "1 +"}}],
            [],
            ("c", "properties.expression", None),
        ),
        (
            [{"id": "l", "type": "loop", "properties": {"body": {"type": "nope"}}}],
            [],
            ("l", "properties.body.type", "Unknown node type 'nope'."),
        ),
        (
            [
                {
                    "id": "n",
                    "type": "transform",
                    "properties": {"template": "x"},
                    "inputs": [{"name": "input", "required": True}],
                }
            ],
            [],
            ("n", "inputs.input", "Required input 'input' has no edge."),
        ),
    ],
)
def test_each_error_names_node_and_field(
    spec: SpecBuilder, nodes: list[dict[str, Any]], edges: list[str], expected: tuple
) -> None:
    issues = validate_workflow(spec(nodes, edges), default_node_types())
    found = [(i.node, i.field, i.message) for i in issues]
    node, field, message = expected
    if message is None:
        assert any(i.node == node and i.field == field for i in issues), found
    else:
        assert (node, field, message) in found, found


def test_all_errors_are_reported_at_once(spec: SpecBuilder) -> None:
    wf = spec(
        [{"id": "x", "type": "nope"}, {"id": "d", "type": "delay"}, OUT],
        [],
        limits={"max_nodes": 2},
    )
    with pytest.raises(InvalidInputError) as caught:
        compile_workflow(wf, default_node_types())
    details = caught.value.details
    assert details is not None
    assert [(d["node"], d["field"]) for d in details] == [
        (None, "nodes"),
        ("x", "type"),
        ("d", "properties.seconds"),
        ("out", "inputs.input"),
    ]
    assert caught.value.to_dict()["details"] == details


def test_reference_to_a_node_that_is_not_upstream(spec: SpecBuilder) -> None:
    wf = spec(
        [
            {"id": "a", "type": "transform", "properties": {"template": "a"}},
            {"id": "b", "type": "transform", "properties": {"template": "{{ nodes.a.output }}"}},
        ],
        [],
    )
    issues = validate_workflow(wf, default_node_types())
    assert [(i.node, i.field) for i in issues] == [("b", "properties.template")]
    assert "not upstream" in issues[0].message


def test_valid_workflow_has_no_issues(spec: SpecBuilder) -> None:
    wf = spec([{"id": "in", "type": "input"}, OUT], ["in->out"])
    assert validate_workflow(wf, default_node_types()) == []
