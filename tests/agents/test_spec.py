"""``AgentSpec``: what it accepts, what it refuses (naming the field), and YAML round-trips."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from nexus.agents.spec import MAX_DESCRIPTION, MAX_INSTRUCTIONS, AgentSpec


def error_fields(data: dict) -> list[str]:
    with pytest.raises(ValidationError) as info:
        AgentSpec.model_validate(data)
    return [".".join(str(p) for p in e["loc"]) for e in info.value.errors()]


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"name": ""}, "name"),
        ({"name": "a/b"}, "name"),
        ({"name": " leading"}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"model": "nocolon"}, "model"),
        ({"model": ":x"}, "model"),
        ({"model": "p:"}, "model"),
        ({"instructions": "x" * (MAX_INSTRUCTIONS + 1)}, "instructions"),
        ({"description": "x" * (MAX_DESCRIPTION + 1)}, "description"),
        ({"max_turns": 0}, "max_turns"),
        ({"max_turns": 101}, "max_turns"),
        ({"output_schema": {"type": 3}}, "output_schema"),
        ({"output_schema": {"type": "array"}}, "output_schema"),
        ({"output_schema": {"properties": {}}}, "output_schema"),
        ({"model_settings": {"temperature": 2.5}}, "model_settings.temperature"),
        ({"model_settings": {"top_p": 0}}, "model_settings.top_p"),
        ({"model_settings": {"seed": 1}}, "model_settings.seed"),
        ({"tools": [{"name": ""}]}, "tools.0.name"),
        ({"handoffs": [{"agent": "b", "mode": "fork"}]}, "handoffs.0.mode"),
        (
            {"input_guardrails": [{"type": "regex", "patterns": ["("]}]},
            "input_guardrails.0.regex.patterns",
        ),
        (
            {"input_guardrails": [{"type": "keyword", "keywords": []}]},
            "input_guardrails.0.keyword.keywords",
        ),
        ({"output_guardrails": [{"type": "llm"}]}, "output_guardrails.0.llm.criteria"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_invalid_fields_are_named(fields: dict, loc: str) -> None:
    assert error_fields({"name": "a", "model": "test:a", **fields}) == [loc]


def test_name_allows_spaces_dots_dashes() -> None:
    assert AgentSpec(name="My agent v1.2-b_c", model="test:a").name == "My agent v1.2-b_c"


def test_from_yaml_refuses_non_mappings() -> None:
    with pytest.raises(ValueError, match="must be a mapping"):
        AgentSpec.from_yaml("- a\n- b\n")


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,20}", fullmatch=True)
# U+0085 (NEL) is left out here: it has its own test below.
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85"), max_size=200
)
keyword = st.builds(
    dict,
    type=st.just("keyword"),
    name=names,
    keywords=st.lists(text.filter(bool), min_size=1, max_size=3),
    case_sensitive=st.booleans(),
)
regex_guard = st.builds(
    dict,
    type=st.just("regex"),
    name=names,
    patterns=st.lists(st.sampled_from(["a+", r"\d{3}", "x|y"]), min_size=1),
)
llm_guard = st.builds(
    dict, type=st.just("llm"), criteria=text.filter(bool), model=st.none() | st.just("test:j")
)
schema = st.none() | st.builds(
    lambda props: {
        "type": "object",
        "properties": {p: {"type": "string"} for p in props},
        "required": sorted(props),
        "additionalProperties": False,
    },
    st.sets(names, max_size=4),
)
specs = st.builds(
    dict,
    name=names,
    description=text,
    instructions=text,
    model=st.builds(lambda p, m: f"{p}:{m}", names, names),
    model_settings=st.builds(
        dict,
        temperature=st.none() | st.floats(0, 2),
        top_p=st.none() | st.floats(0.01, 1),
        max_tokens=st.none() | st.integers(1, 32_768),
        tool_choice=st.none() | st.sampled_from(["auto", "required", "none"]),
    ),
    tools=st.lists(
        st.builds(
            dict, name=names, config=st.dictionaries(names, text | st.integers(), max_size=2)
        ),
        max_size=3,
    ),
    handoffs=st.lists(
        st.builds(
            dict,
            agent=names.map(lambda n: "other-" + n),
            mode=st.sampled_from(["handoff", "tool"]),
            description=st.none() | text,
        ),
        max_size=3,
    ),
    input_guardrails=st.lists(keyword | regex_guard | llm_guard, max_size=2),
    output_guardrails=st.lists(keyword | llm_guard, max_size=2),
    output_schema=schema,
    max_turns=st.integers(1, 100),
)


@settings(max_examples=75, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs)
def test_yaml_round_trip(data: dict) -> None:
    spec = AgentSpec.model_validate(data)
    again = AgentSpec.from_yaml(spec.to_yaml())
    assert again == spec
    assert again.to_yaml() == spec.to_yaml()
    assert AgentSpec.model_validate(spec.model_dump(mode="json")) == spec


def test_yaml_round_trip_keeps_next_line_character() -> None:
    spec = AgentSpec(name="a", model="test:a", instructions="one\x85two")
    assert AgentSpec.from_yaml(spec.to_yaml()) == spec
