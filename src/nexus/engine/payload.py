"""The size bound on node outputs (``limits.max_payload_bytes``), checked cheaply."""

from __future__ import annotations

import json
from typing import Any

from nexus.core.errors import LimitExceededError

_SCALARS = (type(None), bool, int, float)


def payload_size(value: Any) -> int:
    """Bytes of ``value`` as JSON (strings count their UTF-8 length without quoting)."""
    kind = type(value)
    if kind in _SCALARS:
        return 8
    if kind is str:
        return len(value.encode("utf-8")) if not value.isascii() else len(value)
    return len(json.dumps(value, default=str, ensure_ascii=False).encode("utf-8"))


def check_payload(outputs: dict[str, Any], limit: int, node_id: str) -> None:
    for port, value in outputs.items():
        if type(value) in _SCALARS:
            continue
        size = payload_size(value)
        if size > limit:
            raise LimitExceededError(
                f"Output {port!r} of node {node_id!r} is {size} bytes, over "
                f"limits.max_payload_bytes ({limit}); raise the limit or return less."
            )
