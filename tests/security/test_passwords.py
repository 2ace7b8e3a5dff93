from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from nexus.core.errors import InvalidInputError
from nexus.security.passwords import (
    DEFAULT_HASHER,
    PasswordCheck,
    check_password_policy,
    hash_password,
    verify_password,
)

FAST = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("", "too short"),
        ("short", "too short"),
        ("123456789", "too short"),
        ("a" * 257, "too long"),
        ("aaaaaaaaaaaa", "repeats one character"),
        ("            ", "repeats one character"),
    ],
)
def test_policy_refuses(password: str, problem: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        check_password_policy(password)
    assert err.value.field == "password"
    assert problem in err.value.message


@pytest.mark.parametrize(
    "password", ["1234567890", "correct horse battery", "ab" * 5, "é" * 9 + "x", "x" * 255 + "y"]
)
def test_policy_accepts(password: str) -> None:
    check_password_policy(password)


def test_default_hasher_is_argon2id() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password("correct horse battery", stored) == PasswordCheck(ok=True)
    assert verify_password("correct horse batterY", stored) == PasswordCheck(ok=False)


def test_hashes_are_salted() -> None:
    assert hash_password("same password", hasher=FAST) != hash_password(
        "same password", hasher=FAST
    )


@pytest.mark.parametrize("stored", ["", "not-a-hash", "$argon2id$v=19$m=8,t=1,p=1$broken"])
def test_malformed_hash_is_a_mismatch(stored: str) -> None:
    assert verify_password("whatever-password", stored, hasher=FAST) == PasswordCheck(ok=False)


def test_outdated_parameters_give_a_new_hash() -> None:
    old = hash_password("correct horse battery", hasher=FAST)
    check = verify_password("correct horse battery", old, hasher=DEFAULT_HASHER)
    assert check.ok
    assert check.new_hash is not None and check.new_hash != old
    assert not DEFAULT_HASHER.check_needs_rehash(check.new_hash)
    assert verify_password("correct horse battery", check.new_hash) == PasswordCheck(ok=True)
