"""Moving files into and out of a sandbox's workspace as tar streams, never through host paths.

The workspace is a tmpfs inside the sandbox: the host never mounts a writable directory into
it, so symlink and hardlink tricks have nothing on the host to point at. Input files go in as
a tar the sandbox's shell extracts; afterwards the shell writes the workspace back as a tar on
a pipe, which is parsed here in memory only (regular files, bounded sizes, nothing extracted).
"""

from __future__ import annotations

import io
import posixpath
import tarfile

from nexus.core.sandbox_types import SandboxLimitError

MAX_INPUT_FILES = 200
MAX_INPUT_BYTES = 10_000_000
MAX_PATH_CHARS = 255


def check_path(path: str) -> str:
    """``path`` normalised, or ``SandboxLimitError`` unless it is a plain relative path."""
    normal = posixpath.normpath(path)
    if (
        not path
        or len(path) > MAX_PATH_CHARS
        or path.startswith("/")
        or normal.startswith("..")
        or normal == "."
        or "\x00" in path
        or "\\" in path
    ):
        raise SandboxLimitError(
            f"file path {path!r} must be relative to the workspace, without '..'", field="files"
        )
    return normal


def check_files(files: dict[str, str]) -> dict[str, bytes]:
    """``files`` (path -> text) as normalised path -> UTF-8, after checking count and sizes."""
    if len(files) > MAX_INPUT_FILES:
        raise SandboxLimitError(f"at most {MAX_INPUT_FILES} input files", field="files")
    total = 0
    checked: dict[str, bytes] = {}
    for path, content in files.items():
        data = content.encode()
        total += len(data)
        if total > MAX_INPUT_BYTES:
            raise SandboxLimitError(
                f"input files are larger than {MAX_INPUT_BYTES} bytes in total", field="files"
            )
        checked[check_path(path)] = data
    return checked


def pack_files(files: dict[str, str]) -> bytes:
    """A tar of ``files`` (path -> text), after checking paths, count and total size."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, data in check_files(files).items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def changed_files(archive: bytes, inputs: dict[str, str], max_bytes: int) -> dict[str, str]:
    """Regular files in ``archive`` that are new or differ from ``inputs``, path -> text.

    ``archive`` came from untrusted code: it is read in memory, links and devices are ignored,
    and reading stops at ``max_bytes`` of content.
    """
    known = {check_path(path): content for path, content in inputs.items()}
    found: dict[str, str] = {}
    budget = max_bytes
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:") as tar:
            for member in tar:
                if not member.isreg() or member.size > budget:
                    continue
                name = posixpath.normpath(member.name)
                if name.startswith(("..", "/")) or name == ".":
                    continue
                handle = tar.extractfile(member)
                if handle is None:
                    continue
                text = handle.read(member.size).decode(errors="replace")
                budget -= member.size
                if known.get(name) != text:
                    found[name] = text
    except (tarfile.TarError, EOFError, OSError):
        pass  # A truncated or forged archive yields the files read so far.
    return found
