"""In-process rate limits: ``limit`` requests per ``per_seconds`` for each key.

The algorithm is GCRA (a token bucket kept as one timestamp per key): a burst of up to ``limit``
requests passes, after which requests pass at the steady rate ``limit / per_seconds``. Memory is
bounded: keys whose bucket has refilled carry no information and are dropped first, and beyond
``max_keys`` the least recently used key is dropped (which only ever forgives, never blocks).

Limits are per process; with several API processes each enforces its own share.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from nexus.core.errors import RateLimitedError


class RateLimiter:
    def __init__(
        self, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._clock = clock
        self._max_keys = max_keys
        # key -> theoretical arrival time: the bucket is full again from then on
        self._tat: OrderedDict[str, float] = OrderedDict()

    def check(self, key: str, limit: int, per_seconds: float) -> None:
        """Count one request for ``key``; raise ``RateLimitedError`` if it is over the limit.

        A refused request is not counted. Use one key namespace per limit
        (``"login-ip:203.0.113.9"``, ``"run-token:tok_…"``): a key carries one bucket.
        """
        if limit < 1 or per_seconds <= 0:
            raise ValueError("limit must be at least 1 and per_seconds positive")
        now = self._clock()
        interval = per_seconds / limit
        tat = max(self._tat.get(key, now), now)
        new_tat = tat + interval
        wait = new_tat - per_seconds - now
        if wait > 1e-9:
            raise RateLimitedError(
                f"too many requests; retry in {math.ceil(wait)} s",
                retry_after=max(1, math.ceil(wait)),
            )
        self._tat[key] = new_tat
        self._tat.move_to_end(key)
        self._evict(now)

    def reset(self, key: str) -> None:
        self._tat.pop(key, None)

    def __len__(self) -> int:
        return len(self._tat)

    def _evict(self, now: float) -> None:
        # Oldest-touched first: drop refilled buckets, then whatever exceeds the cap.
        while self._tat:
            key, tat = next(iter(self._tat.items()))
            if tat <= now or len(self._tat) > self._max_keys:
                del self._tat[key]
            else:
                break
