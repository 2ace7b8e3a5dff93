from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from accounts_support import PASSWORD, Clock

from nexus.core.errors import InvalidInputError, NotFoundError
from nexus.security.accounts import Accounts, UserInfo
from nexus.security.api_tokens import TokenInfo
from nexus.security.principal import Role
from nexus.security.tokens import (
    constant_time_equals,
    hash_token,
    new_api_token,
    new_csrf_token,
    new_session_secret,
)
from nexus.store.db import Database
from nexus.store.tables import ApiTokenRow, AuditRow


@pytest.fixture
async def ada(accounts: Accounts) -> UserInfo:
    return await accounts.signup("ada@example.com", PASSWORD)


# --- the secrets themselves ----------------------------------------------------------------------


def test_new_api_token_shape() -> None:
    token = new_api_token()
    assert re.fullmatch(r"nx_[A-Za-z0-9_-]{43}", token.plaintext)  # 32 random bytes
    assert token.prefix == token.plaintext[:12]
    assert token.token_hash == hash_token(token.plaintext)
    assert re.fullmatch(r"[0-9a-f]{64}", token.token_hash)
    assert len({new_api_token().plaintext for _ in range(100)}) == 100


def test_session_and_csrf_secrets() -> None:
    secrets_ = {new_session_secret() for _ in range(50)} | {new_csrf_token() for _ in range(50)}
    assert len(secrets_) == 100
    assert all(len(s) >= 43 for s in secrets_)


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [("abc", "abc", True), ("abc", "abd", False), ("abc", "abcd", False), ("", "", True)],
)
def test_constant_time_equals(a: str, b: str, equal: bool) -> None:
    assert constant_time_equals(a, b) is equal


# --- the service ---------------------------------------------------------------------------------


async def test_token_is_shown_once_and_stored_hashed(
    accounts: Accounts, db: Database, ada: UserInfo, clock: Clock
) -> None:
    info, plaintext = await accounts.create_token(ada.id, " ci ", ip="192.0.2.1")
    assert info == TokenInfo(
        id=info.id,
        name="ci",
        prefix=plaintext[:12],
        created_at=clock.now,
        expires_at=None,
        last_used_at=None,
        revoked=False,
    )
    assert await accounts.list_tokens(ada.id) == [info]
    async with db.sessions() as s:
        rows = (await s.execute(sa.select(ApiTokenRow))).scalars().all()
        audit = (await s.execute(sa.select(AuditRow))).scalars().all()
    assert [r.token_hash for r in rows] == [hash_token(plaintext)]
    stored = repr([vars(r) for r in rows]) + repr([vars(a) for a in audit])
    assert plaintext not in stored and plaintext[12:] not in stored
    entry = next(a for a in audit if a.action == "token_created")
    assert (entry.actor_id, entry.object_id, entry.ip) == (ada.id, info.id, "192.0.2.1")
    assert entry.details == {"name": "ci", "prefix": info.prefix, "user_id": ada.id}


async def test_authenticate_token(accounts: Accounts, ada: UserInfo) -> None:
    info, plaintext = await accounts.create_token(ada.id, "ci")
    principal = await accounts.authenticate_token(plaintext)
    assert principal is not None
    assert (principal.user_id, principal.role, principal.token_id, principal.is_admin) == (
        ada.id,
        Role.ADMIN,
        info.id,
        True,
    )
    for wrong in (
        "",
        "nx_",
        "nx_" + "A" * 43,
        plaintext + "x",
        plaintext[:-1],
        "Bearer " + plaintext,
    ):
        assert await accounts.authenticate_token(wrong) is None


async def test_revocation_takes_effect_at_once(accounts: Accounts, ada: UserInfo) -> None:
    info, plaintext = await accounts.create_token(ada.id, "ci")
    assert await accounts.authenticate_token(plaintext) is not None
    revoked = await accounts.revoke_token(ada.id, info.id)
    assert revoked.revoked is True
    assert await accounts.authenticate_token(plaintext) is None
    assert [t.revoked for t in await accounts.list_tokens(ada.id)] == [True]
    await accounts.revoke_token(ada.id, info.id)  # idempotent
    entries, _ = await accounts.audit.list(action="token_revoked")
    assert len(entries) == 2 and entries[0].object_id == info.id


async def test_someone_elses_token_is_not_found(accounts: Accounts, ada: UserInfo) -> None:
    bob = await accounts.create_user("bob@example.com", PASSWORD, "developer")
    info, plaintext = await accounts.create_token(ada.id, "ci")
    with pytest.raises(NotFoundError):
        await accounts.revoke_token(bob.id, info.id)
    with pytest.raises(NotFoundError):
        await accounts.revoke_token(ada.id, "tok_nope")
    assert await accounts.list_tokens(bob.id) == []
    assert await accounts.authenticate_token(plaintext) is not None


async def test_expired_token_is_refused(accounts: Accounts, ada: UserInfo, clock: Clock) -> None:
    expires = clock.now + timedelta(hours=1)
    info, plaintext = await accounts.create_token(ada.id, "short", expires_at=expires)
    assert info.expires_at == expires
    clock.advance(minutes=59)
    assert await accounts.authenticate_token(plaintext) is not None
    clock.advance(minutes=1)
    assert await accounts.authenticate_token(plaintext) is None


@pytest.mark.parametrize(
    ("expires_at", "name", "field"),
    [
        (datetime(2029, 1, 1, tzinfo=UTC), "ci", "expires_at"),
        (datetime(2031, 1, 1), "ci", "expires_at"),  # naive
        (None, "  ", "name"),
        (None, "x" * 101, "name"),
    ],
)
async def test_create_token_validates(
    accounts: Accounts, ada: UserInfo, expires_at: datetime | None, name: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        await accounts.create_token(ada.id, name, expires_at=expires_at)
    assert err.value.field == field


async def test_last_used_is_written_at_most_once_a_minute(
    accounts: Accounts, ada: UserInfo, clock: Clock
) -> None:
    _, plaintext = await accounts.create_token(ada.id, "ci")
    first_use = clock.now
    await accounts.authenticate_token(plaintext)
    clock.advance(seconds=59)
    await accounts.authenticate_token(plaintext)
    [info] = await accounts.list_tokens(ada.id)
    assert info.last_used_at == first_use
    clock.advance(seconds=1)
    await accounts.authenticate_token(plaintext)
    [info] = await accounts.list_tokens(ada.id)
    assert info.last_used_at == clock.now


async def test_disabled_users_tokens_stop_working(accounts: Accounts, ada: UserInfo) -> None:
    bob = await accounts.create_user("bob@example.com", PASSWORD, "developer")
    _, plaintext = await accounts.create_token(bob.id, "ci")
    await accounts.set_active(bob.id, False, actor_id=ada.id)
    assert await accounts.authenticate_token(plaintext) is None
    with pytest.raises(NotFoundError):
        await accounts.create_token(bob.id, "another")
