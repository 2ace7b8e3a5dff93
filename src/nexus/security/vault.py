"""The credential vault: provider API keys and other secrets, encrypted at rest (BYOK).

Envelope encryption with AES-256-GCM. Each workspace (and the instance) has a random 32-byte
data key, stored wrapped by a master key (``nexus.security.keyring``); each secret is encrypted
with its workspace's data key. Every ciphertext is ``nonce (12 random bytes) || ciphertext+tag``
and carries associated data naming what it belongs to, so a ciphertext copied onto another row
(another credential, owner, scope or workspace) fails to decrypt. Failure of any kind is a
``VaultError`` whose message holds no secret material; there is no plaintext fallback.

A secret leaves the vault in plaintext only from ``resolve``/``require``, for the provider call
of a run. Everything else sees ``CredentialInfo``, with the secret masked.
"""

from __future__ import annotations

import builtins
import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.exc import IntegrityError

from nexus.core.errors import (
    InvalidInputError,
    NotFoundError,
    ProviderNotConfiguredError,
    VaultError,
)
from nexus.core.ids import new_id
from nexus.security.keyring import Keyring, MasterKey
from nexus.security.masking import mask
from nexus.store import credential_repository as repo
from nexus.store.db import Database
from nexus.store.tables import CredentialRow, DataKeyRow, utcnow

NONCE_BYTES = 12
DATA_KEY_BYTES = 32
MAX_LABEL_CHARS = 100
MAX_SECRET_CHARS = 10_000
ADD_KEY_ROUTE = "POST /api/v1/users/api-keys"

_PROVIDER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")


class CredentialScope(StrEnum):
    USER = "user"  # one user's key, used by that user's runs in one workspace
    WORKSPACE = "workspace"  # shared by every member of a workspace
    INSTANCE = "instance"  # the default for everyone, set by an instance admin


@dataclass(frozen=True)
class CredentialInfo:
    """A stored credential as anyone may see it: the secret only masked."""

    id: str
    scope: CredentialScope
    provider: str
    name: str
    masked: str
    verified: bool
    owner_id: str | None
    workspace_id: str | None
    created_at: datetime
    created_by: str | None = None


@dataclass(frozen=True)
class RotationResult:
    master_key_id: str  # every data key is now wrapped by this key
    rewrapped: int  # data keys moved from a previous master key
    unchanged: int  # data keys already under the current one


def missing_key_message(provider: str) -> str:
    """What to tell someone whose run needs a ``provider`` key that nobody has added."""
    env = re.sub(r"[^A-Za-z0-9]", "_", provider).upper()
    return (
        f"no API key for provider {provider!r}: add your own with {ADD_KEY_ROUTE} "
        f"(Settings → Provider keys in the web app); a workspace admin can add one for the "
        f"whole workspace, and an instance admin can set a default (or NEXUS_{env}_API_KEY)"
    )


def _aad(kind: str, *parts: str | None) -> bytes:
    return json.dumps(["nexus", kind, "v1", *parts], separators=(",", ":")).encode()


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)


def _open(key: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    if len(sealed) < NONCE_BYTES + 16:
        return None
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], aad)
    except InvalidTag:
        return None


def _data_key_aad(row: DataKeyRow) -> bytes:
    return _aad("data-key", row.id, row.workspace_id)


def _credential_aad(row: CredentialRow) -> bytes:
    return _aad(
        "credential",
        row.id,
        row.scope,
        row.owner_id,
        row.workspace_id,
        row.provider,
        row.data_key_id,
    )


def _info(row: CredentialRow) -> CredentialInfo:
    return CredentialInfo(
        id=row.id,
        scope=CredentialScope(row.scope),
        provider=row.provider,
        name=row.name,
        masked=row.masked,
        verified=row.verified,
        owner_id=row.owner_id,
        workspace_id=row.workspace_id,
        created_at=row.created_at,
        created_by=row.created_by,
    )


def _label(value: str, field: str) -> str:
    value = value.strip()
    if not value or len(value) > MAX_LABEL_CHARS or not value.isprintable():
        raise InvalidInputError(
            f"{field} must be 1 to {MAX_LABEL_CHARS} printable characters", field=field
        )
    return value


def _provider(value: str) -> str:
    value = _label(value, "provider")
    if not _PROVIDER.fullmatch(value):
        raise InvalidInputError(
            "provider must be a provider id such as 'openai', 'anthropic' or a compat name "
            "(letters, digits, '_', '.', ':', '-')",
            field="provider",
        )
    return value


def _check_scope(scope: CredentialScope, owner_id: str | None, workspace_id: str | None) -> None:
    wanted = {
        CredentialScope.USER: (True, True),
        CredentialScope.WORKSPACE: (False, True),
        CredentialScope.INSTANCE: (False, False),
    }[scope]
    if (owner_id is not None, workspace_id is not None) != wanted:
        raise InvalidInputError(
            "a user key needs owner_id and workspace_id, a workspace key only workspace_id, "
            "an instance key neither",
            field="scope",
        )


class Vault:
    """Encrypts, stores and resolves credentials. One per process; safe to share."""

    def __init__(self, db: Database, keyring: Keyring) -> None:
        self._db = db
        self._keyring = keyring

    def __repr__(self) -> str:
        return f"Vault(master_key={self._keyring.current.id!r})"

    @property
    def keyring(self) -> Keyring:
        return self._keyring

    # --- writing and reading descriptions -----------------------------------------------------

    async def put(
        self,
        scope: CredentialScope | str,
        *,
        provider: str,
        name: str,
        secret: str,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        created_by: str | None = None,
        verified: bool = False,
    ) -> CredentialInfo:
        """Encrypt and store ``secret``; the result shows it masked, and nothing ever shows
        it again (except ``resolve`` at run time)."""
        try:
            scope = CredentialScope(scope)
        except ValueError:
            raise InvalidInputError(
                "scope must be 'user', 'workspace' or 'instance'", field="scope"
            ) from None
        provider, name = _provider(provider), _label(name, "name")
        secret = secret.strip()
        if not secret or len(secret) > MAX_SECRET_CHARS:
            raise InvalidInputError(
                f"secret must be 1 to {MAX_SECRET_CHARS} characters", field="secret"
            )
        _check_scope(scope, owner_id, workspace_id)
        key_row = await self._data_key_row(workspace_id)
        data_key = await self._unwrap(key_row)
        row = CredentialRow(
            id=new_id("cred"),
            scope=scope.value,
            owner_id=owner_id,
            workspace_id=workspace_id,
            provider=provider,
            name=name,
            data_key_id=key_row.id,
            masked=mask(secret),
            verified=verified,
            created_by=created_by,
            created_at=utcnow(),
        )
        row.ciphertext = _seal(data_key, secret.encode(), _credential_aad(row))
        async with self._db.sessions.begin() as session:
            session.add(row)
        return _info(row)

    async def list(
        self,
        *,
        owner_id: str | None = None,
        workspace_id: str | None = None,
        scope: CredentialScope | str | None = None,
        provider: str | None = None,
    ) -> builtins.list[CredentialInfo]:
        """Credentials matching every filter given, newest first. Callers choose the filters
        a principal may use (``nexus.security`` access rules); the vault does not."""
        async with self._db.sessions() as session:
            rows = await repo.credentials(
                session,
                owner_id=owner_id,
                workspace_id=workspace_id,
                scope=None if scope is None else CredentialScope(scope).value,
                provider=provider,
            )
        return [_info(row) for row in rows]

    async def get_info(self, credential_id: str) -> CredentialInfo:
        async with self._db.sessions() as session:
            row = await repo.credential(session, credential_id)
        if row is None:
            raise NotFoundError(f"no credential {credential_id!r}")
        return _info(row)

    async def delete(self, credential_id: str) -> None:
        async with self._db.sessions.begin() as session:
            if not await repo.delete_credential(session, credential_id):
                raise NotFoundError(f"no credential {credential_id!r}")

    # --- plaintext, for the provider call of a run only ---------------------------------------

    async def resolve(
        self, provider: str, *, user_id: str | None, workspace_id: str | None
    ) -> str | None:
        """The key a run should use: the user's own in that workspace, else the workspace's,
        else the instance default (newest at each level); ``None`` when there is none.

        A key that exists but cannot be decrypted raises ``VaultError``: never skipped.
        """
        async with self._db.sessions() as session:
            rows = await repo.candidates(
                session, provider, user_id=user_id, workspace_id=workspace_id
            )
        order = [CredentialScope.USER, CredentialScope.WORKSPACE, CredentialScope.INSTANCE]
        for level in order:
            for row in rows:  # newest first
                if row.scope == level.value:
                    return await self._decrypt(row)
        return None

    async def require(self, provider: str, *, user_id: str | None, workspace_id: str | None) -> str:
        """``resolve``, or ``ProviderNotConfiguredError`` naming where to add a key."""
        secret = await self.resolve(provider, user_id=user_id, workspace_id=workspace_id)
        if secret is None:
            raise ProviderNotConfiguredError(missing_key_message(provider))
        return secret

    missing_key_message = staticmethod(missing_key_message)

    # --- master key rotation -------------------------------------------------------------------

    async def rotate_master(self, keyring: Keyring | None = None) -> RotationResult:
        """Re-wrap every data key under ``keyring.current`` (default: this vault's keyring,
        reloaded) in one transaction. Secrets are untouched, so readers never stop: a process
        holding an older keyring reloads it on meeting the new master key id."""
        keyring = keyring if keyring is not None else self._keyring.reload()
        current = keyring.current
        rewrapped = unchanged = 0
        async with self._db.sessions.begin() as session:
            for row in await repo.all_data_keys(session):
                if row.master_key_id == current.id:
                    unchanged += 1
                    continue
                data_key = self._unwrap_with(row, keyring.get(row.master_key_id))
                row.wrapped_key = _seal(current.key, data_key, _data_key_aad(row))
                row.master_key_id = current.id
                row.rotated_at = utcnow()
                rewrapped += 1
        self._keyring = keyring
        return RotationResult(master_key_id=current.id, rewrapped=rewrapped, unchanged=unchanged)

    # --- internals -----------------------------------------------------------------------------

    async def _data_key_row(self, workspace_id: str | None) -> DataKeyRow:
        async with self._db.sessions() as session:
            row = await repo.data_key_for(session, workspace_id)
        if row is not None:
            return row
        # New data keys go under the newest master key, even if a rotation happened since start.
        self._keyring = self._keyring.reload()
        row = DataKeyRow(
            id=new_id("dk"),
            workspace_id=workspace_id,
            master_key_id=self._keyring.current.id,
            created_at=utcnow(),
        )
        data_key = os.urandom(DATA_KEY_BYTES)
        row.wrapped_key = _seal(self._keyring.current.key, data_key, _data_key_aad(row))
        try:
            async with self._db.sessions.begin() as session:
                session.add(row)
        except IntegrityError:
            pass  # another request created this workspace's key first: use theirs
        async with self._db.sessions() as session:
            found = await repo.data_key_for(session, workspace_id)
        if found is None:
            raise VaultError("could not create a data key; retry the request")
        return found

    async def _unwrap(self, row: DataKeyRow) -> bytes:
        master = self._keyring.get(row.master_key_id)
        if master is None:
            # Rotated by another process since this one loaded its keyring: look once more.
            self._keyring = self._keyring.reload()
            master = self._keyring.get(row.master_key_id)
        return self._unwrap_with(row, master)

    @staticmethod
    def _unwrap_with(row: DataKeyRow, master: MasterKey | None) -> bytes:
        if master is None:
            raise VaultError(
                f"data key {row.id} is wrapped by master key {row.master_key_id}, which this "
                "process does not have; restore NEXUS_HOME/secret.keys or add the old key to "
                "NEXUS_SECRET_KEY_PREVIOUS"
            )
        data_key = _open(master.key, row.wrapped_key, _data_key_aad(row))
        if data_key is None or len(data_key) != DATA_KEY_BYTES:
            raise VaultError(
                f"data key {row.id} does not decrypt with master key {master.id}: the key "
                "store or the database was altered; restore them from a backup"
            )
        return data_key

    async def _decrypt(self, row: CredentialRow) -> str:
        async with self._db.sessions() as session:
            key_row = await repo.data_key(session, row.data_key_id)
        if key_row is None:
            raise VaultError(f"credential {row.id} has no data key; add the key again")
        plaintext = _open(await self._unwrap(key_row), row.ciphertext, _credential_aad(row))
        if plaintext is None:
            raise VaultError(
                f"credential {row.id} does not decrypt (altered or moved); add the key again"
            )
        return plaintext.decode()
