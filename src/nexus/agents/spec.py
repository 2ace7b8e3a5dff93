"""``AgentSpec``: the stored, user-editable description of an agent (pydantic: it is stored JSON).

Checks here are the ones that need nothing but the spec itself (names, sizes, JSON Schema
well-formedness). Checks against the world (the model exists, the tools and
handoff targets exist and are not the agent itself) happen in ``nexus.agents.validation``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import yaml
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from pydantic import BaseModel, ConfigDict, Field, field_validator

from nexus.core.ids import new_id
from nexus.core.yaml_text import dump_yaml

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9 _.\-]{0,99}$"
MAX_INSTRUCTIONS = 50_000
MAX_DESCRIPTION = 2_000


class ModelSettingsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1, le=32_768)
    tool_choice: str | None = Field(
        default=None, description='"auto", "required", "none" or a tool name', max_length=100
    )


class ToolRef(BaseModel):
    """A tool attached to an agent, by registry name."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("tool"))
    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(default_factory=dict)


class HandoffRef(BaseModel):
    """Another stored agent this agent can hand off to (``handoff``) or call (``tool``)."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(default_factory=lambda: new_id("hof"))
    agent: str = Field(min_length=1, max_length=100, description="target agent id or name")
    mode: Literal["handoff", "tool"] = "handoff"
    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)


class KeywordGuardrail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["keyword"]
    name: str = Field(default="keyword", min_length=1, max_length=100)
    keywords: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        min_length=1, max_length=500
    )
    case_sensitive: bool = False
    message: str | None = Field(default=None, max_length=500)


class RegexGuardrail(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["regex"]
    name: str = Field(default="regex", min_length=1, max_length=100)
    patterns: list[Annotated[str, Field(min_length=1, max_length=500)]] = Field(
        min_length=1, max_length=100
    )
    message: str | None = Field(default=None, max_length=500)

    @field_validator("patterns")
    @classmethod
    def _compiles(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc
        return patterns


class LLMGuardrail(BaseModel):
    """A judge model decides whether the text breaks ``criteria``."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["llm"]
    name: str = Field(default="llm_judge", min_length=1, max_length=100)
    criteria: str = Field(min_length=1, max_length=5_000)
    model: str | None = Field(default=None, max_length=200, description="default: agent's model")


GuardrailSpec = Annotated[
    KeywordGuardrail | RegexGuardrail | LLMGuardrail, Field(discriminator="type")
]


class AgentSpec(BaseModel):
    """Everything needed to build an SDK ``Agent``; stored as JSON, exported as YAML."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=NAME_PATTERN, description="unique; letters, digits, space _ . -")
    description: str = Field(default="", max_length=MAX_DESCRIPTION)
    instructions: str = Field(default="You are a helpful assistant.", max_length=MAX_INSTRUCTIONS)
    model: str = Field(default="local:smollm2-135m", min_length=3, max_length=200)
    model_settings: ModelSettingsSpec = Field(default_factory=ModelSettingsSpec)
    tools: list[ToolRef] = Field(default_factory=list, max_length=64)
    handoffs: list[HandoffRef] = Field(default_factory=list, max_length=32)
    input_guardrails: list[GuardrailSpec] = Field(default_factory=list, max_length=16)
    output_guardrails: list[GuardrailSpec] = Field(default_factory=list, max_length=16)
    output_schema: dict[str, Any] | None = Field(
        default=None, description="JSON Schema of the final output (an object schema)"
    )
    max_turns: int = Field(default=10, ge=1, le=100)

    @field_validator("name")
    @classmethod
    def _strip_name(cls, name: str) -> str:
        return name.strip()

    @field_validator("model")
    @classmethod
    def _model_id_shape(cls, model: str) -> str:
        provider, sep, name = model.partition(":")
        if not sep or not provider or not name:
            raise ValueError('model must look like "provider:model", e.g. "local:smollm2-135m"')
        return model

    @field_validator("output_schema")
    @classmethod
    def _valid_json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from exc
        if schema.get("type") != "object":
            raise ValueError('output_schema must describe an object ("type": "object")')
        return schema

    def to_yaml(self) -> str:
        return dump_yaml(self.model_dump(mode="json", exclude_defaults=False))

    @classmethod
    def from_yaml(cls, text: str) -> AgentSpec:
        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValueError("an agent YAML document must be a mapping")
        return cls.model_validate(data)
