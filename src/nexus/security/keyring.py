"""Master keys: where they come from, how they are checked, and how they rotate.

A master key only wraps the per-workspace data keys (``nexus.security.vault``); it never touches
a secret directly. It comes from one of two places:

``NEXUS_SECRET_KEY`` (and, during a rotation, ``NEXUS_SECRET_KEY_PREVIOUS``)
    32 or more random bytes, url-safe base64 or hex. Make one with
    ``python -c "import secrets; print(secrets.token_urlsafe(32))"``. ``..._PREVIOUS`` is a
    comma-separated list of keys that may still wrap data keys. Rotating without downtime:
    give every process ``NEXUS_SECRET_KEY=<new>`` and ``NEXUS_SECRET_KEY_PREVIOUS=<old>``, run
    ``nexus secrets rotate`` (every data key re-wrapped under the new key), then drop
    ``..._PREVIOUS``.

``NEXUS_HOME/secret.keys`` (when the variable is not set)
    JSON ``{"keys": [{"id": …, "key": <url-safe base64>, "created_at": …}, …]}``, current key
    first. Created on first start from ``secrets.token_bytes`` with mode 0600 (never readable by
    others, not even for an instant); start-up refuses a file that group or others can read.
    ``Keyring.rotate_file`` puts a new key first and keeps the old ones, and processes that meet
    a data key wrapped by a key they do not hold reload the file once, so nothing restarts.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import os
import re
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from nexus.core.errors import ConfigurationError

ENV_KEY = "NEXUS_SECRET_KEY"
ENV_PREVIOUS = "NEXUS_SECRET_KEY_PREVIOUS"
KEY_FILE = "secret.keys"
KEY_BYTES = 32

_MAKE_ONE = 'python -c "import secrets; print(secrets.token_urlsafe(32))"'
_HEX = re.compile(r"[0-9a-fA-F]+")
_BASE64 = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")


@dataclass(frozen=True)
class MasterKey:
    """A key that wraps data keys. ``id`` is a fingerprint, safe to store and to show."""

    id: str
    key: bytes = field(repr=False)

    @classmethod
    def from_bytes(cls, key: bytes) -> MasterKey:
        return cls(id=fingerprint(key), key=key)

    @classmethod
    def generate(cls) -> MasterKey:
        return cls.from_bytes(secrets.token_bytes(KEY_BYTES))

    def __str__(self) -> str:
        return f"master key {self.id}"


def fingerprint(key: bytes) -> str:
    """16 hex characters naming a key; domain-separated so it is no plain hash of the key."""
    return hashlib.sha256(b"nexus master key id\x00" + key).hexdigest()[:16]


@dataclass(frozen=True)
class Keyring:
    """The current master key (wraps new data keys) and previous ones (still unwrap)."""

    current: MasterKey
    previous: tuple[MasterKey, ...] = ()
    # Where this keyring was loaded from, so a process can pick up a rotation.
    origin: tuple[Path, Mapping[str, str]] | None = field(default=None, repr=False, compare=False)

    def get(self, key_id: str) -> MasterKey | None:
        for key in (self.current, *self.previous):
            if key.id == key_id:
                return key
        return None

    @property
    def ids(self) -> tuple[str, ...]:
        return (self.current.id, *(key.id for key in self.previous))

    def __repr__(self) -> str:
        return f"Keyring(current={self.current.id!r}, previous={[k.id for k in self.previous]!r})"

    __str__ = __repr__

    def reload(self) -> Keyring:
        """The keyring as its source says now; itself when it was built in memory."""
        if self.origin is None:
            return self
        home, environ = self.origin
        return Keyring.load(home, environ)

    @classmethod
    def load(cls, home: Path, environ: Mapping[str, str] | None = None) -> Keyring:
        """From ``NEXUS_SECRET_KEY`` when set, else ``home/secret.keys`` (created if missing).

        ``environ`` defaults to ``os.environ``. Raises ``ConfigurationError`` (saying what to
        do) for a short, non-random or unreadable key, or a key file that others can read.
        """
        environ = os.environ if environ is None else environ
        text = environ.get(ENV_KEY, "").strip()
        if text:
            current = MasterKey.from_bytes(decode_key(text, ENV_KEY))
            previous = tuple(
                MasterKey.from_bytes(decode_key(part.strip(), ENV_PREVIOUS))
                for part in environ.get(ENV_PREVIOUS, "").split(",")
                if part.strip()
            )
            keys = _unique((current, *previous))
        else:
            path = home / KEY_FILE
            keys = _read_file(path) if path.exists() else _create_file(path)
        return cls(current=keys[0], previous=tuple(keys[1:]), origin=(home, environ))

    from_environment = load

    @classmethod
    def rotate_file(cls, home: Path) -> Keyring:
        """Put a new current key in ``home/secret.keys``, keeping the old ones as previous.

        Written to a 0600 temporary file and moved into place, so readers never see half a
        file. Data keys still need re-wrapping (``Vault.rotate_master``).
        """
        path = home / KEY_FILE
        if not path.exists():
            raise ConfigurationError(
                f"no key file at {path} to rotate; when {ENV_KEY} is set, rotate by setting a new "
                f"{ENV_KEY} with the old key in {ENV_PREVIOUS}, then run `nexus secrets rotate`"
            )
        keys = (MasterKey.generate(), *_read_file(path))
        _write_atomically(path, keys, replace=True)
        return cls(current=keys[0], previous=tuple(keys[1:]), origin=(home, {}))


def decode_key(text: str, source: str = ENV_KEY) -> bytes:
    """Bytes of a key given as hex or url-safe base64; refused when short or not random."""
    fix = f"set {source} to 32 random bytes, e.g. the output of `{_MAKE_ONE}`"
    if len(text) % 2 == 0 and _HEX.fullmatch(text):
        key = bytes.fromhex(text)
    elif _BASE64.fullmatch(text):
        # A passphrase of letters and dashes also "decodes"; generated keys mix both cases.
        if text.lower() == text or text.upper() == text:
            raise ConfigurationError(f"{source} does not look randomly generated; {fix}")
        try:
            padded = text.translate(str.maketrans("+/", "-_")).rstrip("=")
            key = base64.urlsafe_b64decode(padded + "=" * (-len(padded) % 4))
        except (binascii.Error, ValueError):
            raise ConfigurationError(f"{source} is not valid base64 or hex; {fix}") from None
    else:
        raise ConfigurationError(f"{source} is not url-safe base64 or hex; {fix}")
    check_key(key, source)
    return key


def check_key(key: bytes, source: str = ENV_KEY) -> None:
    """Refuse keys under 32 bytes, or with few distinct bytes or a repeating pattern."""
    fix = f"set {source} to 32 random bytes, e.g. the output of `{_MAKE_ONE}`"
    if len(key) < KEY_BYTES:
        raise ConfigurationError(
            f"{source} decodes to {len(key)} bytes; at least {KEY_BYTES} are required; {fix}"
        )
    repeats = any(key == (key[:period] * (len(key) // period + 1))[: len(key)]
                  for period in range(1, len(key) // 2 + 1))  # fmt: skip
    if len(set(key)) < 16 or repeats:
        raise ConfigurationError(f"{source} does not look randomly generated; {fix}")


def _unique(keys: tuple[MasterKey, ...]) -> tuple[MasterKey, ...]:
    seen: dict[str, MasterKey] = {}
    for key in keys:
        seen.setdefault(key.id, key)
    return tuple(seen.values())


def _read_file(path: Path) -> tuple[MasterKey, ...]:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise ConfigurationError(
            f"cannot open the key file {path} ({exc.strerror}); it must be a regular file "
            f"owned by the user running Nexus, or set {ENV_KEY}"
        ) from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise ConfigurationError(f"the key file {path} is not a regular file; remove it")
        if mode & 0o077:
            raise ConfigurationError(
                f"the key file {path} can be read by other users (mode {stat.S_IMODE(mode):o}); "
                f"run `chmod 600 {path}`, and rotate the key if others may have read it"
            )
        raw = handle.read()
    try:
        entries = json.loads(raw)["keys"]
        keys = []
        for entry in entries:
            key = base64.urlsafe_b64decode(entry["key"])
            check_key(key, str(path))
            if entry.get("id", fingerprint(key)) != fingerprint(key):
                raise ValueError("id does not match key")
            keys.append(MasterKey.from_bytes(key))
    except ConfigurationError:
        raise
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise ConfigurationError(
            f"the key file {path} is damaged; restore it from a backup (without it, stored "
            "secrets cannot be decrypted)"
        ) from None
    if not keys:
        raise ConfigurationError(f"the key file {path} holds no keys; restore it from a backup")
    return _unique(tuple(keys))


def _create_file(path: Path) -> tuple[MasterKey, ...]:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = (MasterKey.generate(),)
    if not _write_atomically(path, keys, replace=False):
        return _read_file(path)  # another process created it first
    return keys


def _write_atomically(path: Path, keys: tuple[MasterKey, ...], *, replace: bool) -> bool:
    """Write to a fresh 0600 file beside ``path``, then move it in. False when ``path``
    already exists and ``replace`` is off."""
    now = datetime.now(UTC).isoformat()
    body = {
        "keys": [
            {"id": k.id, "key": base64.urlsafe_b64encode(k.key).decode(), "created_at": now}
            for k in keys
        ]
    }
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(body, handle, indent=2)
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
            return True
        try:
            os.link(tmp, path)  # atomic create-if-absent: two first starts never clobber
        except FileExistsError:
            return False
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
