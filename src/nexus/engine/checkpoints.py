"""Durability seams of the engine: what a run saves, and the ``Checkpointer`` protocol.

A node's record is saved when it starts (``running``, with its attempt number) and when it ends
(``completed`` with its outputs, ``failed``, or ``waiting``); the executor awaits the save of a
completed record before any successor starts. The run's own state (status, inputs, outputs,
error, waiting nodes) is saved at start and at every pause or end. ``nexus.store`` implements the
protocol on SQL; ``InMemoryCheckpointer`` (``memory.py``) serves tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from nexus.core.status import RunStatus


class NodeStatus(StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    WAITING = "waiting"


@dataclass(slots=True)
class NodeRecord:
    node_id: str
    status: NodeStatus
    attempt: int
    outputs: dict[str, Any] | None = None
    """Values by output port (only the ports that fired)."""
    error: dict[str, Any] | None = None
    waiting: dict[str, Any] | None = None
    """What the node waits for (an approval request)."""
    duration_ms: float | None = None
    usage: dict[str, Any] | None = None
    """Tokens the node's model calls used (``RunUsage.to_dict(totals=True)``), over every
    attempt in this run; ``None`` for a node that called no model."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        return cls(**{**data, "status": NodeStatus(data["status"])})


@dataclass(slots=True)
class RunState:
    run_id: str
    status: RunStatus
    inputs: dict[str, Any]
    outputs: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    waiting: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Waiting node id → its request."""
    depth: int = 0
    usage: dict[str, Any] | None = None
    """The run's tokens: the sum of its node records' usage (set when the run pauses or
    ends, if a model was called; ``None`` leaves the stored value as it is)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunState:
        return cls(**{**data, "status": RunStatus(data["status"])})


class Checkpointer(Protocol):
    """Where runs keep their progress. Saves must be durable when they return."""

    async def save_run(self, state: RunState) -> None: ...

    async def load_run(self, run_id: str) -> RunState | None: ...

    async def save_node(self, run_id: str, record: NodeRecord) -> None: ...

    async def load_nodes(self, run_id: str) -> dict[str, NodeRecord]:
        """The latest record of every node of the run that has one."""
        ...
