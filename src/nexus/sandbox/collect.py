"""Collecting one sandbox's output: capped stdout/stderr, the workspace archive, the deadline.

Split from ``nexus.sandbox.bubblewrap``. ``collect`` reads the three pipes of a running bwrap
until they close, kills the process group when the wall-clock deadline passes, an output
cap is exceeded or the caller sets ``cancel`` (the awaiting task was cancelled), and returns
the ``RawResult``. The pipes close only once every process of the sandbox has exited, so when
``collect`` returns after a kill nothing of the sandbox is left.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time

from nexus.core.sandbox_types import KilledReason, SandboxLimits
from nexus.sandbox.config import KILL_GRACE_S, SIGNAL_REASONS, RawResult

CANCEL_POLL_S = 0.05
"""How often a call that may be cancelled checks its ``cancel`` event while waiting."""


def collect(
    process: subprocess.Popen[bytes],
    archive_fd: int,
    limits: SandboxLimits,
    started: float,
    cancel: threading.Event | None = None,
) -> RawResult:
    assert process.stdout is not None and process.stderr is not None
    caps = {
        process.stdout.fileno(): limits.output_bytes,
        process.stderr.fileno(): limits.output_bytes,
        archive_fd: limits.workspace_mb * 1024 * 1024 + 1024 * 1024,
    }
    chunks: dict[int, list[bytes]] = {fd: [] for fd in caps}
    sizes = dict.fromkeys(caps, 0)
    truncated = dict.fromkeys(caps, False)
    killed: KilledReason | None = None
    cancelled = False
    deadline = started + limits.timeout_s
    selector = selectors.DefaultSelector()
    for fd in caps:
        os.set_blocking(fd, False)
        selector.register(fd, selectors.EVENT_READ)
    try:
        while selector.get_map():
            if cancel is not None and not cancelled and cancel.is_set():
                cancelled = True
                kill_group(process)
                deadline = time.perf_counter() + KILL_GRACE_S
            timeout = deadline - time.perf_counter()
            if timeout <= 0:
                if killed is not None or cancelled:
                    break  # Still open after the grace period: stop waiting for it.
                killed = "timeout"
                kill_group(process)
                deadline = time.perf_counter() + KILL_GRACE_S
                continue
            if cancel is not None and not cancelled:
                timeout = min(timeout, CANCEL_POLL_S)
            for key, _ in selector.select(timeout):
                fd = key.fd
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(fd)
                    continue
                room = caps[fd] - sizes[fd]
                if len(data) > room:
                    truncated[fd] = True
                    data = data[: max(room, 0)]
                    if fd != archive_fd and killed is None:
                        killed = "output_limit"
                        kill_group(process)
                        deadline = time.perf_counter() + KILL_GRACE_S
                if data:
                    chunks[fd].append(data)
                    sizes[fd] += len(data)
    finally:
        selector.close()
    if killed is not None or cancelled:
        kill_group(process)
    try:
        exit_code = process.wait(timeout=KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        kill_group(process)
        exit_code = process.wait()
    process.stdout.close()
    process.stderr.close()
    duration_ms = (time.perf_counter() - started) * 1000
    if killed is None:
        killed = SIGNAL_REASONS.get(exit_code)
    fds = list(caps)
    return RawResult(
        exit_code=exit_code
        if killed not in ("timeout", "output_limit") and not cancelled
        else -signal.SIGKILL,
        stdout=b"".join(chunks[fds[0]]),
        stderr=b"".join(chunks[fds[1]]),
        archive=b"".join(chunks[archive_fd]) if killed is None and not cancelled else b"",
        duration_ms=duration_ms,
        killed_reason=killed,
        stdout_truncated=truncated[fds[0]],
        stderr_truncated=truncated[fds[1]],
    )


def cancelled_result() -> RawResult:
    """The result of a call cancelled before its sandbox started (the caller discards it)."""
    return RawResult(
        exit_code=-signal.SIGKILL,
        stdout=b"",
        stderr=b"",
        archive=b"",
        duration_ms=0.0,
        killed_reason=None,
        stdout_truncated=False,
        stderr_truncated=False,
    )


def kill_group(process: subprocess.Popen[bytes]) -> None:
    # bwrap leads its own process group; its init dies with it and takes the pid namespace.
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
