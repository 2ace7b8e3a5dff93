from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nexus.agents.spec import NAME_PATTERN, AgentSpec, HandoffRef, ToolRef
from nexus.security.principal import Visibility


class AgentCreate(AgentSpec):
    visibility: Visibility = Visibility.WORKSPACE

    def spec(self) -> AgentSpec:
        return AgentSpec.model_validate(self.model_dump(exclude={"visibility"}))


class AgentUpdate(AgentSpec):
    visibility: Visibility | None = None

    def spec(self) -> AgentSpec:
        return AgentSpec.model_validate(self.model_dump(exclude={"visibility"}))


class AgentPublic(AgentSpec):
    id: str
    owner_id: str | None
    workspace_id: str | None
    visibility: Visibility
    editable: bool
    created_at: datetime
    updated_at: datetime


class AgentClone(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=NAME_PATTERN)


class HandoffCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent: str = Field(min_length=1, max_length=100, description="target agent id or name")
    mode: Literal["handoff", "tool"] = "handoff"
    description: str | None = Field(default=None, max_length=2_000)


HandoffPublic = HandoffRef


class ToolAttach(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    config: dict[str, Any] = Field(default_factory=dict)


ToolRefPublic = ToolRef


class AvailableTool(BaseModel):
    name: str
    description: str
    parameters: dict[str, Any]
    category: str


class OutputTypePublic(BaseModel):
    name: str
    description: str
    schema_: dict[str, Any] | None = Field(alias="schema", serialization_alias="schema")

    model_config = ConfigDict(populate_by_name=True)
