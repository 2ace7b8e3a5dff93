"""In-memory ``Checkpointer`` and ``EventSink``: for tests, benchmarks and throwaway runs.

Values are stored as given, not copied: the engine treats node outputs as immutable.
"""

from __future__ import annotations

import time
from typing import Any

from nexus.core.events import RunEvent
from nexus.engine.checkpoints import NodeRecord, RunState


class InMemoryCheckpointer:
    def __init__(self) -> None:
        self.runs: dict[str, RunState] = {}
        self.nodes: dict[str, dict[str, NodeRecord]] = {}

    async def save_run(self, state: RunState) -> None:
        self.runs[state.run_id] = state

    async def load_run(self, run_id: str) -> RunState | None:
        return self.runs.get(run_id)

    async def save_node(self, run_id: str, record: NodeRecord) -> None:
        records = self.nodes.get(run_id)
        if records is None:
            records = self.nodes[run_id] = {}
        records[record.node_id] = record

    async def load_nodes(self, run_id: str) -> dict[str, NodeRecord]:
        return dict(self.nodes.get(run_id, {}))


class MemoryEventSink:
    """Keeps every event of one run in order (``events``); ``of(type)`` filters them."""

    def __init__(self, run_id: str = "") -> None:
        self.run_id = run_id
        self.events: list[RunEvent] = []

    def emit(self, type: str, data: dict[str, Any]) -> RunEvent:
        event = RunEvent(self.run_id, len(self.events) + 1, type, data, time.time())
        self.events.append(event)
        return event

    def of(self, type: str) -> list[dict[str, Any]]:
        return [e.data for e in self.events if e.type == type]

    def types(self) -> list[str]:
        return [e.type for e in self.events]
