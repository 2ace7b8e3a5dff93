"""Configuration, constants and small records of the bubblewrap sandbox (split from
``bubblewrap``, which runs the sandboxes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from nexus.core.sandbox_types import KilledReason, SandboxLimits
from nexus.sandbox.selftest import SELF_TEST_SCRIPT

SANDBOX_UID = 1000
SANDBOX_PACKAGES_DIR = "/opt/nexus/python"
CODE_DIR = "/run/nexus"
WORKSPACE = "/workspace"
KILL_GRACE_S = 2.0
WARM_START_TIMEOUT_S = 10.0
MAX_CODE_BYTES = 1_000_000

DEFAULT_PYTHON_PACKAGES: tuple[str, ...] = (
    "numpy",
    "numpy.libs",
    "yaml",
    "_yaml",
    "jinja2",
    "markupsafe",
    "regex",
    "dateutil",
    "six.py",
    "tabulate",
    "tzdata",
)
"""Importable in the sandbox (read-only) when installed next to Nexus."""

DEFAULT_CEILINGS = SandboxLimits(
    timeout_s=120.0,
    cpu_s=120,
    memory_mb=4096,
    processes=256,
    file_size_mb=256,
    open_files=4096,
    output_bytes=10_000_000,
    workspace_mb=512,
)

DEFAULT_APP_LIMITS = SandboxLimits(
    timeout_s=3600.0,
    cpu_s=3600,
    memory_mb=1024,
    processes=64,
    file_size_mb=64,
    open_files=1024,
    output_bytes=64_000,
    workspace_mb=128,
)
"""``output_bytes`` is the tail of stdout/stderr kept per app for crash reports."""

SIGNAL_REASONS: dict[int, KilledReason] = {
    128 + signal.SIGXCPU: "cpu_limit",
    128 + signal.SIGXFSZ: "file_size_limit",
}
SCRIPT_NAMES = {"python": "main.py", "bash": "main.sh", "node": "main.js"}
EXPORT_SCRIPT = (
    "rc=$?",
    # Export only if the workspace holds anything (globbing costs no fork; tar does).
    "set -- .[!.]* ..?* *",
    'for f do if [ -e "$f" ] || [ -h "$f" ]; then',
    f"tar -cf - -C {WORKSPACE} . >&0 2>/dev/null; break; fi; done",
    "exit $rc",
)
WARM_SELF_TEST = f"""
import subprocess, sys
sys.exit(subprocess.run(["/bin/sh", "-c", {SELF_TEST_SCRIPT!r}]).returncode)
"""


@dataclass(frozen=True)
class BubblewrapConfig:
    """How the sandbox is built; the admin sets ``ceilings``, callers choose within them."""

    bwrap: str | None = None
    """Path of bwrap; ``None`` looks it up on ``PATH``."""

    defaults: SandboxLimits = field(default_factory=SandboxLimits)
    ceilings: SandboxLimits = DEFAULT_CEILINGS
    python: str | None = None
    """Interpreter for ``python``; ``None`` picks the platform's own if other users can reach
    it, else the system ``python3.X`` of the same version."""

    python_packages: tuple[str, ...] = DEFAULT_PYTHON_PACKAGES
    site_packages: str | None = None
    """Where ``python_packages`` are taken from; ``None``: the platform's site-packages."""

    max_concurrency: int = 8
    uid_base: int = 200_000
    """First host uid of the per-sandbox uids (used only when Nexus runs as root); one per
    concurrent execution and one per warm sandbox."""

    warm_pool: Mapping[str, int] = field(default_factory=lambda: {"python": 2})
    """Warm sandboxes kept ready, per language (``python``, ``bash``). Empty: none. Warm
    sandboxes of every language run the Python bootstrap, so they need the interpreter."""

    setpriv: bool = True
    """Switch to the slot uid with ``setpriv`` when it is installed (else ``subprocess``)."""

    cgroups: bool = True
    """Put each sandbox in its own memory and pids cgroup where the machine allows it."""

    max_apps: int = 16
    """Hosted apps (mode ``app``) running at once; each holds a uid and a cgroup slot."""

    app_limits: SandboxLimits = field(default_factory=lambda: DEFAULT_APP_LIMITS)
    """Limits of a hosted app. No wall-clock limit applies (apps stop at their TTL); the CPU
    limit is the app's whole lifetime, after which the kernel kills it (reported as a crash)."""


WARM_LANGUAGES = ("python", "bash")


@dataclass
class WarmSandbox:
    """A warm sandbox: bwrap + the bootstrap, waiting on ``job_fd`` for its one job."""

    process: subprocess.Popen[bytes]
    job_fd: int
    archive_fd: int
    uid_index: int


@dataclass
class RawResult:
    exit_code: int
    stdout: bytes
    stderr: bytes
    archive: bytes
    duration_ms: float
    killed_reason: KilledReason | None
    stdout_truncated: bool
    stderr_truncated: bool


def reachable_by_others(path: Path) -> bool:
    """Whether a user other than the owner can traverse to and execute/read ``path``."""
    try:
        for part in [*reversed(path.parents), path]:
            mode = part.stat().st_mode
            if part != path and not mode & 0o001:
                return False
        return bool(path.stat().st_mode & 0o005)
    except OSError:
        return False


def pick_python(configured: str | None) -> str | None:
    """The interpreter to run ``python`` code with, as a path valid inside the sandbox."""
    if configured is not None:
        return configured
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    own = Path(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))
    for candidate in (own, Path(f"/usr/bin/python{version}"), Path("/usr/bin/python3")):
        if str(candidate).startswith("/usr/") and reachable_by_others(candidate):
            return str(candidate)
    return None


def memfd(name: str, data: bytes) -> int:
    fd = os.memfd_create(name, 0)
    write_all(fd, data)
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
