from datetime import UTC, datetime

import pytest

from nexus.core.errors import ToolError
from nexus.tools.clock import clock_tool, current_datetime

FIXED = datetime(2025, 3, 9, 12, 30, 15, tzinfo=UTC)


def fixed_now() -> datetime:
    return FIXED


def test_utc_when_timezone_is_empty() -> None:
    assert current_datetime("", now=fixed_now) == {
        "timezone": "UTC",
        "iso": "2025-03-09T12:30:15+00:00",
        "date": "2025-03-09",
        "time": "12:30:15",
        "weekday": "Sunday",
        "utc_offset": "+0000",
    }


def test_converts_to_the_named_zone() -> None:
    assert current_datetime("Asia/Tokyo", now=fixed_now) == {
        "timezone": "Asia/Tokyo",
        "iso": "2025-03-09T21:30:15+09:00",
        "date": "2025-03-09",
        "time": "21:30:15",
        "weekday": "Sunday",
        "utc_offset": "+0900",
    }


def test_date_can_change_across_zones() -> None:
    result = current_datetime("America/Los_Angeles", now=fixed_now)
    # 2025-03-09 is the US DST switch day: 12:30 UTC is 05:30 PDT (-07:00).
    assert result["iso"] == "2025-03-09T05:30:15-07:00"
    late = datetime(2025, 3, 9, 2, 0, tzinfo=UTC)
    assert current_datetime("America/New_York", now=lambda: late)["weekday"] == "Saturday"


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "../../etc/passwd", "/etc/localtime", "UTC+99"]
)
def test_unknown_zone_is_a_tool_error(zone: str) -> None:
    with pytest.raises(ToolError) as caught:
        current_datetime(zone, now=fixed_now)
    assert caught.value.message.startswith(f"unknown time zone {zone!r}; use an IANA name")


def test_default_clock_is_aware_and_current() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    result = current_datetime("UTC")
    assert datetime.fromisoformat(result["iso"]) >= before


async def test_tool_spec_uses_injected_clock() -> None:
    spec = clock_tool(now=fixed_now)
    assert spec.name == "current_datetime"
    result = await spec.handler({"timezone": "Europe/Paris"})
    assert result["iso"] == "2025-03-09T13:30:15+01:00"
