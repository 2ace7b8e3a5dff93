"""Mode ``app``: a project's web app, long-running in a sandbox, reached over a Unix socket.

The app runs in a sandbox built like every other (namespaces, seccomp, rlimits, cgroups where
writable, an unprivileged uid of its own, the project's files in a tmpfs workspace) whose
network namespace has only ``lo``. **The app listens on TCP ``127.0.0.1:$PORT``** (``PORT`` is
8080, ``HOST`` is 127.0.0.1, both in its environment), as every framework can; the in-sandbox
relay of ``nexus.sandbox.relay`` listens on the Unix socket ``/run/app/app.sock`` and forwards
each connection to it. ``/run/app`` is a private host directory bound into the sandbox, so the
API reaches the app through the socket (``httpx.AsyncHTTPTransport(uds=...)``) and nothing
else can: the app has no route out and the host's loopback is not its loopback.

``AppProcess`` is the running app: ``wait_healthy`` polls until the app answers an HTTP
request (any status), ``stop`` kills the sandbox's process group (the pid namespace takes the
rest), ``exit_info`` reports a crash (exit code, kill reason, stderr tail) and ``usage`` sums
CPU time and RSS over the sandbox's process tree from ``/proc``. Nothing here restarts an app.
"""

from __future__ import annotations

import os
import posixpath
import queue
import selectors
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nexus.core.errors import ConflictError, InvalidInputError
from nexus.core.sandbox_types import KilledReason, SandboxLimits
from nexus.sandbox.collect import kill_group
from nexus.sandbox.config import KILL_GRACE_S, SIGNAL_REASONS, WORKSPACE, memfd
from nexus.sandbox.limits import ulimit_command
from nexus.sandbox.relay import (
    APP_DIR,
    APP_PORT,
    APP_SOCKET,
    APP_SOCKET_NAME,
    RELAY,
    RELAY_PATH,
    relay_command,
)
from nexus.sandbox.workspace import check_path, pack_files

if TYPE_CHECKING:
    from nexus.sandbox.bubblewrap import BubblewrapSandbox

ENTRY_LANGUAGES = {".py": "python", ".sh": "bash", ".js": "node"}
STDERR_TAIL_BYTES = 4000
INPUT_TAR = "/run/nexus/in.tar"


@dataclass(frozen=True)
class AppExit:
    """How an app ended: its exit code (negative: killed by that signal), why, its last words."""

    exit_code: int
    killed_reason: KilledReason | None
    stderr_tail: str
    stopped: bool
    """``True`` when Nexus stopped it (DELETE, TTL, shutdown); ``False``: it crashed or exited."""


class AppProcess:
    """One running app sandbox. Built by ``start_app``."""

    def __init__(
        self,
        process: subprocess.Popen[bytes],
        socket_path: str,
        slot: tuple[BubblewrapSandbox, int, str],
        tail_bytes: int,
    ) -> None:
        self.process = process
        self.socket_path = socket_path
        self.started = time.monotonic()
        self._box, self._uid_index, self._directory = slot
        cgroups = self._box._cgroups
        self._oom_before = cgroups.oom_kills(self._uid_index) if cgroups is not None else 0
        self._tail_bytes = tail_bytes
        self._tails: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        self._stopped = False
        self._exit: AppExit | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._drain = threading.Thread(target=self._drain_output, name="app-output", daemon=True)
        self._drain.start()

    # -- output and exit ----------------------------------------------------------------------

    def _drain_output(self) -> None:
        assert self.process.stdout is not None and self.process.stderr is not None
        streams = {self.process.stdout.fileno(): "stdout", self.process.stderr.fileno(): "stderr"}
        with selectors.DefaultSelector() as selector:
            for fd in streams:
                selector.register(fd, selectors.EVENT_READ)
            while selector.get_map():
                for key, _ in selector.select():
                    data = os.read(key.fd, 65536)
                    if not data:
                        selector.unregister(key.fd)
                        continue
                    with self._lock:
                        tail = self._tails[streams[key.fd]]
                        tail += data
                        del tail[: max(0, len(tail) - self._tail_bytes)]
        code = self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()
        with self._lock:
            stderr = bytes(self._tails["stderr"][-STDERR_TAIL_BYTES:])
            reason = SIGNAL_REASONS.get(code)
            if code in (-9, 128 + 9) and not self._stopped and reason is None:
                reason = self._memory_reason()
            self._exit = AppExit(
                exit_code=code,
                killed_reason=reason,
                stderr_tail=stderr.decode(errors="replace"),
                stopped=self._stopped,
            )
        self._free()
        self._done.set()

    def _memory_reason(self) -> KilledReason | None:
        cgroups = self._box._cgroups
        if cgroups is not None and cgroups.oom_kills(self._uid_index) > self._oom_before:
            return "memory_limit"
        return None

    def _free(self) -> None:
        shutil.rmtree(self._directory, ignore_errors=True)
        self._box.app_uids.put(self._uid_index)

    @property
    def running(self) -> bool:
        return not self._done.is_set()

    def exit_info(self) -> AppExit | None:
        """``None`` while the app runs; afterwards how it ended."""
        with self._lock:
            return self._exit

    def output_tail(self, stream: str = "stderr") -> str:
        with self._lock:
            return bytes(self._tails[stream]).decode(errors="replace")

    # -- control ------------------------------------------------------------------------------

    def wait_healthy(self, timeout_s: float) -> bool:
        """Poll until the app answers HTTP on its socket (``True``) or exits / times out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not self.running:
                return False
            if self.answers():
                return True
            self._done.wait(0.05)
        return False

    def answers(self) -> bool:
        """Whether an HTTP request through the socket gets an HTTP status line back."""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
                client.settimeout(2.0)
                client.connect(self.socket_path)
                client.sendall(b"GET / HTTP/1.0\r\nHost: app\r\n\r\n")
                return client.recv(5) == b"HTTP/"
        except OSError:
            return False

    def stop(self) -> AppExit | None:
        """Kill the app's sandbox (process group, then the pid namespace) and wait for it."""
        with self._lock:
            if self._exit is None:
                self._stopped = True
        kill_group(self.process)
        self._done.wait(KILL_GRACE_S * 5)
        return self.exit_info()

    def usage(self) -> dict[str, float]:
        """CPU seconds and resident memory of the sandbox's process tree, from ``/proc``."""
        if not self.running:
            return {"cpu_s": 0.0, "rss_bytes": 0.0}
        return process_tree_usage(self.process.pid)


def process_tree_usage(root: int) -> dict[str, float]:
    """Sum of utime+stime (seconds) and RSS (bytes) of ``root`` and all its descendants."""
    children: dict[int, list[int]] = {}
    stats: dict[int, tuple[int, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            text = (entry / "stat").read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        pid = int(entry.name)
        children.setdefault(int(fields[1]), []).append(pid)
        stats[pid] = (int(fields[11]) + int(fields[12]), int(fields[21]))
    ticks = os.sysconf("SC_CLK_TCK")
    page = os.sysconf("SC_PAGE_SIZE")
    cpu = rss = 0
    todo = [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            cpu += stats[pid][0]
            rss += stats[pid][1]
        todo += children.get(pid, [])
    return {"cpu_s": cpu / ticks, "rss_bytes": float(rss * page)}


def _entry_command(box: BubblewrapSandbox, entry: str, language: str) -> list[str]:
    path = posixpath.join(WORKSPACE, entry)
    if language == "python":
        if box._python is None:
            raise InvalidInputError("no Python interpreter for the app", field="entry")
        return [box._python, "-S", path]
    if language == "node":
        if box._node is None:
            raise InvalidInputError("node is not installed on this server", field="entry")
        return [box._node, path]
    return ["/bin/bash", path]


def start_app(
    box: BubblewrapSandbox, files: dict[str, str], entry: str, limits: SandboxLimits
) -> AppProcess:
    """Start ``entry`` of ``files`` in a new app sandbox (not yet healthy: see
    ``AppProcess.wait_healthy``)."""
    try:
        entry = check_path(entry)
    except InvalidInputError as exc:
        raise InvalidInputError(exc.message.replace("file path", "entry"), field="entry") from None
    normal = {check_path(path) for path in files}
    if entry not in normal:
        raise InvalidInputError(f"entry {entry!r} is not a file of the project", field="entry")
    language = ENTRY_LANGUAGES.get(posixpath.splitext(entry)[1])
    if language is None:
        raise InvalidInputError(
            "entry must be a .py, .sh or .js file (the app listens on 127.0.0.1:$PORT)",
            field="entry",
        )
    command = _entry_command(box, entry, language)
    if box._python is None:
        raise InvalidInputError("mode 'app' needs a Python interpreter (the relay)", field="entry")
    archive = pack_files(files)
    try:
        uid_index = box.app_uids.get_nowait()
    except queue.Empty:
        raise ConflictError(
            f"all {box.config.max_apps} app slots are in use; stop an app first"
        ) from None
    directory = tempfile.mkdtemp(prefix="nexus-app-")
    fds: list[int] = []
    try:
        host_uid = box.host_uid(uid_index)
        if host_uid is not None:
            os.chown(directory, host_uid, host_uid)
        relay = memfd("relay", RELAY.encode())
        fds.append(relay)
        tar = memfd("input", archive)
        fds.append(tar)
        quoted = " ".join(f"'{part}'" for part in command)
        rlimits = ulimit_command(limits, address_space=language != "node")
        shell = "\n".join(
            [
                f"cd {WORKSPACE} || exit 125",
                f"tar -xf {INPUT_TAR} -C {WORKSPACE} 2>/dev/null || exit 125",
                relay_command(box._python, ("unix", APP_SOCKET), ("tcp", str(APP_PORT))),
                f"( {rlimits} && exec {quoted} </dev/null )",
            ]
        )
        devnull = os.open(os.devnull, os.O_RDONLY)
        fds.append(devnull)
        process = box._popen(
            [(relay, RELAY_PATH), (tar, INPUT_TAR)],
            ["/bin/sh", "-c", shell],
            limits.workspace_mb,
            stdin=devnull,
            extra_fds=[],
            uid_index=uid_index,
            limits=limits,
            binds=((directory, APP_DIR, True),),
            env={"PORT": str(APP_PORT), "HOST": "127.0.0.1"},
        )
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        box.app_uids.put(uid_index)
        raise
    finally:
        for fd in fds:
            os.close(fd)
    return AppProcess(
        process,
        os.path.join(directory, APP_SOCKET_NAME),
        (box, uid_index, directory),
        limits.output_bytes,
    )
