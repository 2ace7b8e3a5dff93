"""The sandbox seam: what a code execution asks for, what it returns, and who runs it.

Tools, workflow nodes and the API depend on the ``Sandbox`` protocol defined here; the
bubblewrap implementation lives in ``nexus.sandbox``. Everything a sandbox returns (output,
files) was produced by untrusted code and is treated as data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from nexus.core.errors import ConfigurationError, InvalidInputError

Language = Literal["python", "bash", "node"]
Mode = Literal["code", "validation", "app"]
KilledReason = Literal["timeout", "cpu_limit", "file_size_limit", "output_limit", "memory_limit"]

LANGUAGES: tuple[str, ...] = ("python", "bash", "node")
MODES: tuple[str, ...] = ("code", "validation", "app")


class SandboxUnavailableError(ConfigurationError):
    """Code execution is refused: bubblewrap is missing or failed its self-test."""

    code = "sandbox_unavailable"


class SandboxLimitError(InvalidInputError):
    """A request asked for more than the admin-configured ceilings allow (names the field)."""

    code = "sandbox_limit"


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of one execution. Used twice: per-call defaults and admin ceilings."""

    timeout_s: float = 10.0
    """Wall-clock limit; the whole process tree is killed when it passes."""

    cpu_s: int = 10
    """CPU seconds (RLIMIT_CPU); the process is killed by SIGXCPU past it."""

    memory_mb: int = 512
    """Address space per process (RLIMIT_AS)."""

    processes: int = 64
    """Processes and threads of the sandbox user (RLIMIT_NPROC)."""

    file_size_mb: int = 16
    """Largest file the code may write (RLIMIT_FSIZE)."""

    open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""

    output_bytes: int = 1_000_000
    """Captured stdout and stderr, each; the code is killed when it writes more."""

    workspace_mb: int = 64
    """Size of the writable workspace (and of ``/tmp``), both memory-backed."""


@dataclass(frozen=True)
class ExecRequest:
    """One execution: code in a language, optional input files, optional per-call limits."""

    language: Language
    """``python`` (the platform's interpreter), ``bash``, or ``node`` where installed."""

    code: str
    """Source text, run as a script with the workspace as working directory."""

    files: dict[str, str] = field(default_factory=dict)
    """Input files, relative path in the workspace -> text content."""

    timeout_s: float | None = None
    """Wall-clock limit; ``None`` takes the default. Never above the ceiling."""

    memory_mb: int | None = None
    """Address-space limit; ``None`` takes the default. Never above the ceiling."""

    network: bool = False
    """Outbound network; only mode ``validation`` can have it (through the egress proxy)."""

    mode: Mode = "code"
    """``code`` (no network), ``validation`` (allow-listed egress), ``app`` (serves HTTP)."""

    allow_hosts: tuple[str, ...] = ()
    """Mode ``validation`` only: hosts the egress proxy lets the code reach (``host``,
    ``host:port`` or ``*.domain``), each also checked by the SSRF guard."""


@dataclass(frozen=True)
class ExecResult:
    """What came out of one execution. Output and files are untrusted data."""

    exit_code: int
    """Exit status of the code; negative (``-signal``) when the sandbox killed it."""

    stdout: str
    stderr: str
    duration_ms: float
    """Wall-clock time of the whole sandboxed execution."""

    timed_out: bool = False
    killed_reason: KilledReason | None = None
    """Why the code was stopped, if it was: a limit it went over."""

    files_changed: dict[str, str] = field(default_factory=dict)
    """Workspace files created or modified by the code, path -> text (UTF-8, replaced)."""

    stdout_truncated: bool = False
    stderr_truncated: bool = False


class Sandbox(Protocol):
    """Runs untrusted code in isolation. There is no unsandboxed implementation."""

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run ``request``; ``SandboxLimitError`` if it asks for more than the ceilings,
        ``SandboxUnavailableError`` if isolation is not available."""
        ...
