"""Per-call limits: a request's values checked against the admin ceilings, and their rlimits.

The rlimits are set inside the sandbox, in the process that then runs the code: by the cold
path's shell (``ulimit``, soft = hard) in the subshell that executes the code, and by a warm
sandbox's bootstrap (``setrlimit``) in the child it forks for the code. Either way they hold
before a single line of user code runs and cannot be raised.
"""

from __future__ import annotations

from dataclasses import replace

from nexus.core.sandbox_types import ExecRequest, SandboxLimitError, SandboxLimits


def resolve_limits(
    request: ExecRequest, defaults: SandboxLimits, ceilings: SandboxLimits
) -> SandboxLimits:
    """The limits for ``request``: its own values or the defaults, each at most the ceiling."""
    timeout_s = request.timeout_s if request.timeout_s is not None else defaults.timeout_s
    memory_mb = request.memory_mb if request.memory_mb is not None else defaults.memory_mb
    if not 0 < timeout_s <= ceilings.timeout_s:
        raise SandboxLimitError(
            f"timeout_s must be above 0 and at most {ceilings.timeout_s:g} (the admin ceiling)",
            field="timeout_s",
        )
    if not 16 <= memory_mb <= ceilings.memory_mb:
        raise SandboxLimitError(
            f"memory_mb must be between 16 and {ceilings.memory_mb} (the admin ceiling)",
            field="memory_mb",
        )
    chosen = replace(defaults, timeout_s=timeout_s, memory_mb=memory_mb)
    # Defaults never exceed ceilings either: an admin lowering a ceiling lowers the default.
    return SandboxLimits(
        timeout_s=chosen.timeout_s,
        cpu_s=max(1, min(chosen.cpu_s, ceilings.cpu_s, int(timeout_s) + 1)),
        memory_mb=chosen.memory_mb,
        processes=min(chosen.processes, ceilings.processes),
        file_size_mb=min(chosen.file_size_mb, ceilings.file_size_mb),
        open_files=min(chosen.open_files, ceilings.open_files),
        output_bytes=min(chosen.output_bytes, ceilings.output_bytes),
        workspace_mb=min(chosen.workspace_mb, ceilings.workspace_mb),
    )


def ulimit_command(limits: SandboxLimits, *, address_space: bool = True) -> str:
    """Dash ``ulimit`` commands setting every rlimit (dash counts file size in 512-byte blocks)."""
    settings = (
        ("c", 0),
        ("v", limits.memory_mb * 1024 if address_space else "unlimited"),
        ("p", limits.processes),
        ("f", limits.file_size_mb * 2048),
        ("n", limits.open_files),
    )
    # CPU: SIGXCPU at the soft limit (reported as cpu_limit), SIGKILL a second later.
    cpu = f"ulimit -S -t {limits.cpu_s} && ulimit -H -t {limits.cpu_s + 1}"
    return " && ".join([cpu, *(f"ulimit -{flag} {value}" for flag, value in settings)])


def rlimit_settings(limits: SandboxLimits, *, address_space: bool = True) -> list[list[object]]:
    """The same rlimits as ``ulimit_command``, as ``[resource name, soft, hard]`` triples."""
    mb = 1024 * 1024
    settings: list[list[object]] = [
        ["RLIMIT_CPU", limits.cpu_s, limits.cpu_s + 1],
        ["RLIMIT_CORE", 0, 0],
        ["RLIMIT_NPROC", limits.processes, limits.processes],
        ["RLIMIT_FSIZE", limits.file_size_mb * mb, limits.file_size_mb * mb],
        ["RLIMIT_NOFILE", limits.open_files, limits.open_files],
    ]
    if address_space:
        settings.insert(1, ["RLIMIT_AS", limits.memory_mb * mb, limits.memory_mb * mb])
    return settings
