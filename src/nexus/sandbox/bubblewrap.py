"""``BubblewrapSandbox``: every execution in a fresh bwrap sandbox.

Modes: ``code`` (no network; warm or cold), ``validation`` (cold; HTTP(S) only to the call's
allow-list through ``nexus.sandbox.egress_proxy``) and ``app`` (``start_app``: a long-running
web app behind a Unix socket, see ``nexus.sandbox.app_mode``). Memory and pids cgroups per
sandbox where writable: ``nexus.sandbox.cgroups``. The bwrap command line is built in
``nexus.sandbox.launch``, the warm pool lives in ``nexus.sandbox.pool``.

Each execution gets new user, pid, ipc, uts, mount, network and cgroup namespaces, no further
user namespaces, a new session, and dies with its parent. Inside it runs as an unprivileged
uid with no capabilities, NoNewPrivs and the seccomp filter of ``nexus.sandbox.seccomp``;
outside (when Nexus runs as root) each live sandbox, running or warm, is its own unprivileged
host uid, so sibling sandboxes share neither rlimit counters nor signal permissions. The root
file system is a tmpfs holding read-only binds of ``/usr`` and a few ``/etc`` files; the
workspace and ``/tmp`` are size-limited tmpfs mounts, so nothing the code writes touches the
host. The environment is
explicit. A wall-clock deadline kills bwrap's process group; bwrap's init then dies
(``--die-with-parent``) and the kernel kills everything left in the pid namespace, before the
call returns.

Warm pool: per language (``python``, ``bash``), ``warm_pool`` sandboxes are built ahead of
time with the interpreter already started, each waiting for exactly one job (see
``nexus.sandbox.warm``); a background thread refills the pool. A warm sandbox is built like a
cold one and has no rlimits until its job arrives: the bootstrap sets the job's own rlimits in
the process that runs the code, so the pool serves calls with any per-call limits (the
workspace size is fixed by configuration, not per call). A call that finds the pool empty
starts a cold sandbox. Warm sandboxes die with the refill thread (``--die-with-parent``), are
killed and reaped by ``close()``, and are never reused.

When Nexus runs as root, bwrap is started through ``setpriv`` (util-linux) to switch to the
slot uid, so ``subprocess`` can use vfork: with ``user=``/``group=`` it must fork, which
copies the server's page tables (24 ms per spawn from a 500 MB process, measured; 2 ms with
setpriv and vfork).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from nexus.core.errors import InvalidInputError
from nexus.core.sandbox_types import (
    LANGUAGES,
    ExecRequest,
    ExecResult,
    SandboxLimits,
    SandboxUnavailableError,
)
from nexus.sandbox import seccomp
from nexus.sandbox.app_mode import AppProcess, start_app
from nexus.sandbox.cgroups import Cgroups
from nexus.sandbox.collect import cancelled_result, collect
from nexus.sandbox.config import (
    CODE_DIR,
    MAX_CODE_BYTES,
    SCRIPT_NAMES,
    WARM_LANGUAGES,
    BubblewrapConfig,
    RawResult,
    WarmSandbox,
    memfd,
    pick_python,
    reachable_by_others,
)
from nexus.sandbox.egress_proxy import EgressProxy
from nexus.sandbox.launch import Launcher
from nexus.sandbox.limits import resolve_limits
from nexus.sandbox.pool import WarmPool
from nexus.sandbox.relay import (
    EGRESS_DIR,
    EGRESS_PORT,
    EGRESS_SOCKET,
    RELAY,
    RELAY_PATH,
    relay_command,
)
from nexus.sandbox.selftest import (
    INSTALL_HINT,
    SELF_TEST_SCRIPT,
    find_bwrap,
    self_test_failure,
)
from nexus.sandbox.warm import (
    MAX_WARM_BASH_BYTES,
    encode_job,
)
from nexus.sandbox.workspace import changed_files, pack_files


class BubblewrapSandbox(Launcher, WarmPool):
    """The bubblewrap ``Sandbox``. Call ``start()`` once (it runs the self-test)."""

    def __init__(
        self, config: BubblewrapConfig | None = None, *, egress: EgressProxy | None = None
    ) -> None:
        """``egress``: the proxy of mode ``validation`` (default: one with the SSRF guard)."""
        self.config = config if config is not None else BubblewrapConfig()
        self._egress = egress if egress is not None else EgressProxy()
        self._cgroups: Cgroups | None = None
        self.isolation: dict[str, str] = {}
        """What the self-test found at start-up (e.g. whether cgroups are in use)."""
        self._bwrap: str | None = None
        self._failure: SandboxUnavailableError | None = None
        self._filter = seccomp.build_filter() if seccomp.supported() else b""
        self._python = pick_python(self.config.python)
        self._node = "/usr/bin/node" if reachable_by_others(Path("/usr/bin/node")) else None
        self._static_args = self._build_static_args()
        self._env_args = self._env()
        unknown = set(self.config.warm_pool) - set(WARM_LANGUAGES)
        if unknown:
            raise ValueError(f"warm_pool: only {', '.join(WARM_LANGUAGES)} can be warm")
        self._setpriv = (
            shutil.which("setpriv", path="/usr/bin:/bin") if self.config.setpriv else None
        )
        self._workspace_mb = min(
            self.config.defaults.workspace_mb, self.config.ceilings.workspace_mb
        )
        self._slots = threading.BoundedSemaphore(self.config.max_concurrency)
        pool_total = sum(max(0, size) for size in self.config.warm_pool.values())
        # Every live sandbox holds its own uid: at most one per running call plus the pool.
        self._uids: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(self.config.max_concurrency + pool_total):
            self._uids.put(index)
        # Hosted apps hold a uid (and cgroup slot) for as long as they run: a separate range.
        self.app_uids: queue.SimpleQueue[int] = queue.SimpleQueue()
        for index in range(self.config.max_apps):
            self.app_uids.put(self.config.max_concurrency + pool_total + index)
        self._pool: dict[str, collections.deque[WarmSandbox]] = {
            language: collections.deque()
            for language, size in self.config.warm_pool.items()
            if size > 0
        }
        self._pool_lock = threading.Lock()
        self._pool_wake = threading.Event()
        self._closed = False
        self.runs = {"warm": 0, "cold": 0}
        """Calls run so far, by kind of sandbox (for tests and benchmarks)."""
        self._refiller: threading.Thread | None = None
        self._threads = ThreadPoolExecutor(
            max_workers=self.config.max_concurrency, thread_name_prefix="sandbox"
        )

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Find bwrap and run the self-test; afterwards ``available`` tells the outcome."""
        try:
            if not self._filter:
                raise SandboxUnavailableError(
                    "code execution is disabled: the seccomp filter supports x86-64 only; "
                    + INSTALL_HINT
                )
            self._bwrap = find_bwrap(self.config.bwrap)
            if self.config.cgroups and self._cgroups is None:
                self._cgroups = Cgroups.detect()
            self.isolation["cgroups"] = (
                self._cgroups.describe()
                if self._cgroups is not None
                else "not in use (no writable memory/pids cgroup); rlimits only"
            )
            raw = self._run_cold("bash", SELF_TEST_SCRIPT, {}, self.config.defaults)
            self._failure = self_test_failure(
                raw.exit_code,
                raw.stdout.decode(errors="replace"),
                raw.stderr.decode(errors="replace"),
            )
        except SandboxUnavailableError as exc:
            self._failure = exc
        except OSError as exc:
            self._failure = SandboxUnavailableError(
                f"code execution is disabled: bwrap could not start ({exc}); " + INSTALL_HINT
            )
        if self._failure is None and self._pool and self._python is not None:
            self._start_pool()

    @property
    def available(self) -> bool:
        return self._bwrap is not None and self._failure is None

    def check_available(self) -> None:
        """``SandboxUnavailableError`` (how to install bwrap) unless the self-test passed."""
        if self._bwrap is None and self._failure is None:
            self.start()
        if self._failure is not None:
            raise self._failure

    def close(self) -> None:
        """Wait for running calls, then kill and reap every warm sandbox."""
        with self._pool_lock:
            self._closed = True
        self._pool_wake.set()
        self._threads.shutdown(wait=True)
        if self._refiller is not None:
            self._refiller.join()
        with self._pool_lock:
            idle = [warm for queue_ in self._pool.values() for warm in queue_]
            for queue_ in self._pool.values():
                queue_.clear()
        for warm in idle:
            self._discard(warm)
        self._egress.close()
        if self._cgroups is not None:
            self._cgroups.close()

    # -- execution -------------------------------------------------------------------------

    async def execute(self, request: ExecRequest) -> ExecResult:
        """Run ``request`` on a worker thread. Cancelling the awaiting task kills the
        sandbox's process group at once (instead of at its wall-clock timeout); the
        cancellation propagates once the thread has reaped it and released its slot."""
        limits = self._check(request)
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        future = loop.run_in_executor(self._threads, self._run_request, request, limits, cancel)
        try:
            raw = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()
            await asyncio.wait([future])
            if not future.cancelled():
                future.exception()  # retrieved: the caller gets the cancellation
            raise
        return self._result(raw, request)

    def execute_sync(self, request: ExecRequest) -> ExecResult:
        """``execute`` for callers without an event loop (CLI, benchmarks)."""
        limits = self._check(request)
        return self._result(self._run_request(request, limits), request)

    def _run_request(
        self, request: ExecRequest, limits: SandboxLimits, cancel: threading.Event | None = None
    ) -> RawResult:
        """``cancel`` set: the caller gave up; a sandbox not started yet is not started, a
        running one is killed."""
        if request.mode == "validation":
            if self._bwrap is None:
                raise SandboxUnavailableError("code execution is disabled; " + INSTALL_HINT)
            with self._slots:
                if cancel is not None and cancel.is_set():
                    return cancelled_result()
                self._count("cold")
                return self._run_cold(
                    request.language,
                    request.code,
                    request.files,
                    limits,
                    allow_hosts=tuple(request.allow_hosts),
                    cancel=cancel,
                )
        return self._run(request.language, request.code, request.files, limits, cancel)

    def _check(self, request: ExecRequest) -> SandboxLimits:
        self.check_available()
        if request.language not in LANGUAGES:
            raise InvalidInputError(
                f"language must be one of {', '.join(LANGUAGES)}", field="language"
            )
        if request.language == "python" and self._python is None:
            raise InvalidInputError(
                "no Python interpreter is reachable inside the sandbox; set the sandbox python "
                "path or install python3 under /usr",
                field="language",
            )
        if request.language == "node" and self._node is None:
            raise InvalidInputError(
                "node is not installed on this server (install the nodejs package)",
                field="language",
            )
        if request.mode == "app":
            raise InvalidInputError(
                "mode 'app' serves a web app: start it with start_app (POST /api/v1/apps)",
                field="mode",
            )
        if request.mode == "validation":
            if self._python is None:
                raise InvalidInputError(
                    "mode 'validation' needs a Python interpreter inside the sandbox (the relay)",
                    field="mode",
                )
        elif request.allow_hosts:
            raise InvalidInputError(
                "allow_hosts needs mode 'validation' (mode 'code' has no network)",
                field="allow_hosts",
            )
        elif request.network:
            raise InvalidInputError(
                "mode 'code' has no network; outbound HTTP needs mode 'validation'",
                field="network",
            )
        if len(request.code.encode()) > MAX_CODE_BYTES:
            raise InvalidInputError(f"code is larger than {MAX_CODE_BYTES} bytes", field="code")
        return resolve_limits(request, self.config.defaults, self.config.ceilings)

    def _result(self, raw: RawResult, request: ExecRequest) -> ExecResult:
        limits_output = self.config.ceilings.workspace_mb * 1024 * 1024
        files = changed_files(raw.archive, request.files, limits_output) if raw.archive else {}
        return ExecResult(
            exit_code=raw.exit_code,
            stdout=raw.stdout.decode(errors="replace"),
            stderr=raw.stderr.decode(errors="replace"),
            duration_ms=raw.duration_ms,
            timed_out=raw.killed_reason == "timeout",
            killed_reason=raw.killed_reason,
            files_changed=files,
            stdout_truncated=raw.stdout_truncated,
            stderr_truncated=raw.stderr_truncated,
        )

    # -- running one sandbox ----------------------------------------------------------------

    def _run(
        self,
        language: str,
        code: str,
        files: dict[str, str],
        limits: SandboxLimits,
        cancel: threading.Event | None = None,
    ) -> RawResult:
        """One call: in a warm sandbox when one is ready, else in a cold one."""
        if self._bwrap is None:
            raise SandboxUnavailableError("code execution is disabled; " + INSTALL_HINT)
        with self._slots:
            if cancel is not None and cancel.is_set():
                return cancelled_result()
            if self._warm_fits(language, code, limits):
                job = encode_job(code, files, limits, language)  # Bad input fails first.
                warm = self._take(language)
                if warm is not None:
                    try:
                        raw = self._run_warm(warm, job, limits, cancel)
                    finally:
                        # Refill after the call, not during it: building a sandbox takes
                        # tens of ms of CPU that would compete with this call on a small host.
                        self._pool_wake.set()
                    if raw is not None:
                        self._count("warm")
                        return raw
            self._count("cold")
            return self._run_cold(language, code, files, limits, cancel=cancel)

    def _warm_fits(self, language: str, code: str, limits: SandboxLimits) -> bool:
        if language not in self._pool or limits.workspace_mb != self._workspace_mb:
            return False
        return language != "bash" or len(code.encode()) <= MAX_WARM_BASH_BYTES

    def _count(self, kind: str) -> None:
        with self._pool_lock:
            self.runs[kind] += 1

    def _run_cold(
        self,
        language: str,
        code: str,
        files: dict[str, str],
        limits: SandboxLimits,
        *,
        allow_hosts: tuple[str, ...] | None = None,
        cancel: threading.Event | None = None,
    ) -> RawResult:
        """A fresh sandbox; ``allow_hosts`` (not ``None``) makes it mode ``validation``."""
        uid_index = self._uids.get()
        fds: list[int] = []
        try:
            if allow_hosts is None:
                return self._cold(language, code, files, limits, uid_index, fds, cancel=cancel)
            with self._egress_dir(uid_index) as (directory, session_path):
                with self._egress.session(allow_hosts, session_path, self.host_uid(uid_index)):
                    return self._cold(
                        language,
                        code,
                        files,
                        limits,
                        uid_index,
                        fds,
                        egress=directory,
                        cancel=cancel,
                    )
        finally:
            for fd in fds:
                os.close(fd)
            self._uids.put(uid_index)

    @contextlib.contextmanager
    def _egress_dir(self, uid_index: int) -> Iterator[tuple[str, str]]:
        """A private host directory for the proxy socket, owned by the slot's uid."""
        directory = tempfile.mkdtemp(prefix="nexus-egress-")
        try:
            host_uid = self.host_uid(uid_index)
            if host_uid is not None:
                os.chown(directory, host_uid, host_uid)
            yield directory, os.path.join(directory, os.path.basename(EGRESS_SOCKET))
        finally:
            shutil.rmtree(directory, ignore_errors=True)

    def _cold(
        self,
        language: str,
        code: str,
        files: dict[str, str],
        limits: SandboxLimits,
        uid_index: int,
        fds: list[int],
        *,
        egress: str | None = None,
        cancel: threading.Event | None = None,
    ) -> RawResult:
        """Run one cold sandbox; ``fds`` collects descriptors for the caller to close."""
        script = memfd("code", code.encode())
        fds.append(script)
        data = [(script, f"{CODE_DIR}/{SCRIPT_NAMES[language]}")]
        if files:
            tar = memfd("input", pack_files(files))
            fds.append(tar)
            data.append((tar, f"{CODE_DIR}/in.tar"))
        prelude: tuple[str, ...] = ()
        binds: tuple[tuple[str, str, bool], ...] = ()
        env: dict[str, str] = {}
        if egress is not None:
            assert self._python is not None
            relay = memfd("relay", RELAY.encode())
            fds.append(relay)
            data.append((relay, RELAY_PATH))
            binds = ((egress, EGRESS_DIR, False),)
            proxy = f"http://127.0.0.1:{EGRESS_PORT}"
            for key in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
                env[key] = proxy
            prelude = (
                relay_command(self._python, ("tcp", str(EGRESS_PORT)), ("unix", EGRESS_SOCKET)),
            )
        archive_read, archive_write = os.pipe()
        fds += [archive_read, archive_write]
        started = time.perf_counter()
        oom_before = self._cgroups.oom_kills(uid_index) if self._cgroups else 0
        process = self._popen(
            data,
            ["/bin/sh", "-c", self._shell(limits, language, bool(files), prelude)],
            limits.workspace_mb,
            stdin=archive_write,
            extra_fds=[],
            uid_index=uid_index,
            limits=limits,
            binds=binds,
            env=env,
        )
        for fd in fds[:-2]:
            os.close(fd)
        os.close(archive_write)
        fds[:] = [archive_read]
        raw = collect(process, archive_read, limits, started, cancel)
        return self._note_oom(raw, uid_index, oom_before)

    def start_app(
        self, files: dict[str, str], entry: str, limits: SandboxLimits | None = None
    ) -> AppProcess:
        """Start ``entry`` (a file of ``files``) as a web app in mode ``app``; see
        ``nexus.sandbox.app_mode``. Raises ``ConflictError`` when every app slot is taken."""
        self.check_available()
        return start_app(
            self, files, entry, limits if limits is not None else self.config.app_limits
        )


def bwrap_installed() -> bool:
    """Whether a ``bwrap`` executable is on ``PATH`` (the self-test decides if it works)."""
    return shutil.which("bwrap") is not None
