"""Master keys: decoding and refusing weak keys, the 0600 key file, rotation of the file."""

from __future__ import annotations

import base64
import json
import os
import secrets
import stat
from pathlib import Path

import pytest

from nexus.core.errors import ConfigurationError
from nexus.security.keyring import KEY_FILE, Keyring, MasterKey, decode_key, fingerprint


def test_env_key_in_urlsafe_base64_or_hex() -> None:
    raw = secrets.token_bytes(32)
    for text in (base64.urlsafe_b64encode(raw).decode().rstrip("="), raw.hex(), raw.hex().upper()):
        keyring = Keyring.load(Path("/nonexistent"), {"NEXUS_SECRET_KEY": text})
        assert keyring.current == MasterKey(id=fingerprint(raw), key=raw)
        assert keyring.previous == ()


def test_generated_token_urlsafe_is_accepted(tmp_path: Path) -> None:
    text = secrets.token_urlsafe(32)
    keyring = Keyring.load(tmp_path, {"NEXUS_SECRET_KEY": text})
    assert len(keyring.current.key) == 32
    assert not (tmp_path / KEY_FILE).exists()  # the variable wins; no file is written


@pytest.mark.parametrize(
    ("text", "says"),
    [
        (secrets.token_urlsafe(16), "decodes to 16 bytes; at least 32 are required"),
        (secrets.token_bytes(31).hex(), "decodes to 31 bytes"),
        ("correct-horse-battery-staple-correct-horse-battery", "does not look randomly generated"),
        ("a" * 64, "does not look randomly generated"),
        ((secrets.token_bytes(8) * 4).hex(), "does not look randomly generated"),
        (bytes(range(12)).hex() * 3, "does not look randomly generated"),
        ("not a key!", "is not url-safe base64 or hex"),
        ("Ab" * 10 + "A", "is not valid base64 or hex"),
    ],
)
def test_weak_or_malformed_env_keys_are_refused_with_the_fix(text: str, says: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Keyring.load(Path("/nonexistent"), {"NEXUS_SECRET_KEY": text})
    assert says in caught.value.message
    assert "secrets.token_urlsafe(32)" in caught.value.message
    assert text not in caught.value.message


def test_previous_keys_from_env_are_kept_for_reading() -> None:
    new, old1, old2 = (secrets.token_bytes(32) for _ in range(3))
    environ = {
        "NEXUS_SECRET_KEY": new.hex(),
        "NEXUS_SECRET_KEY_PREVIOUS": f" {old1.hex()} ,{base64.urlsafe_b64encode(old2).decode()},",
    }
    keyring = Keyring.load(Path("/nonexistent"), environ)
    assert keyring.ids == (fingerprint(new), fingerprint(old1), fingerprint(old2))
    assert keyring.get(fingerprint(old2)) == MasterKey.from_bytes(old2)
    assert keyring.get("0" * 16) is None


def test_weak_previous_key_is_refused_naming_its_variable() -> None:
    environ = {"NEXUS_SECRET_KEY": secrets.token_hex(32), "NEXUS_SECRET_KEY_PREVIOUS": "abcd"}
    with pytest.raises(ConfigurationError, match="NEXUS_SECRET_KEY_PREVIOUS"):
        Keyring.load(Path("/nonexistent"), environ)


def test_first_start_creates_a_0600_key_file_and_reuses_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    old_umask = os.umask(0)  # even with a permissive umask the file is private
    try:
        first = Keyring.load(home, {})
    finally:
        os.umask(old_umask)
    path = home / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    stored = json.loads(path.read_text())
    assert [entry["id"] for entry in stored["keys"]] == [first.current.id]
    assert len(first.current.key) == 32
    assert Keyring.load(home, {}) == first
    assert [p.name for p in home.iterdir()] == [KEY_FILE]  # no temporary file left behind


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    Keyring.load(tmp_path, {})
    path = tmp_path / KEY_FILE
    path.chmod(0o644)
    with pytest.raises(ConfigurationError) as caught:
        Keyring.load(tmp_path, {})
    assert f"chmod 600 {path}" in caught.value.message
    path.chmod(0o640)
    with pytest.raises(ConfigurationError, match="chmod 600"):
        Keyring.load(tmp_path, {})


def test_damaged_or_weak_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b'{"keys": [{"key": "not base64!"}]}')
    os.close(fd)
    with pytest.raises(ConfigurationError, match="damaged; restore it from a backup"):
        Keyring.load(tmp_path, {})
    path.write_text(json.dumps({"keys": [{"key": base64.urlsafe_b64encode(b"x" * 40).decode()}]}))
    with pytest.raises(ConfigurationError, match="does not look randomly generated"):
        Keyring.load(tmp_path, {})
    path.write_text(json.dumps({"keys": []}))
    with pytest.raises(ConfigurationError, match="holds no keys"):
        Keyring.load(tmp_path, {})


def test_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    Keyring.load(tmp_path / "real", {})
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / KEY_FILE).symlink_to(tmp_path / "real" / KEY_FILE)
    with pytest.raises(ConfigurationError, match="cannot open the key file"):
        Keyring.load(tmp_path / "home", {})


def test_rotate_file_puts_a_new_key_first_and_keeps_the_old(tmp_path: Path) -> None:
    before = Keyring.load(tmp_path, {})
    after = Keyring.rotate_file(tmp_path)
    assert after.current != before.current
    assert after.previous == (before.current,)
    assert Keyring.load(tmp_path, {}) == after
    assert before.reload() == after  # a running process picks the rotation up from disk
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600
    again = Keyring.rotate_file(tmp_path)
    assert again.previous == (after.current, before.current)
    assert [p.name for p in tmp_path.iterdir()] == [KEY_FILE]


def test_rotate_file_without_a_file_explains_env_rotation(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="NEXUS_SECRET_KEY_PREVIOUS"):
        Keyring.rotate_file(tmp_path)


def test_in_memory_keyring_reloads_to_itself() -> None:
    keyring = Keyring(current=MasterKey.generate())
    assert keyring.reload() is keyring


def test_repr_and_str_show_ids_never_key_bytes() -> None:
    raw = secrets.token_bytes(32)
    old = secrets.token_bytes(32)
    keyring = Keyring.load(
        Path("/nonexistent"),
        {"NEXUS_SECRET_KEY": raw.hex(), "NEXUS_SECRET_KEY_PREVIOUS": old.hex()},
    )
    shown = " ".join(
        [repr(keyring), str(keyring), repr(keyring.current), str(keyring.current)]
        + [repr(k) for k in keyring.previous]
    )
    for key in (raw, old):
        assert key.hex() not in shown.lower()
        assert repr(key) not in shown
        assert base64.urlsafe_b64encode(key).decode().rstrip("=") not in shown
    assert fingerprint(raw) in repr(keyring) and fingerprint(old) in repr(keyring)
    assert repr(keyring.current) == f"MasterKey(id='{fingerprint(raw)}')"


def test_decode_key_is_usable_for_cli_checks() -> None:
    raw = secrets.token_bytes(48)
    assert decode_key(raw.hex()) == raw
