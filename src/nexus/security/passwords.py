"""Password hashing (argon2id) and the password policy.

Hashing is CPU- and memory-bound (~0.1 s, 64 MiB with the default parameters): async callers run
these functions in a thread (``asyncio.to_thread``), never on the event loop.
"""

from __future__ import annotations

from typing import NamedTuple

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

from nexus.core.errors import InvalidInputError

MIN_LENGTH = 10
MAX_LENGTH = 256  # bounds the hashing work an anonymous caller can ask for

# argon2id with the RFC 9106 "low memory" profile (t=3, m=64 MiB, p=4), argon2-cffi's defaults.
DEFAULT_HASHER = PasswordHasher(type=Type.ID)


class PasswordCheck(NamedTuple):
    ok: bool
    new_hash: str | None = None  # set when the stored hash used outdated parameters: store it


def check_password_policy(password: str) -> None:
    """Raise ``InvalidInputError`` (field ``password``) for a password we refuse to store."""
    if len(password) < MIN_LENGTH:
        raise InvalidInputError(
            f"the password is too short: use at least {MIN_LENGTH} characters", field="password"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInputError(
            f"the password is too long: use at most {MAX_LENGTH} characters", field="password"
        )
    if len(set(password)) == 1:
        raise InvalidInputError(
            "the password repeats one character: use a mix of characters", field="password"
        )


def hash_password(password: str, *, hasher: PasswordHasher = DEFAULT_HASHER) -> str:
    """An argon2id hash in PHC string format (salt and parameters included)."""
    return hasher.hash(password)


def verify_password(
    password: str, password_hash: str, *, hasher: PasswordHasher = DEFAULT_HASHER
) -> PasswordCheck:
    """Check ``password`` against ``password_hash`` (constant-time comparison inside argon2).

    A malformed stored hash is a mismatch, not an error. On success, ``new_hash`` carries a
    hash with ``hasher``'s current parameters when the stored one is outdated.
    """
    try:
        hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return PasswordCheck(ok=False)
    if hasher.check_needs_rehash(password_hash):
        return PasswordCheck(ok=True, new_hash=hasher.hash(password))
    return PasswordCheck(ok=True)
