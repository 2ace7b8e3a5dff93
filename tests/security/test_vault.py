"""The credential vault: encryption at rest, AAD binding, resolution order, master rotation."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import pytest
import sqlalchemy as sa

from nexus.core.errors import (
    InvalidInputError,
    NotFoundError,
    ProviderNotConfiguredError,
    VaultError,
)
from nexus.security.keyring import Keyring, MasterKey
from nexus.security.masking import mask
from nexus.security.vault import (
    CredentialInfo,
    CredentialScope,
    RotationResult,
    Vault,
    missing_key_message,
)
from nexus.settings import Settings
from nexus.store.db import Database
from nexus.store.tables import CredentialRow, DataKeyRow

SECRET = "sk-proj-" + "A1b2C3d4E5f6G7h8I9j0" * 2


@pytest.fixture
def keyring(migrated: Settings) -> Keyring:
    return Keyring.load(migrated.home, {})


@pytest.fixture
def vault(db: Database, keyring: Keyring) -> Vault:
    return Vault(db, keyring)


async def put_user_key(vault: Vault, secret: str = SECRET, **overrides: object) -> CredentialInfo:
    fields: dict[str, object] = {
        "provider": "openai",
        "name": "mine",
        "secret": secret,
        "owner_id": "usr_1",
        "workspace_id": "wsp_1",
        "created_by": "usr_1",
        "verified": True,
    }
    fields.update(overrides)
    return await vault.put("user", **fields)  # type: ignore[arg-type]


async def rows(db: Database, table: type) -> list:
    async with db.sessions() as session:
        return list((await session.scalars(sa.select(table))).all())


# --- masking -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("secret", "shown"),
    [
        ("sk-proj-abcdefghijklmnopqrstuvwxyz", "sk-p…wxyz"),
        ("0123456789abcdef", "0123…cdef"),
        ("0123456789abcde", "…de"),
        ("01234567", "…67"),
        ("0123456", "…"),
        ("x", "…"),
        ("", "…"),
    ],
)
def test_mask_shows_first_and_last_four_only_when_most_stays_hidden(
    secret: str, shown: str
) -> None:
    assert mask(secret) == shown


# --- storing ---------------------------------------------------------------------------------


async def test_put_returns_masked_info_and_resolve_gives_the_plaintext(vault: Vault) -> None:
    info = await put_user_key(vault, secret=f"  {SECRET}\n")
    assert info == CredentialInfo(
        id=info.id,
        scope=CredentialScope.USER,
        provider="openai",
        name="mine",
        masked=mask(SECRET),
        verified=True,
        owner_id="usr_1",
        workspace_id="wsp_1",
        created_at=info.created_at,
        created_by="usr_1",
    )
    assert info.masked == "sk-p…I9j0"
    assert SECRET not in repr(info)
    assert await vault.get_info(info.id) == info
    assert await vault.list(owner_id="usr_1") == [info]
    assert await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1") == SECRET


async def test_database_holds_no_plaintext_in_any_encoding(vault: Vault, db: Database) -> None:
    await put_user_key(vault, name="label-next-to-the-secret")
    variants = [
        SECRET.encode(),
        SECRET.encode().hex().encode(),
        base64.b64encode(SECRET.encode()),
        base64.urlsafe_b64encode(SECRET.encode()),
        SECRET[4:-4].encode(),  # the masked-away middle
    ]
    path = Path(str(db.engine.url.database))
    file_bytes = b"".join(p.read_bytes() for p in path.parent.glob(f"{path.name}*"))  # + WAL
    assert b"label-next-to-the-secret" in file_bytes  # the scan does see what was written
    for row in await rows(db, CredentialRow):
        assert len(row.ciphertext) == 12 + len(SECRET) + 16
        for variant in variants:
            assert variant not in row.ciphertext
    for variant in variants:
        assert variant not in file_bytes
    [data_key] = await rows(db, DataKeyRow)
    assert data_key.workspace_id == "wsp_1"
    assert len(data_key.wrapped_key) == 12 + 32 + 16


async def test_same_secret_twice_gives_different_ciphertexts(vault: Vault, db: Database) -> None:
    await put_user_key(vault)
    await put_user_key(vault, name="again")
    first, second = await rows(db, CredentialRow)
    assert first.ciphertext != second.ciphertext
    assert first.ciphertext[:12] != second.ciphertext[:12]
    assert first.data_key_id == second.data_key_id  # one data key per workspace


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"provider": ""}, "provider"),
        ({"provider": "x" * 101}, "provider"),
        ({"provider": "open ai"}, "provider"),
        ({"name": "  "}, "name"),
        ({"name": "n" * 101}, "name"),
        ({"name": "a\nb"}, "name"),
        ({"secret": " \n"}, "secret"),
        ({"secret": "s" * 10_001}, "secret"),
        ({"owner_id": None}, "scope"),
        ({"workspace_id": None}, "scope"),
    ],
)
async def test_bad_input_is_refused_naming_the_field(
    vault: Vault, db: Database, overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await put_user_key(vault, **overrides)
    assert caught.value.field == field
    assert await rows(db, CredentialRow) == []


async def test_scope_needs_matching_owner_and_workspace(vault: Vault) -> None:
    with pytest.raises(InvalidInputError, match="an instance key neither"):
        await vault.put("instance", provider="openai", name="n", secret=SECRET, workspace_id="w")
    with pytest.raises(InvalidInputError, match="only workspace_id"):
        await vault.put(
            "workspace", provider="openai", name="n", secret=SECRET, owner_id="u", workspace_id="w"
        )
    with pytest.raises(InvalidInputError, match="scope must be"):
        await vault.put("global", provider="openai", name="n", secret=SECRET)


async def test_error_messages_never_hold_the_secret(vault: Vault) -> None:
    long_secret = "sk-" + "z" * 10_001
    with pytest.raises(InvalidInputError) as caught:
        await put_user_key(vault, secret=long_secret)
    assert "zzzz" not in str(caught.value)


async def test_list_filters_and_delete(vault: Vault) -> None:
    mine = await put_user_key(vault)
    shared = await vault.put(
        CredentialScope.WORKSPACE, provider="anthropic", name="team", secret=SECRET,
        workspace_id="wsp_1",
    )  # fmt: skip
    default = await vault.put("instance", provider="openai", name="default", secret=SECRET)
    assert await vault.list() == [default, shared, mine]
    assert await vault.list(workspace_id="wsp_1") == [shared, mine]
    assert await vault.list(scope="instance") == [default]
    assert await vault.list(provider="anthropic") == [shared]
    await vault.delete(mine.id)
    assert await vault.list(workspace_id="wsp_1") == [shared]
    with pytest.raises(NotFoundError):
        await vault.delete(mine.id)
    with pytest.raises(NotFoundError):
        await vault.get_info(mine.id)


# --- tampering -------------------------------------------------------------------------------


async def test_tampered_ciphertext_is_a_vault_error(vault: Vault, db: Database) -> None:
    info = await put_user_key(vault)
    async with db.sessions.begin() as session:
        row = await session.get(CredentialRow, info.id)
        assert row is not None
        flipped = bytearray(row.ciphertext)
        flipped[-1] ^= 1
        row.ciphertext = bytes(flipped)
    with pytest.raises(VaultError) as caught:
        await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1")
    assert SECRET not in str(caught.value) and SECRET[:8] not in str(caught.value)


async def test_truncated_ciphertext_is_a_vault_error(vault: Vault, db: Database) -> None:
    info = await put_user_key(vault)
    async with db.sessions.begin() as session:
        await session.execute(
            sa.update(CredentialRow).where(CredentialRow.id == info.id).values(ciphertext=b"x")
        )
    with pytest.raises(VaultError):
        await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1")


async def test_ciphertexts_swapped_between_credentials_do_not_decrypt(
    vault: Vault, db: Database
) -> None:
    a = await put_user_key(vault, secret="sk-aaaaaaaaaaaaaaaaaaaaaaaaa", provider="openai")
    b = await put_user_key(vault, secret="sk-bbbbbbbbbbbbbbbbbbbbbbbbb", provider="groq")
    async with db.sessions.begin() as session:
        row_a = await session.get(CredentialRow, a.id)
        row_b = await session.get(CredentialRow, b.id)
        assert row_a is not None and row_b is not None
        row_a.ciphertext, row_b.ciphertext = row_b.ciphertext, row_a.ciphertext
    for provider in ("openai", "groq"):
        with pytest.raises(VaultError, match="does not decrypt"):
            await vault.resolve(provider, user_id="usr_1", workspace_id="wsp_1")


async def test_credential_moved_to_another_owner_does_not_decrypt(
    vault: Vault, db: Database
) -> None:
    info = await put_user_key(vault)
    async with db.sessions.begin() as session:
        await session.execute(
            sa.update(CredentialRow).where(CredentialRow.id == info.id).values(owner_id="usr_2")
        )
    with pytest.raises(VaultError):
        await vault.resolve("openai", user_id="usr_2", workspace_id="wsp_1")


async def test_data_keys_swapped_between_workspaces_do_not_unwrap(
    vault: Vault, db: Database
) -> None:
    await put_user_key(vault, workspace_id="wsp_1")
    await put_user_key(vault, workspace_id="wsp_2")
    async with db.sessions.begin() as session:
        one, two = (await session.scalars(sa.select(DataKeyRow).order_by(DataKeyRow.id))).all()
        one.wrapped_key, two.wrapped_key = two.wrapped_key, one.wrapped_key
    with pytest.raises(VaultError, match="does not decrypt with master key"):
        await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1")


async def test_wrong_master_key_is_a_vault_error_never_plaintext(
    vault: Vault, db: Database
) -> None:
    await put_user_key(vault)
    stranger = Vault(db, Keyring(current=MasterKey.generate()))
    with pytest.raises(VaultError, match="which this process does not have"):
        await stranger.resolve("openai", user_id="usr_1", workspace_id="wsp_1")
    # Same id, different bytes (a corrupted or substituted key store): still refused.
    [row] = await rows(db, DataKeyRow)
    impostor = Vault(db, Keyring(current=MasterKey(id=row.master_key_id, key=b"\x01" * 32)))
    with pytest.raises(VaultError, match="does not decrypt"):
        await impostor.resolve("openai", user_id="usr_1", workspace_id="wsp_1")


# --- resolution --------------------------------------------------------------------------------


async def test_resolution_prefers_user_then_workspace_then_instance(vault: Vault) -> None:
    async def resolve(user_id: str | None = "usr_1", workspace_id: str | None = "wsp_1"):
        return await vault.resolve("openai", user_id=user_id, workspace_id=workspace_id)

    assert await resolve() is None
    await vault.put("instance", provider="openai", name="default", secret="instance-key-0001")
    assert await resolve() == "instance-key-0001"
    await vault.put("workspace", provider="openai", name="team", secret="workspace-key-01",
                    workspace_id="wsp_1")  # fmt: skip
    assert await resolve() == "workspace-key-01"
    assert await resolve(workspace_id="wsp_2") == "instance-key-0001"
    await put_user_key(vault, secret="user-key-1-00001")
    assert await resolve() == "user-key-1-00001"
    await put_user_key(vault, secret="user-key-1-newer")
    assert await resolve() == "user-key-1-newer"  # newest at a level wins
    assert await resolve(user_id="usr_2") == "workspace-key-01"  # not another user's key
    assert await resolve(workspace_id="wsp_2") == "instance-key-0001"  # user key is per workspace
    assert await resolve(user_id=None, workspace_id=None) == "instance-key-0001"
    assert await vault.resolve("anthropic", user_id="usr_1", workspace_id="wsp_1") is None


async def test_require_names_where_to_add_a_key(vault: Vault) -> None:
    with pytest.raises(ProviderNotConfiguredError) as caught:
        await vault.require("compat:my-vllm", user_id="usr_1", workspace_id="wsp_1")
    message = caught.value.message
    assert (
        message
        == missing_key_message("compat:my-vllm")
        == vault.missing_key_message("compat:my-vllm")
    )
    assert "POST /api/v1/users/api-keys" in message
    assert "Settings → Provider keys" in message
    assert "NEXUS_COMPAT_MY_VLLM_API_KEY" in message
    await vault.put("instance", provider="compat:my-vllm", name="d", secret="local-key-123")
    assert await vault.require("compat:my-vllm", user_id=None, workspace_id=None) == (
        "local-key-123"
    )


# --- master key rotation ---------------------------------------------------------------------


async def test_rotation_of_the_key_file_rewraps_every_data_key(
    db: Database, migrated: Settings
) -> None:
    home = migrated.home
    old_keyring = Keyring.load(home, {})
    writer = Vault(db, old_keyring)
    put = {"user": "sk-user-0000000001", "workspace": "sk-team-0000000001"}
    await put_user_key(writer, secret=put["user"])
    await writer.put("workspace", provider="openai", name="t", secret=put["workspace"],
                     workspace_id="wsp_2")  # fmt: skip
    await writer.put("instance", provider="openai", name="d", secret="sk-default-000001")
    # A second process that loaded the keyring before the rotation, and never restarts.
    reader = Vault(db, Keyring.load(home, {}))

    new_keyring = Keyring.rotate_file(home)
    result = await writer.rotate_master(new_keyring)

    assert result == RotationResult(master_key_id=new_keyring.current.id, rewrapped=3, unchanged=0)
    data_keys = await rows(db, DataKeyRow)
    assert {row.master_key_id for row in data_keys} == {new_keyring.current.id}
    assert all(row.rotated_at is not None for row in data_keys)
    assert writer.keyring == new_keyring
    assert reader.keyring == old_keyring  # nothing reloaded yet
    assert await reader.resolve("openai", user_id="usr_1", workspace_id="wsp_1") == put["user"]
    assert reader.keyring == new_keyring  # reloaded from disk on meeting the new master key
    assert await reader.resolve("openai", user_id=None, workspace_id="wsp_2") == put["workspace"]
    assert await writer.resolve("openai", user_id=None, workspace_id=None) == "sk-default-000001"

    again = await writer.rotate_master(new_keyring)
    assert again == RotationResult(master_key_id=new_keyring.current.id, rewrapped=0, unchanged=3)


async def test_new_data_keys_use_the_newest_master_key_on_disk(
    db: Database, migrated: Settings
) -> None:
    stale = Vault(db, Keyring.load(migrated.home, {}))
    rotated = Keyring.rotate_file(migrated.home)
    await put_user_key(stale, workspace_id="wsp_new")
    [row] = await rows(db, DataKeyRow)
    assert row.master_key_id == rotated.current.id


async def test_rotation_in_env_mode_with_previous_key(db: Database, tmp_path: Path) -> None:
    old, new = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    before = Keyring.load(tmp_path, {"NEXUS_SECRET_KEY": old})
    vault = Vault(db, before)
    await put_user_key(vault)
    await vault.put("instance", provider="anthropic", name="d", secret="sk-ant-000000000001")

    during = Keyring.load(tmp_path, {"NEXUS_SECRET_KEY": new, "NEXUS_SECRET_KEY_PREVIOUS": old})
    # Processes restarted with both keys read old-wrapped data keys before the rotation runs.
    assert await Vault(db, during).resolve("openai", user_id="usr_1", workspace_id="wsp_1") == (
        SECRET
    )
    result = await Vault(db, during).rotate_master(during)
    assert result == RotationResult(master_key_id=during.current.id, rewrapped=2, unchanged=0)
    assert {row.master_key_id for row in await rows(db, DataKeyRow)} == {during.current.id}

    after = Vault(db, Keyring.load(tmp_path, {"NEXUS_SECRET_KEY": new}))
    assert await after.resolve("openai", user_id="usr_1", workspace_id="wsp_1") == SECRET
    assert await after.resolve("anthropic", user_id=None, workspace_id=None) == (
        "sk-ant-000000000001"
    )
    # Without the new key the old one alone no longer opens anything, and says what to do.
    with pytest.raises(VaultError, match="NEXUS_SECRET_KEY_PREVIOUS"):
        await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1")


async def test_rotation_refuses_when_a_data_key_cannot_be_unwrapped(
    db: Database, migrated: Settings
) -> None:
    vault = Vault(db, Keyring.load(migrated.home, {}))
    await put_user_key(vault)
    unrelated = Keyring(current=MasterKey.generate())
    with pytest.raises(VaultError):
        await vault.rotate_master(unrelated)
    [row] = await rows(db, DataKeyRow)
    assert row.master_key_id == vault.keyring.current.id  # nothing half-rotated
    assert await vault.resolve("openai", user_id="usr_1", workspace_id="wsp_1") == SECRET


def test_vault_repr_shows_no_key_material(db: Database, keyring: Keyring) -> None:
    vault = Vault(db, keyring)
    shown = repr(vault) + str(vault)
    assert keyring.current.key.hex() not in shown
    assert repr(keyring.current.key) not in shown
    assert repr(vault) == f"Vault(master_key={keyring.current.id!r})"
