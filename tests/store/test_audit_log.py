from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus.store.audit_log import REDACTED, AuditEntry, AuditLog, redact
from nexus.store.db import Database

T0 = datetime(2030, 1, 1, tzinfo=UTC)


async def test_record_and_list_newest_first(db: Database) -> None:
    times = iter(T0 + timedelta(seconds=i) for i in range(10))
    log = AuditLog(db, clock=lambda: next(times))
    await log.record("signup", actor_id="usr_1", object_type="user", object_id="usr_1")
    await log.record(
        "token_created",
        actor_id="usr_1",
        object_type="api_token",
        object_id="tok_1",
        workspace_id="wsp_1",
        ip="192.0.2.1",
        details={"name": "ci"},
    )
    await log.record("login_failed", actor_id=None, details={"email": "eve@example.com"})

    items, total = await log.list()
    assert total == 3
    assert [e.action for e in items] == ["login_failed", "token_created", "signup"]
    assert items[1] == AuditEntry(
        id=items[1].id,
        at=T0 + timedelta(seconds=1),
        actor_id="usr_1",
        action="token_created",
        object_type="api_token",
        object_id="tok_1",
        workspace_id="wsp_1",
        ip="192.0.2.1",
        details={"name": "ci"},
    )
    assert items[0].details == {"email": "eve@example.com"} and items[2].details == {}


async def test_filters_and_paging(db: Database) -> None:
    log = AuditLog(db)
    for i in range(5):
        await log.record("login_succeeded", actor_id=f"usr_{i % 2}")
    await log.record("logout", actor_id="usr_0")

    items, total = await log.list(0, 2, action="login_succeeded")
    assert (len(items), total) == (2, 5)
    items, total = await log.list(4, 10, action="login_succeeded")
    assert (len(items), total) == (1, 5)
    items, total = await log.list(actor_id="usr_0")
    assert total == 4 and {e.actor_id for e in items} == {"usr_0"}
    items, total = await log.list(action="logout", actor_id="usr_1")
    assert (items, total) == ([], 0)


async def test_record_joins_the_callers_transaction(db: Database) -> None:
    log = AuditLog(db)
    with pytest.raises(RuntimeError):
        async with db.sessions.begin() as session:
            await log.record("user_created", actor_id="usr_1", session=session)
            raise RuntimeError("the action failed")
    assert await log.list() == ([], 0)


async def test_secrets_never_reach_the_log(db: Database) -> None:
    log = AuditLog(db)
    token = "nx_" + "s" * 43
    await log.record(
        "login_failed",
        actor_id=None,
        details={
            "email": "ada@example.com",
            "password": "hunter2hunter2",
            "new_password": "x",
            "session_secret": "abc",
            "token": "anything",
            "pasted": token,
            "nested": {"csrf_token": "abc", "prefix": token[:12]},
        },
    )
    [entry], _ = await log.list()
    assert entry.details == {
        "email": "ada@example.com",
        "password": REDACTED,
        "new_password": REDACTED,
        "session_secret": REDACTED,
        "token": REDACTED,
        "pasted": REDACTED,
        "nested": {"csrf_token": REDACTED, "prefix": token[:12]},
    }


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        (None, {}),
        ({"email": "a@b.c", "role": "admin"}, {"email": "a@b.c", "role": "admin"}),
        ({"Password": "p"}, {"Password": REDACTED}),
        ({"api_key": "k", "key_id": "kid"}, {"api_key": REDACTED, "key_id": "kid"}),
        ({"failures": 5, "prefix": "nx_abcdefghi"}, {"failures": 5, "prefix": "nx_abcdefghi"}),
    ],
)
def test_redact(details: dict | None, expected: dict) -> None:
    assert redact(details) == expected


async def test_long_ip_is_cut(db: Database) -> None:
    log = AuditLog(db)
    await log.record("login_failed", actor_id=None, ip="x" * 100)
    [entry], _ = await log.list()
    assert entry.ip == "x" * 64
