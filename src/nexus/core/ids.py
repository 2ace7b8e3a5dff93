"""Identifiers: short, sortable by creation time, with a readable prefix (``agt_…``, ``run_…``)."""

from __future__ import annotations

import os
import time


def new_id(prefix: str) -> str:
    """A 26-character id: 48-bit millisecond timestamp + 80 random bits, hex, after ``prefix_``."""
    millis = int(time.time() * 1000) & ((1 << 48) - 1)
    return f"{prefix}_{millis:012x}{os.urandom(10).hex()[:14]}"
