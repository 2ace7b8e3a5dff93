"""Run events: the names clients see, and the sink protocol the executors write to.

Every event of a run carries a per-run sequence number assigned by the sink, so a client that
reconnects with its last sequence number gets exactly the events after it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

RUN_STARTED = "run_started"
TOKEN = "token"
MESSAGE = "message"
TOOL_CALLED = "tool_called"
TOOL_OUTPUT = "tool_output"
HANDOFF = "handoff"
AGENT_UPDATED = "agent_updated"
GUARDRAIL_TRIPPED = "guardrail_tripped"
USAGE = "usage"
RUN_FAILED = "run_failed"
RUN_COMPLETED = "run_completed"

# Workflow runs (nexus.engine): the run's status and one event per node transition.
WORKFLOW_STATUS = "workflow_status"
NODE_STARTED = "node_started"
NODE_COMPLETED = "node_completed"
NODE_FAILED = "node_failed"
NODE_WAITING = "node_waiting"
NODE_SKIPPED = "node_skipped"

# Code tasks (nexus.worker.code_tasks): one event per attempt of the auto-fix loop.
CODE_ATTEMPT = "code_attempt"


@dataclass(frozen=True)
class RunEvent:
    run_id: str
    seq: int
    type: str
    data: dict[str, Any]
    created_at: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "seq": self.seq,
            "type": self.type,
            "data": self.data,
            "created_at": self.created_at,
        }


class EventSink(Protocol):
    """Where an executing run writes its events. ``emit`` never blocks on I/O."""

    def emit(self, type: str, data: dict[str, Any]) -> RunEvent: ...
