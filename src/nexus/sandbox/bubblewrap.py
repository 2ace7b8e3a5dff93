"""``BubblewrapSandbox``: every execution in a fresh bwrap sandbox, mode ``code`` (no network).

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
import select
import selectors
import shutil
import signal
import subprocess
import sysconfig
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
from nexus.sandbox.collect import collect, kill_group
from nexus.sandbox.config import (
    CODE_DIR,
    EXPORT_SCRIPT,
    KILL_GRACE_S,
    MAX_CODE_BYTES,
    SANDBOX_PACKAGES_DIR,
    SANDBOX_UID,
    SCRIPT_NAMES,
    WARM_LANGUAGES,
    WARM_SELF_TEST,
    WARM_START_TIMEOUT_S,
    WORKSPACE,
    BubblewrapConfig,
    RawResult,
    WarmSandbox,
    memfd,
    pick_python,
    reachable_by_others,
    write_all,
)
from nexus.sandbox.egress_proxy import EgressProxy
from nexus.sandbox.limits import resolve_limits, ulimit_command
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
    BOOTSTRAP,
    BOOTSTRAP_PATH,
    MAX_WARM_BASH_BYTES,
    READY,
    encode_job,
)
from nexus.sandbox.workspace import changed_files, pack_files


class BubblewrapSandbox:
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

    # -- warm pool ---------------------------------------------------------------------------

    def _start_pool(self) -> None:
        """Prove one warm sandbox isolates like the self-test, then keep the pool filled."""
        try:
            warm = self._spawn_warm()
        except OSError:
            self._pool.clear()
            return
        defaults = self.config.defaults
        raw = self._run_warm(warm, encode_job(WARM_SELF_TEST, {}, defaults), defaults)
        if raw is None or self_test_failure(
            raw.exit_code, raw.stdout.decode(errors="replace"), raw.stderr.decode(errors="replace")
        ):
            self._pool.clear()  # Cold sandboxes still work; warm ones did not prove themselves.
            return
        self._refiller = threading.Thread(
            target=self._refill_loop, name="sandbox-pool", daemon=True
        )
        self._refiller.start()

    def pool_sizes(self) -> dict[str, int]:
        """Warm sandboxes ready now, per language."""
        with self._pool_lock:
            return {language: len(queue_) for language, queue_ in self._pool.items()}

    def _refill_loop(self) -> None:
        # Warm sandboxes are spawned from this thread only: --die-with-parent ties them to it,
        # and it lives until close().
        while True:
            with self._pool_lock:
                if self._closed:
                    return
                short = [
                    language
                    for language, queue_ in self._pool.items()
                    if len(queue_) < self.config.warm_pool[language]
                ]
            if not short:
                self._pool_wake.wait()
                self._pool_wake.clear()
                continue
            try:
                warm = self._spawn_warm()
            except Exception:  # Calls start cold meanwhile; try again later.
                time.sleep(1.0)
                continue
            with self._pool_lock:
                if not self._closed:
                    self._pool[short[0]].append(warm)
                    warm = None
            if warm is not None:
                self._discard(warm)

    def _take(self, language: str) -> WarmSandbox | None:
        """A live warm sandbox for ``language``, or ``None`` (the caller starts a cold one)."""
        while True:
            with self._pool_lock:
                queue_ = self._pool.get(language)
                if self._closed or not queue_:
                    return None
                warm = queue_.popleft()
            if warm.process.poll() is None:
                return warm  # The caller wakes the refill once its call is done.
            self._discard(warm)
            self._pool_wake.set()

    def _spawn_warm(self) -> WarmSandbox:
        assert self._python is not None
        uid_index = self._uids.get()
        fds: list[int] = []
        try:
            boot = memfd("boot", BOOTSTRAP.encode())
            fds.append(boot)
            job_read, job_write = os.pipe()
            fds += [job_read, job_write]
            archive_read, archive_write = os.pipe()
            fds += [archive_read, archive_write]
            process = self._popen(
                [(boot, BOOTSTRAP_PATH)],
                ["/bin/sh", "-c", self._warm_shell(job_read)],
                self._workspace_mb,
                stdin=archive_write,
                extra_fds=[job_read],
                uid_index=uid_index,
            )
        except BaseException:
            for fd in fds:
                os.close(fd)
            self._uids.put(uid_index)
            raise
        for fd in (boot, job_read, archive_write):
            os.close(fd)
        warm = WarmSandbox(process, job_write, archive_read, uid_index)
        # Pooled only once the interpreter is up: a call never waits for (or competes with)
        # a sandbox still starting.
        ready, _, _ = select.select([archive_read], [], [], WARM_START_TIMEOUT_S)
        if not ready or os.read(archive_read, 1) != READY:
            self._discard(warm)
            raise OSError("a warm sandbox did not start")
        return warm

    def _discard(self, warm: WarmSandbox) -> None:
        """Kill ``warm`` and wait until nothing in it is left (its stdout reaches EOF)."""
        kill_group(warm.process)
        warm.process.wait()
        # bwrap's init and everything under it die after bwrap (die-with-parent, then the
        # pid namespace): the last of them closing stdout marks the end.
        assert warm.process.stdout is not None
        fd = warm.process.stdout.fileno()
        deadline = time.monotonic() + KILL_GRACE_S
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0 and selector.select(left):
                if not os.read(fd, 65536):
                    break
        for stream in (warm.process.stdout, warm.process.stderr):
            if stream is not None:
                stream.close()
        for fd in (warm.job_fd, warm.archive_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        self._uids.put(warm.uid_index)

    def _run_warm(self, warm: WarmSandbox, job: bytes, limits: SandboxLimits) -> RawResult | None:
        """Hand ``warm`` its job and collect the result; ``None`` if it was already dead."""
        started = time.perf_counter()
        if self._cgroups is not None:
            self._cgroups.limit(warm.uid_index, limits)
        try:
            write_all(warm.job_fd, job)
        except OSError:
            self._discard(warm)
            return None
        os.close(warm.job_fd)
        warm.job_fd = -1
        try:
            return collect(warm.process, warm.archive_fd, limits, started)
        finally:
            os.close(warm.archive_fd)
            warm.archive_fd = -1
            self._uids.put(warm.uid_index)

    # -- execution -------------------------------------------------------------------------

    async def execute(self, request: ExecRequest) -> ExecResult:
        limits = self._check(request)
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(self._threads, self._run_request, request, limits)
        return self._result(raw, request)

    def execute_sync(self, request: ExecRequest) -> ExecResult:
        """``execute`` for callers without an event loop (CLI, benchmarks)."""
        limits = self._check(request)
        return self._result(self._run_request(request, limits), request)

    def _run_request(self, request: ExecRequest, limits: SandboxLimits) -> RawResult:
        if request.mode == "validation":
            if self._bwrap is None:
                raise SandboxUnavailableError("code execution is disabled; " + INSTALL_HINT)
            with self._slots:
                self._count("cold")
                return self._run_cold(
                    request.language,
                    request.code,
                    request.files,
                    limits,
                    allow_hosts=tuple(request.allow_hosts),
                )
        return self._run(request.language, request.code, request.files, limits)

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

    # -- the bwrap command line -----------------------------------------------------------

    def _build_static_args(self) -> list[str]:
        args = [
            "--unshare-all",
            "--unshare-user",
            "--disable-userns",
            "--die-with-parent",
            "--new-session",
            "--cap-drop",
            "ALL",
            "--hostname",
            "sandbox",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("bin", "sbin", "lib", "lib64", "lib32"):
            host = Path("/") / top
            if host.is_symlink():
                args += ["--symlink", os.readlink(host), str(host)]
            elif host.is_dir():
                args += ["--ro-bind", str(host), str(host)]
        for etc in ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime"):
            if (Path("/etc") / etc).exists():
                args += ["--ro-bind", f"/etc/{etc}", f"/etc/{etc}"]
        site = Path(
            self.config.site_packages
            if self.config.site_packages is not None
            else sysconfig.get_paths()["purelib"]
        )
        for name in self.config.python_packages:
            source = site / name
            if source.exists() and reachable_by_others(source):
                args += ["--ro-bind", str(source), f"{SANDBOX_PACKAGES_DIR}/{name}"]
        args += ["--dir", SANDBOX_PACKAGES_DIR, "--proc", "/proc", "--dev", "/dev"]
        return args

    def _env(self) -> list[str]:
        env = {
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "HOME": WORKSPACE,
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "USER": "sandbox",
            "PYTHONPATH": f"{WORKSPACE}:{SANDBOX_PACKAGES_DIR}",
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
        out = ["--clearenv"]
        for key, value in env.items():
            out += ["--setenv", key, value]
        return out

    def _command(self, language: str, limits: SandboxLimits) -> list[str]:
        script = f"{CODE_DIR}/{SCRIPT_NAMES[language]}"
        if language == "python":
            assert self._python is not None
            return [self._python, "-S", script]  # -S: only the curated packages
        if language == "node":
            assert self._node is not None
            return [self._node, f"--max-old-space-size={limits.memory_mb}", script]
        return ["/bin/bash", script]

    def _shell(
        self, limits: SandboxLimits, language: str, extract: bool, prelude: tuple[str, ...] = ()
    ) -> str:
        # The code runs in a subshell under the rlimits with stdin from /dev/null. The shell's
        # own fd 0 is the write end of the export pipe (dash can only name fds 0-9, and fd 0
        # is the one number Popen lets us choose); afterwards the outer shell, free of the
        # rlimits, writes the workspace back on it as a tar.
        quoted = " ".join(f"'{part}'" for part in self._command(language, limits))
        # V8 reserves gigabytes of address space up front: node is bounded by its heap flag
        # (and the memory cgroup where available) instead of RLIMIT_AS.
        rlimits = ulimit_command(limits, address_space=language != "node")
        lines = [f"cd {WORKSPACE} || exit 125"]
        if extract:
            lines.append(f"tar -xf {CODE_DIR}/in.tar -C {WORKSPACE} 2>/dev/null || exit 125")
        lines += prelude
        lines.append(f"( {rlimits} && exec {quoted} </dev/null )")
        return "\n".join([*lines, *EXPORT_SCRIPT])

    def _warm_shell(self, job_fd: int) -> str:
        # Same outer shell as the cold path; the bootstrap reads its job from job_fd and sets
        # the job's rlimits on itself before running the code (see nexus.sandbox.warm).
        assert self._python is not None
        command = f"'{self._python}' -S {BOOTSTRAP_PATH} {job_fd}"
        return "\n".join([f"cd {WORKSPACE} || exit 125", command, *EXPORT_SCRIPT])

    # -- running one sandbox ----------------------------------------------------------------

    def _run(
        self, language: str, code: str, files: dict[str, str], limits: SandboxLimits
    ) -> RawResult:
        """One call: in a warm sandbox when one is ready, else in a cold one."""
        if self._bwrap is None:
            raise SandboxUnavailableError("code execution is disabled; " + INSTALL_HINT)
        with self._slots:
            if self._warm_fits(language, code, limits):
                job = encode_job(code, files, limits, language)  # Bad input fails first.
                warm = self._take(language)
                if warm is not None:
                    try:
                        raw = self._run_warm(warm, job, limits)
                    finally:
                        # Refill after the call, not during it: building a sandbox takes
                        # tens of ms of CPU that would compete with this call on a small host.
                        self._pool_wake.set()
                    if raw is not None:
                        self._count("warm")
                        return raw
            self._count("cold")
            return self._run_cold(language, code, files, limits)

    def _warm_fits(self, language: str, code: str, limits: SandboxLimits) -> bool:
        if language not in self._pool or limits.workspace_mb != self._workspace_mb:
            return False
        return language != "bash" or len(code.encode()) <= MAX_WARM_BASH_BYTES

    def _count(self, kind: str) -> None:
        with self._pool_lock:
            self.runs[kind] += 1

    def _popen(
        self,
        data: list[tuple[int, str]],
        command: list[str],
        workspace_mb: int,
        *,
        stdin: int,
        extra_fds: list[int],
        uid_index: int,
        limits: SandboxLimits | None = None,
        binds: tuple[tuple[str, str, bool], ...] = (),
        env: dict[str, str] | None = None,
        stdout: int = subprocess.PIPE,
    ) -> subprocess.Popen[bytes]:
        """Start bwrap with ``data`` (memfd, path) bound read-only, running ``command``;
        ``binds`` are host directories ``(host, inside, writable)``, ``env`` extra variables,
        ``limits`` the cgroup limits (default: the configured defaults)."""
        assert self._bwrap is not None
        size = str(workspace_mb * 1024 * 1024)
        passwd = memfd("passwd", b"sandbox:x:1000:1000::/workspace:/bin/sh\n")
        group = memfd("group", b"sandbox:x:1000:\n")
        filt = memfd("seccomp", self._filter)
        fds = [passwd, group, filt]
        try:
            args = [
                self._bwrap,
                *self._static_args,
                "--perms",
                "1777",
                "--size",
                size,
                "--tmpfs",
                "/tmp",
                "--perms",
                "0700",
                "--size",
                size,
                "--tmpfs",
                WORKSPACE,
                "--ro-bind-data",
                str(passwd),
                "/etc/passwd",
                "--ro-bind-data",
                str(group),
                "/etc/group",
            ]
            for fd, path in data:
                args += ["--ro-bind-data", str(fd), path]
            for host, inside, writable in binds:
                args += ["--bind" if writable else "--ro-bind", host, inside]
            args += [
                "--remount-ro",
                "/",
                "--seccomp",
                str(filt),
                "--uid",
                str(SANDBOX_UID),
                "--gid",
                str(SANDBOX_UID),
                *self._env_args,  # --clearenv first: bwrap applies these in order
                *(arg for key, value in (env or {}).items() for arg in ("--setenv", key, value)),
                "--chdir",
                WORKSPACE,
                "--",
                *command,
            ]
            host_uid = self.host_uid(uid_index)
            switch: dict[str, object] = {}
            if host_uid is not None and self._setpriv is not None:
                # setpriv execs bwrap under the uid (clearing groups and, leaving root, all
                # capabilities), which lets subprocess vfork instead of copying our page tables.
                args = [
                    self._setpriv,
                    f"--reuid={host_uid}",
                    f"--regid={host_uid}",
                    "--clear-groups",
                    "--",
                    *args,
                ]
            elif host_uid is not None:
                switch = {"user": host_uid, "group": host_uid, "extra_groups": []}
            if self._cgroups is not None:
                chosen = limits if limits is not None else self.config.defaults
                self._cgroups.limit(uid_index, chosen)
                # Without setpriv, subprocess switches the uid before the wrapper runs.
                owner = host_uid if switch else None
                args = self._cgroups.wrap(uid_index, args, owner)
            return subprocess.Popen(
                args,
                stdin=stdin,
                stdout=stdout,
                stderr=subprocess.PIPE,
                pass_fds=[*fds, *(fd for fd, _ in data), *extra_fds],
                env={"PATH": "/usr/bin:/bin"},
                process_group=0,
                **switch,  # type: ignore[arg-type]
            )
        finally:
            for fd in fds:
                os.close(fd)

    def host_uid(self, uid_index: int) -> int | None:
        """The host uid of slot ``uid_index`` (``None`` unless Nexus runs as root)."""
        return self.config.uid_base + uid_index if os.geteuid() == 0 else None

    def _run_cold(
        self,
        language: str,
        code: str,
        files: dict[str, str],
        limits: SandboxLimits,
        *,
        allow_hosts: tuple[str, ...] | None = None,
    ) -> RawResult:
        """A fresh sandbox; ``allow_hosts`` (not ``None``) makes it mode ``validation``."""
        uid_index = self._uids.get()
        fds: list[int] = []
        try:
            if allow_hosts is None:
                return self._cold(language, code, files, limits, uid_index, fds)
            with self._egress_dir(uid_index) as (directory, session_path):
                with self._egress.session(allow_hosts, session_path, self.host_uid(uid_index)):
                    return self._cold(
                        language, code, files, limits, uid_index, fds, egress=directory
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
        raw = collect(process, archive_read, limits, started)
        if (
            self._cgroups is not None
            and raw.killed_reason is None
            and raw.exit_code in (-signal.SIGKILL, 128 + signal.SIGKILL)
            and self._cgroups.oom_kills(uid_index) > oom_before
        ):
            raw.killed_reason = "memory_limit"
        return raw

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
