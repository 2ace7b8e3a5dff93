"""How a secret is shown once stored: enough to recognise it, never enough to use it."""

from __future__ import annotations

ELLIPSIS = "…"

# Showing 4 + 4 characters leaves at least half of the secret hidden only from 16 up; real
# provider keys are 30-200 characters, so the short branches are for odd cases.
_FULL_MASK_FROM = 16
_TAIL_ONLY_FROM = 8


def mask(secret: str) -> str:
    """``sk-p…wxyz`` for secrets of 16+ characters, ``…yz`` from 8, and ``…`` below that."""
    if len(secret) >= _FULL_MASK_FROM:
        return f"{secret[:4]}{ELLIPSIS}{secret[-4:]}"
    if len(secret) >= _TAIL_ONLY_FROM:
        return f"{ELLIPSIS}{secret[-2:]}"
    return ELLIPSIS
