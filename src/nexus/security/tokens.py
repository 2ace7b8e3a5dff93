"""Secrets handed to clients: API tokens, browser-session secrets, CSRF tokens.

Everything comes from ``secrets``. Only SHA-256 digests of API tokens and session secrets are
stored: they are 256-bit random values, so a fast hash is enough (no salt or stretching needed).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import NamedTuple

API_TOKEN_PREFIX = "nx_"
PREFIX_LENGTH = 12  # "nx_" + 9 random characters: enough to tell tokens apart in a list
_RANDOM_BYTES = 32


class NewApiToken(NamedTuple):
    plaintext: str  # shown to the user once, never stored
    prefix: str  # stored and listed
    token_hash: str  # stored: sha256 hex of the plaintext


def hash_token(plaintext: str) -> str:
    """The SHA-256 hex digest under which a token or session secret is stored."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def new_api_token() -> NewApiToken:
    plaintext = API_TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)
    return NewApiToken(plaintext, plaintext[:PREFIX_LENGTH], hash_token(plaintext))


def looks_like_api_token(value: str) -> bool:
    return value.startswith(API_TOKEN_PREFIX) and len(value) > PREFIX_LENGTH


def new_session_secret() -> str:
    return secrets.token_urlsafe(_RANDOM_BYTES)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(_RANDOM_BYTES)


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
