from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from accounts_support import PASSWORD, Clock
from argon2 import PasswordHasher

from nexus.core.errors import (
    AccountLockedError,
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from nexus.security.accounts import Accounts, UserInfo
from nexus.security.principal import Principal, Role
from nexus.security.workspaces import require_instance_admin, require_workspace_admin
from nexus.store.db import Database
from nexus.store.tables import AgentRow, BrowserSessionRow, UserRow


async def actions(accounts: Accounts) -> list[str]:
    entries, _ = await accounts.audit.list(0, 1000)
    return [e.action for e in reversed(entries)]


# --- sign-up -----------------------------------------------------------------------------------


async def test_first_signup_becomes_admin_of_default_workspace(
    accounts: Accounts, db: Database, clock: Clock
) -> None:
    assert await accounts.user_count() == 0
    assert await accounts.signup_open() is True
    user = await accounts.signup("  Ada@Example.COM ", PASSWORD, ip="203.0.113.9")
    assert user == UserInfo(
        id=user.id,
        email="ada@example.com",
        is_admin=True,
        is_active=True,
        created_at=clock.now,
        locked_until=None,
    )
    [ws] = await accounts.list_workspaces(user.id)
    assert (ws.name, ws.role) == ("Default", Role.ADMIN)
    assert await accounts.principal_for(user.id) == Principal(
        user_id=user.id,
        email="ada@example.com",
        is_admin=True,
        workspace_id=ws.id,
        role=Role.ADMIN,
        memberships={ws.id: Role.ADMIN},
    )
    assert await accounts.signup_open() is False
    entries, total = await accounts.audit.list()
    assert total == 1
    assert (entries[0].action, entries[0].actor_id, entries[0].ip) == (
        "signup",
        user.id,
        "203.0.113.9",
    )
    assert entries[0].details == {
        "email": "ada@example.com",
        "first_admin": True,
        "adopted_agents": 0,
    }


async def test_first_admin_adopts_seeded_agents_and_keeps_their_visibility(
    accounts: Accounts, db: Database
) -> None:
    async with db.sessions.begin() as s:
        s.add(AgentRow(id="agt_1", name="helper", visibility="public", spec={"name": "helper"}))
        s.add(AgentRow(id="agt_2", name="writer", visibility="workspace", spec={"name": "writer"}))
    user = await accounts.signup("ada@example.com", PASSWORD)
    [ws] = await accounts.list_workspaces(user.id)
    async with db.sessions() as s:
        rows = (
            await s.execute(
                sa.select(
                    AgentRow.id, AgentRow.owner_id, AgentRow.workspace_id, AgentRow.visibility
                ).order_by(AgentRow.id)
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("agt_1", user.id, ws.id, "public"),
        ("agt_2", user.id, ws.id, "workspace"),
    ]


async def test_second_signup_refused_while_closed_then_allowed_when_opened(
    accounts: Accounts,
) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    with pytest.raises(PermissionDeniedError) as err:
        await accounts.signup("bob@example.com", PASSWORD)
    assert err.value.message == "sign-up is closed; ask an administrator for an invitation"
    assert await accounts.user_count() == 1

    await accounts.set_signup_open(True, actor_id=admin.id)
    assert await accounts.signup_open() is True
    bob = await accounts.signup("bob@example.com", PASSWORD)
    assert (bob.is_admin, bob.email) == (False, "bob@example.com")
    [admin_ws] = await accounts.list_workspaces(admin.id)
    [bob_ws] = await accounts.list_workspaces(bob.id)
    assert (bob_ws.id, bob_ws.role) == (admin_ws.id, Role.DEVELOPER)

    await accounts.set_signup_open(False, actor_id=admin.id)
    with pytest.raises(PermissionDeniedError):
        await accounts.signup("carol@example.com", PASSWORD)
    assert await actions(accounts) == ["signup", "signup_opened", "signup", "signup_closed"]


async def test_concurrent_first_signups_make_exactly_one_admin(
    accounts: Accounts, db: Database
) -> None:
    results = await asyncio.gather(
        *(accounts.signup(f"user{i}@example.com", PASSWORD) for i in range(5)),
        return_exceptions=True,
    )
    created = [r for r in results if isinstance(r, UserInfo)]
    refused = [r for r in results if isinstance(r, PermissionDeniedError)]
    assert (len(created), len(refused)) == (1, 4)
    assert created[0].is_admin
    async with db.sessions() as s:
        admins = await s.scalar(sa.select(sa.func.count()).where(UserRow.is_admin))
    assert (await accounts.user_count(), admins) == (1, 1)


async def test_concurrent_open_signups_keep_one_admin(accounts: Accounts) -> None:
    """Once the first admin exists, racing sign-ups join as developers."""
    admin = await accounts.signup("ada@example.com", PASSWORD)
    await accounts.set_signup_open(True, actor_id=admin.id)
    results = await asyncio.gather(
        *(accounts.signup(f"user{i}@example.com", PASSWORD) for i in range(3)),
        return_exceptions=True,
    )
    ok = [r for r in results if isinstance(r, UserInfo)]
    assert ok and all(not u.is_admin for u in ok)
    assert [u.is_admin for u in await accounts.list_users()].count(True) == 1


async def test_duplicate_email_is_a_conflict(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    await accounts.set_signup_open(True, actor_id=admin.id)
    with pytest.raises(ConflictError) as err:
        await accounts.signup(" ADA@example.com", PASSWORD)
    assert err.value.field == "email"
    with pytest.raises(ConflictError) as err:
        await accounts.create_user("ada@example.com", PASSWORD, "viewer")
    assert err.value.field == "email"


@pytest.mark.parametrize(
    ("email", "password", "field"),
    [
        ("not-an-email", PASSWORD, "email"),
        ("a@b", PASSWORD, "email"),
        ("a b@example.com", PASSWORD, "email"),
        ("x" * 310 + "@example.com", PASSWORD, "email"),
        ("ada@example.com", "short", "password"),
        ("ada@example.com", "a" * 20, "password"),
    ],
)
async def test_signup_validates_input(
    accounts: Accounts, email: str, password: str, field: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        await accounts.signup(email, password)
    assert err.value.field == field
    assert await accounts.user_count() == 0


# --- create_user (admin / CLI) -------------------------------------------------------------


async def test_create_user_on_fresh_instance_makes_the_admin(accounts: Accounts) -> None:
    user = await accounts.create_user("root@example.com", PASSWORD, "viewer", "Ops")
    assert user.is_admin
    [ws] = await accounts.list_workspaces(user.id)
    assert (ws.name, ws.role) == ("Ops", Role.ADMIN)
    assert await accounts.signup_open() is False


async def test_create_user_joins_named_or_first_workspace(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    [default] = await accounts.list_workspaces(admin.id)
    dev = await accounts.create_user("dev@example.com", PASSWORD, Role.DEVELOPER, actor_id=admin.id)
    ops = await accounts.create_user("ops@example.com", PASSWORD, "viewer", "Ops", is_admin=True)
    again = await accounts.create_user("two@example.com", PASSWORD, "admin", "Ops")
    assert [(w.id, w.role) for w in await accounts.list_workspaces(dev.id)] == [
        (default.id, Role.DEVELOPER)
    ]
    [ops_ws] = await accounts.list_workspaces(ops.id)
    assert (ops_ws.name, ops_ws.role, ops.is_admin) == ("Ops", Role.VIEWER, True)
    [again_ws] = await accounts.list_workspaces(again.id)
    assert (again_ws.id, again_ws.role) == (ops_ws.id, Role.ADMIN)
    with pytest.raises(InvalidInputError) as err:
        await accounts.create_user("x@example.com", PASSWORD, "owner")
    assert err.value.field == "role"
    entries, _ = await accounts.audit.list(action="user_created")
    assert [e.details["email"] for e in reversed(entries)] == [
        "dev@example.com",
        "ops@example.com",
        "two@example.com",
    ]
    assert entries[-1].actor_id == admin.id


# --- login, lock-out, sessions ----------------------------------------------------------------


async def test_login_opens_a_session(accounts: Accounts, db: Database) -> None:
    user = await accounts.signup("ada@example.com", PASSWORD)
    result = await accounts.login("ADA@example.com ", PASSWORD, ip="198.51.100.1")
    assert result.user.id == user.id
    secret, csrf = result.session_secret, result.csrf_token
    assert len(secret) >= 40 and len(csrf) >= 40 and secret != csrf
    principal = await accounts.authenticate_session(secret)
    assert principal is not None
    assert (principal.user_id, principal.role, principal.token_id) == (user.id, Role.ADMIN, None)
    assert principal.session_id_hash is not None
    assert await accounts.session_csrf(secret) == csrf
    assert await accounts.check_csrf(secret, csrf) is True
    assert await accounts.check_csrf(secret, csrf[:-1] + "x") is False
    assert await accounts.check_csrf(secret, None) is False
    async with db.sessions() as s:
        stored = list(await s.scalars(sa.select(BrowserSessionRow.id_hash)))
    assert stored == [principal.session_id_hash] and secret not in stored

    await accounts.logout(secret)
    assert await accounts.authenticate_session(secret) is None
    assert await accounts.session_csrf(secret) is None
    assert await actions(accounts) == ["signup", "login_succeeded", "logout"]


async def test_unknown_email_and_wrong_password_look_the_same(accounts: Accounts) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    with pytest.raises(AuthenticationError) as unknown:
        await accounts.login("nobody@example.com", PASSWORD)
    with pytest.raises(AuthenticationError) as wrong:
        await accounts.login("ada@example.com", "wrong password!")
    assert type(unknown.value) is type(wrong.value) is AuthenticationError
    assert (
        unknown.value.to_dict()
        == wrong.value.to_dict()
        == {
            "code": "unauthenticated",
            "message": "invalid email or password",
        }
    )


async def test_lockout_after_five_failures_until_it_expires(
    accounts: Accounts, clock: Clock
) -> None:
    user = await accounts.signup("ada@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError) as err:
            await accounts.login("ada@example.com", "wrong password!")
        assert type(err.value) is AuthenticationError
    with pytest.raises(AccountLockedError):
        await accounts.login("ada@example.com", "wrong password!")
    # The right password is refused while locked.
    clock.advance(minutes=14)
    with pytest.raises(AccountLockedError) as err:
        await accounts.login("ada@example.com", PASSWORD)
    assert "1 more minute" in err.value.message
    assert (await accounts.get_user(user.id)).locked_until == clock.now + timedelta(minutes=1)

    clock.advance(minutes=1)
    result = await accounts.login("ada@example.com", PASSWORD)
    assert result.user.locked_until is None
    assert await actions(accounts) == [
        "signup",
        *["login_failed"] * 5,
        "account_locked",
        "login_failed",
        "login_succeeded",
    ]


async def test_success_resets_the_failure_count(accounts: Accounts) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError):
            await accounts.login("ada@example.com", "wrong password!")
    await accounts.login("ada@example.com", PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationError) as err:
            await accounts.login("ada@example.com", "wrong password!")
        assert type(err.value) is AuthenticationError


async def test_failures_after_an_expired_lock_count_from_zero(
    accounts: Accounts, clock: Clock
) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    for _ in range(5):
        with pytest.raises(AuthenticationError):
            await accounts.login("ada@example.com", "wrong password!")
    clock.advance(minutes=16)
    with pytest.raises(AuthenticationError) as err:
        await accounts.login("ada@example.com", "wrong password!")
    assert type(err.value) is AuthenticationError  # one failure, not a new lock


async def test_unknown_emails_never_lock(accounts: Accounts) -> None:
    for _ in range(7):
        with pytest.raises(AuthenticationError) as err:
            await accounts.login("nobody@example.com", PASSWORD)
        assert type(err.value) is AuthenticationError


async def test_login_audit_never_holds_the_password(accounts: Accounts) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    with pytest.raises(AuthenticationError):
        await accounts.login("ada@example.com", "my-secret-guess")
    with pytest.raises(AuthenticationError):
        await accounts.login("eve@example.com", "another-secret-guess")
    result = await accounts.login("ada@example.com", PASSWORD)
    entries, _ = await accounts.audit.list(0, 100)
    text = repr(entries)
    for secret in (
        PASSWORD,
        "my-secret-guess",
        "another-secret-guess",
        result.session_secret,
        result.csrf_token,
    ):
        assert secret not in text
    failed = [e for e in entries if e.action == "login_failed"]
    assert sorted(e.details["email"] for e in failed) == ["ada@example.com", "eve@example.com"]


async def test_sessions_expire(accounts: Accounts, clock: Clock) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    result = await accounts.login("ada@example.com", PASSWORD)
    clock.advance(hours=11, minutes=59)
    assert await accounts.authenticate_session(result.session_secret) is not None
    clock.advance(minutes=1)
    assert await accounts.authenticate_session(result.session_secret) is None
    assert await accounts.session_csrf(result.session_secret) is None
    assert await accounts.authenticate_session("") is None
    assert await accounts.authenticate_session("made-up") is None


async def test_rehash_on_login_when_parameters_change(accounts: Accounts, db: Database) -> None:
    user = await accounts.signup("ada@example.com", PASSWORD)
    stronger = Accounts(db, hasher=PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    await stronger.login("ada@example.com", PASSWORD)
    async with db.sessions() as s:
        stored = await s.scalar(sa.select(UserRow.password_hash).where(UserRow.id == user.id))
    assert stored is not None and "m=16,t=2,p=1" in stored


# --- users ------------------------------------------------------------------------------------


async def test_disabling_ends_sessions_and_refuses_login(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    bob = await accounts.create_user("bob@example.com", PASSWORD, "developer")
    session = await accounts.login("bob@example.com", PASSWORD)
    disabled = await accounts.set_active(bob.id, False, actor_id=admin.id)
    assert disabled.is_active is False
    assert await accounts.authenticate_session(session.session_secret) is None
    with pytest.raises(AuthenticationError) as err:
        await accounts.login("bob@example.com", PASSWORD)
    assert "disabled" in err.value.message
    with pytest.raises(AuthenticationError) as err:
        await accounts.login("bob@example.com", "wrong password!")
    assert err.value.message == "invalid email or password"
    await accounts.set_active(bob.id, True, actor_id=admin.id)
    await accounts.login("bob@example.com", PASSWORD)


async def test_last_active_admin_cannot_be_disabled(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    with pytest.raises(ConflictError):
        await accounts.set_active(admin.id, False)
    assert (await accounts.get_user(admin.id)).is_active
    with pytest.raises(NotFoundError):
        await accounts.set_active("usr_nope", False)


async def test_list_and_get_users(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    bob = await accounts.create_user("bob@example.com", PASSWORD, "viewer")
    assert [u.email for u in await accounts.list_users()] == ["ada@example.com", "bob@example.com"]
    assert await accounts.get_user(bob.id) == bob
    assert await accounts.find_user(" BOB@example.com") == bob
    assert await accounts.find_user("nobody@example.com") is None
    with pytest.raises(NotFoundError):
        await accounts.get_user("usr_nope")
    assert admin.is_admin and not bob.is_admin


# --- workspaces and principals ------------------------------------------------------------------


async def test_workspaces_members_and_roles(accounts: Accounts, clock: Clock) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    bob = await accounts.create_user("bob@example.com", PASSWORD, "viewer")
    lab = await accounts.create_workspace("Lab", bob.id)
    assert (lab.name, lab.role) == ("Lab", Role.ADMIN)
    with pytest.raises(ConflictError) as err:
        await accounts.create_workspace(" Lab ", admin.id)
    assert err.value.field == "name"

    clock.advance(seconds=1)
    added = await accounts.add_member(lab.id, "ADA@example.com", "viewer", actor_id=bob.id)
    assert (added.user_id, added.role) == (admin.id, Role.VIEWER)
    with pytest.raises(ConflictError):
        await accounts.add_member(lab.id, "ada@example.com", "developer")
    with pytest.raises(NotFoundError) as nf:
        await accounts.add_member(lab.id, "nobody@example.com", "developer")
    assert nf.value.field == "email"

    assert [(m.email, m.role) for m in await accounts.members(lab.id)] == [
        ("bob@example.com", Role.ADMIN),
        ("ada@example.com", Role.VIEWER),
    ]
    changed = await accounts.set_member_role(lab.id, admin.id, "developer", actor_id=bob.id)
    assert changed.role is Role.DEVELOPER
    # Bob is Lab's only admin: he can be neither demoted nor removed.
    with pytest.raises(ConflictError):
        await accounts.set_member_role(lab.id, bob.id, "viewer")
    with pytest.raises(ConflictError):
        await accounts.remove_member(lab.id, bob.id)
    await accounts.set_member_role(lab.id, admin.id, "admin", actor_id=bob.id)
    await accounts.remove_member(lab.id, bob.id, actor_id=admin.id)
    assert [m.email for m in await accounts.members(lab.id)] == ["ada@example.com"]
    with pytest.raises(NotFoundError):
        await accounts.remove_member(lab.id, bob.id)
    with pytest.raises(NotFoundError):
        await accounts.members("wsp_nope")

    entries, _ = await accounts.audit.list(0, 100)
    assert [(e.action, e.details) for e in reversed(entries) if e.workspace_id == lab.id] == [
        ("workspace_created", {"name": "Lab"}),
        ("member_added", {"email": "ada@example.com", "role": "viewer"}),
        ("role_changed", {"from": "viewer", "to": "developer"}),
        ("role_changed", {"from": "developer", "to": "admin"}),
        ("member_removed", {}),
    ]


async def test_principal_for_a_workspace(accounts: Accounts) -> None:
    admin = await accounts.signup("ada@example.com", PASSWORD)
    bob = await accounts.create_user("bob@example.com", PASSWORD, "viewer")
    lab = await accounts.create_workspace("Lab", bob.id)
    [default] = await accounts.list_workspaces(admin.id)

    first = await accounts.principal_for(bob.id)
    assert (first.workspace_id, first.role) == (default.id, Role.VIEWER)
    in_lab = await accounts.principal_for(bob.id, lab.id)
    assert (in_lab.workspace_id, in_lab.role) == (lab.id, Role.ADMIN)
    assert in_lab.memberships == {default.id: Role.VIEWER, lab.id: Role.ADMIN}
    # An instance admin gets no implicit role in a workspace they are not in; a made-up id and
    # a real one answer alike.
    for workspace_id in (lab.id, "wsp_nope"):
        with pytest.raises(NotFoundError) as err:
            await accounts.principal_for(admin.id, workspace_id)
        assert err.value.message == "workspace not found"

    require_instance_admin(await accounts.principal_for(admin.id))
    with pytest.raises(PermissionDeniedError):
        require_instance_admin(first)
    require_workspace_admin(in_lab, lab.id)
    with pytest.raises(PermissionDeniedError):
        require_workspace_admin(first, default.id)
    with pytest.raises(NotFoundError):
        require_workspace_admin(await accounts.principal_for(admin.id), lab.id)


async def test_session_principal_in_another_workspace(accounts: Accounts) -> None:
    await accounts.signup("ada@example.com", PASSWORD)
    bob = await accounts.create_user("bob@example.com", PASSWORD, "viewer")
    lab = await accounts.create_workspace("Lab", bob.id)
    login = await accounts.login("bob@example.com", PASSWORD)
    p = await accounts.authenticate_session(login.session_secret, workspace_id=lab.id)
    assert p is not None and (p.workspace_id, p.role) == (lab.id, Role.ADMIN)
    with pytest.raises(NotFoundError):
        await accounts.authenticate_session(login.session_secret, workspace_id="wsp_nope")
