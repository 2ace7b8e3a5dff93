"""Templates: native single expressions, text rendering, sandbox, size limits, caching."""

from __future__ import annotations

import pytest

from nexus.engine.templates import TemplateEngine, TemplateRenderError, node_references

SCOPE = {
    "inputs": {"topic": "owls", "n": 3},
    "nodes": {"research": {"output": ["a", "b"]}},
    "input": {},
}


def test_single_expression_keeps_native_value() -> None:
    t = TemplateEngine()
    assert t.render("{{ nodes.research.output }}", SCOPE) == ["a", "b"]
    assert t.render("{{ inputs.n + 1 }}", SCOPE) == 4


def test_text_template_renders_string() -> None:
    t = TemplateEngine()
    assert t.render("About {{ inputs.topic }} ({{ inputs.n }})", SCOPE) == "About owls (3)"


def test_compiled_templates_are_cached() -> None:
    t = TemplateEngine()
    assert t.compile("x {{ inputs.n }}") is t.compile("x {{ inputs.n }}")


def test_undefined_name_is_an_error() -> None:
    with pytest.raises(TemplateRenderError, match="missing"):
        TemplateEngine().render("{{ inputs.missing }}", SCOPE)
    with pytest.raises(TemplateRenderError):
        TemplateEngine().render("hello {{ nope }}", SCOPE)


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ inputs.__class__.__init__.__globals__ }}",
        "{% for c in ().__class__.__base__.__subclasses__() %}{{ c }}{% endfor %}",
        "{{ cycler.__init__.__globals__.os }}",
    ],
)
def test_sandbox_refuses_escapes(source: str) -> None:
    with pytest.raises(TemplateRenderError):
        TemplateEngine().render(source, SCOPE)


def test_output_size_is_bounded() -> None:
    t = TemplateEngine(max_output_chars=100)
    with pytest.raises(TemplateRenderError, match="over 100"):
        t.render("{% for i in range(1000) %}xx{% endfor %}", SCOPE)
    with pytest.raises(TemplateRenderError, match="over"):
        TemplateEngine().render("{{ 'a' * 100000000 }}", SCOPE)
    with pytest.raises(TemplateRenderError, match="Exponent"):
        TemplateEngine().render("{{ 10 ** 100000 }}", SCOPE)


def test_compile_value_renders_nested_structures_and_skips_static_ones() -> None:
    t = TemplateEngine()
    assert t.compile_value({"a": 1, "b": ["x"]}) is None
    render = t.compile_value({"q": "{{ inputs.topic }}", "k": [1, "n={{ inputs.n }}"]})
    assert render is not None
    assert render(SCOPE) == {"q": "owls", "k": [1, "n=3"]}


def test_expression_accepts_bare_or_braced() -> None:
    t = TemplateEngine()
    assert t.compile_expression("inputs.n > 2")(SCOPE) is True
    assert t.compile_expression("{{ inputs.n > 5 }}")(SCOPE) is False


def test_node_references() -> None:
    assert node_references("{{ nodes.a.output }} {{ nodes['b-2'].x }}") == {"a", "b-2"}
