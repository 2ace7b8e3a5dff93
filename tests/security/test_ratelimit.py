from __future__ import annotations

import pytest

from nexus.core.errors import RateLimitedError
from nexus.security.ratelimit import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def outcomes(limiter: RateLimiter, key: str, limit: int, per: float, n: int) -> list[int]:
    """0 for each request let through, retry_after for each refused."""
    results = []
    for _ in range(n):
        try:
            limiter.check(key, limit, per)
            results.append(0)
        except RateLimitedError as err:
            results.append(err.retry_after)
    return results


@pytest.mark.parametrize(
    ("limit", "per", "n", "expected"),
    [
        (1, 60, 3, [0, 60, 60]),
        (3, 60, 5, [0, 0, 0, 20, 20]),
        (5, 1, 7, [0, 0, 0, 0, 0, 1, 1]),
        (10, 60, 10, [0] * 10),
        (2, 90, 3, [0, 0, 45]),
    ],
)
def test_burst_then_refusal(limit: int, per: float, n: int, expected: list[int]) -> None:
    assert outcomes(RateLimiter(clock=Clock()), "k", limit, per, n) == expected


def test_refills_at_the_steady_rate() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert outcomes(limiter, "k", 3, 60, 4) == [0, 0, 0, 20]
    clock.now += 20  # one slot back
    assert outcomes(limiter, "k", 3, 60, 2) == [0, 20]
    clock.now += 60  # everything back
    assert outcomes(limiter, "k", 3, 60, 4) == [0, 0, 0, 20]


def test_refused_requests_are_not_counted() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    assert outcomes(limiter, "k", 1, 10, 50) == [0] + [10] * 49
    clock.now += 10
    assert outcomes(limiter, "k", 1, 10, 1) == [0]


def test_keys_are_independent() -> None:
    limiter = RateLimiter(clock=Clock())
    assert outcomes(limiter, "ip:1", 1, 60, 2) == [0, 60]
    assert outcomes(limiter, "ip:2", 1, 60, 2) == [0, 60]
    limiter.reset("ip:1")
    assert outcomes(limiter, "ip:1", 1, 60, 1) == [0]


def test_error_says_when_to_retry() -> None:
    limiter = RateLimiter(clock=Clock())
    limiter.check("k", 1, 30)
    with pytest.raises(RateLimitedError) as err:
        limiter.check("k", 1, 30)
    assert err.value.retry_after == 30
    assert err.value.code == "rate_limited"
    assert "30 s" in err.value.message


def test_memory_is_bounded() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, max_keys=100)
    for i in range(1000):
        limiter.check(f"ip:{i}", 5, 60)
    assert len(limiter) == 100
    # Refilled buckets are dropped as soon as anything else is touched.
    clock.now += 61
    limiter.check("fresh", 5, 60)
    assert len(limiter) == 1


@pytest.mark.parametrize(("limit", "per"), [(0, 60), (-1, 60), (1, 0), (1, -5)])
def test_nonsense_limits_are_programming_errors(limit: int, per: float) -> None:
    with pytest.raises(ValueError):
        RateLimiter().check("k", limit, per)
