"""The messages a ``/ws`` client sends (validated here) and the ``error`` frames they can get.

The whole protocol is described in ``docs/workflows.md``, "Live events: SSE and WebSocket".
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator


class _Message(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(max_length=100)] | int | None = None
    """Echoed in the direct answer, to pair answers with requests."""


class Subscribe(_Message):
    type: Literal["subscribe"]
    run_id: str | None = Field(default=None, min_length=1, max_length=100)
    workflow_id: str | None = Field(default=None, min_length=1, max_length=200)
    after_seq: int = Field(default=0, ge=0)
    """Runs only: replay the events after this sequence number (0: all of them)."""

    @model_validator(mode="after")
    def _one_target(self) -> Subscribe:
        if (self.run_id is None) == (self.workflow_id is None):
            raise ValueError("give exactly one of run_id and workflow_id")
        if self.workflow_id is not None and self.after_seq:
            raise ValueError("after_seq applies to run subscriptions only")
        return self


class Unsubscribe(_Message):
    type: Literal["unsubscribe"]
    run_id: str | None = Field(default=None, min_length=1, max_length=100)
    workflow_id: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> Unsubscribe:
        if (self.run_id is None) == (self.workflow_id is None):
            raise ValueError("give exactly one of run_id and workflow_id")
        return self


class Ping(_Message):
    type: Literal["ping"]


class ExecuteNode(_Message):
    type: Literal["execute_node"]
    workflow_id: str = Field(min_length=1, max_length=200)
    node_id: str = Field(min_length=1, max_length=64)
    input_data: dict[str, Any] = Field(default_factory=dict)
    """Values by input port of the node; also the ``inputs`` its templates see."""


ClientMessage = Annotated[Subscribe | Unsubscribe | Ping | ExecuteNode, Field(discriminator="type")]
MESSAGES: TypeAdapter[ClientMessage] = TypeAdapter(ClientMessage)


def parse_message(text: str) -> ClientMessage:
    """The message in ``text``, or a ``ProtocolError`` saying what is wrong with it."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ProtocolError("invalid_json", f"the message is not JSON: {exc}") from exc
    if not isinstance(raw, dict):
        raise ProtocolError("invalid_message", "a message is a JSON object with a 'type'")
    kind = raw.get("type")
    if kind not in ("subscribe", "unsubscribe", "ping", "execute_node"):
        raise ProtocolError(
            "unknown_type",
            f"unknown message type {kind!r}; send subscribe, unsubscribe, ping or execute_node",
            request_id=raw.get("id") if isinstance(raw.get("id"), str | int) else None,
        )
    try:
        return MESSAGES.validate_python(raw)
    except ValidationError as exc:
        details = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or "message",
                "message": e["msg"],
            }
            for e in exc.errors()
        ]
        first = details[0]
        raise ProtocolError(
            "invalid_input",
            f"{kind}: {first['field']}: {first['message']}",
            request_id=raw.get("id") if isinstance(raw.get("id"), str | int) else None,
            details=details,
        ) from exc


class ProtocolError(Exception):
    """A message the socket answers with an ``error`` frame (the socket stays open)."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        request_id: str | int | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message)
        self.frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if details is not None:
            self.frame["details"] = details
        if request_id is not None:
            self.frame["id"] = request_id
