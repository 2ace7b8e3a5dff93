"""The ``current_datetime`` built-in: the current date and time in an IANA time zone."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nexus.core.errors import ToolError
from nexus.tools.registry import ToolSpec

Now = Callable[[], datetime]
"""Returns the current moment as an aware datetime (injectable for tests)."""


def _utc_now() -> datetime:
    return datetime.now(UTC)


def current_datetime(timezone: str, *, now: Now = _utc_now) -> dict[str, str]:
    """The current moment in ``timezone`` (an IANA name; ``"UTC"`` when empty)."""
    name = timezone.strip() or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ToolError(
            f"unknown time zone {name!r}; use an IANA name such as 'UTC', 'Europe/Paris' "
            "or 'America/New_York'"
        ) from exc
    moment = now().astimezone(zone)
    return {
        "timezone": name,
        "iso": moment.isoformat(timespec="seconds"),
        "date": moment.date().isoformat(),
        "time": moment.strftime("%H:%M:%S"),
        "weekday": moment.strftime("%A"),
        "utc_offset": moment.strftime("%z"),
    }


CLOCK_PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timezone": {
            "type": "string",
            "description": "IANA time zone, e.g. 'Europe/Paris'; an empty string means UTC.",
        }
    },
    "required": ["timezone"],
    "additionalProperties": False,
}


def clock_tool(now: Now | None = None) -> ToolSpec:
    """The ``current_datetime`` tool spec; ``now`` overrides the clock (tests)."""
    clock = now if now is not None else _utc_now

    async def handle(arguments: dict[str, Any]) -> dict[str, str]:
        return current_datetime(arguments["timezone"], now=clock)

    return ToolSpec(
        name="current_datetime",
        description=(
            "Get the current date, time and weekday in a time zone (ISO 8601). "
            "Use it whenever the answer depends on today's date or the time."
        ),
        parameters=CLOCK_PARAMETERS,
        handler=handle,
    )
