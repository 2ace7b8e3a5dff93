"""Credential and data-key queries (ciphertext only; encryption is tested with the vault)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nexus.store import credential_repository as repo
from nexus.store.db import Database
from nexus.store.tables import CredentialRow, DataKeyRow

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def cred(id: str, scope: str, *, owner: str | None, ws: str | None, minutes: int = 0,
         provider: str = "openai") -> CredentialRow:  # fmt: skip
    return CredentialRow(
        id=id, scope=scope, owner_id=owner, workspace_id=ws, provider=provider, name=id,
        data_key_id="dk_1", ciphertext=b"\x00" * 40, masked="…", verified=False,
        created_at=T0 + timedelta(minutes=minutes),
    )  # fmt: skip


@pytest.fixture
async def filled(db: Database) -> Database:
    async with db.sessions.begin() as session:
        session.add_all(
            [
                DataKeyRow(id="dk_1", workspace_id="wsp_1", master_key_id="m", wrapped_key=b"k",
                           created_at=T0),
                DataKeyRow(id="dk_i2", workspace_id=None, master_key_id="m", wrapped_key=b"k",
                           created_at=T0 + timedelta(seconds=1)),
                DataKeyRow(id="dk_i1", workspace_id=None, master_key_id="m", wrapped_key=b"k",
                           created_at=T0),
            ]
        )  # fmt: skip
        await session.flush()
        session.add_all(
            [
                cred("u1", "user", owner="usr_1", ws="wsp_1", minutes=1),
                cred("u1b", "user", owner="usr_1", ws="wsp_2", minutes=2),
                cred("u2", "user", owner="usr_2", ws="wsp_1", minutes=3),
                cred("w1", "workspace", owner=None, ws="wsp_1", minutes=4),
                cred("w2", "workspace", owner=None, ws="wsp_2", minutes=5),
                cred("i1", "instance", owner=None, ws=None, minutes=6),
                cred("a1", "instance", owner=None, ws=None, minutes=7, provider="anthropic"),
            ]
        )
    return db


async def test_data_key_for_workspace_and_instance(filled: Database) -> None:
    async with filled.sessions() as session:
        assert (await repo.data_key_for(session, "wsp_1")).id == "dk_1"  # type: ignore[union-attr]
        # Two instance keys (NULL is never unique): the oldest, every time.
        assert (await repo.data_key_for(session, None)).id == "dk_i1"  # type: ignore[union-attr]
        assert await repo.data_key_for(session, "wsp_9") is None
        assert (await repo.data_key(session, "dk_i2")).workspace_id is None  # type: ignore[union-attr]
        assert [row.id for row in await repo.all_data_keys(session)] == ["dk_1", "dk_i1", "dk_i2"]


async def test_candidates_are_the_levels_a_run_may_use(filled: Database) -> None:
    async with filled.sessions() as session:
        found = await repo.candidates(session, "openai", user_id="usr_1", workspace_id="wsp_1")
        assert [row.id for row in found] == ["i1", "w1", "u1"]
        found = await repo.candidates(session, "openai", user_id=None, workspace_id="wsp_2")
        assert [row.id for row in found] == ["i1", "w2"]
        found = await repo.candidates(session, "openai", user_id="usr_1", workspace_id=None)
        assert [row.id for row in found] == ["i1"]
        found = await repo.candidates(session, "anthropic", user_id="usr_1", workspace_id="wsp_1")
        assert [row.id for row in found] == ["a1"]


async def test_credentials_filters_newest_first(filled: Database) -> None:
    async with filled.sessions() as session:
        ids = [row.id for row in await repo.credentials(session)]
        assert ids == ["a1", "i1", "w2", "w1", "u2", "u1b", "u1"]
        ids = [row.id for row in await repo.credentials(session, owner_id="usr_1")]
        assert ids == ["u1b", "u1"]
        ids = [r.id for r in await repo.credentials(session, workspace_id="wsp_1", scope="user")]
        assert ids == ["u2", "u1"]
        ids = [r.id for r in await repo.credentials(session, scope="instance", provider="openai")]
        assert ids == ["i1"]
        assert (await repo.credential(session, "w1")).scope == "workspace"  # type: ignore[union-attr]
        assert await repo.credential(session, "nope") is None


async def test_delete_credential(filled: Database) -> None:
    async with filled.sessions.begin() as session:
        assert await repo.delete_credential(session, "u1") is True
        assert await repo.delete_credential(session, "u1") is False
    async with filled.sessions() as session:
        assert await repo.credential(session, "u1") is None
