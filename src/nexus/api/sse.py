"""Server-sent events of a run: replay after the client's cursor, then follow live."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from sse_starlette.sse import EventSourceResponse

from nexus.core.errors import InvalidInputError
from nexus.store.event_log import RunEventLog


def parse_cursor(last_event_id: str | None) -> int:
    if last_event_id is None or last_event_id == "":
        return 0
    try:
        cursor = int(last_event_id)
    except ValueError as exc:
        raise InvalidInputError(
            "Last-Event-ID must be the integer id of an event", field="Last-Event-ID"
        ) from exc
    if cursor < 0:
        raise InvalidInputError("Last-Event-ID must not be negative", field="Last-Event-ID")
    return cursor


def run_event_stream(log: RunEventLog, run_id: str, after_seq: int) -> EventSourceResponse:
    async def frames() -> AsyncIterator[dict[str, str]]:
        async for event in log.follow(run_id, after_seq):
            yield {
                "id": str(event.seq),
                "event": event.type,
                "data": json.dumps(event.to_dict(), default=str),
            }

    return EventSourceResponse(frames(), ping=15, headers={"Cache-Control": "no-store"})
