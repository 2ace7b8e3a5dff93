from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class RunRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: str = Field(min_length=1, max_length=100_000)
    session_id: str | None = Field(
        default=None, min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.:\-]+$"
    )
    stream: bool = False


class RunResult(BaseModel):
    run_id: str
    status: str
    output: Any = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None


class RunPublic(BaseModel):
    id: str
    kind: str
    agent_id: str | None
    session_id: str | None
    status: str
    input: dict[str, Any]
    output: Any = None
    error: dict[str, Any] | None = None
    usage: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class RunEventPublic(BaseModel):
    seq: int
    type: str
    data: dict[str, Any]
    created_at: float


class SpanPublic(BaseModel):
    id: str
    trace_id: str
    parent_id: str | None
    kind: str
    started_at: str | None
    ended_at: str | None
    data: dict[str, Any] | None
    error: dict[str, Any] | None
