"""The warm pool of ``BubblewrapSandbox`` (split from ``nexus.sandbox.bubblewrap``; see its
docstring and ``nexus.sandbox.warm`` for how a warm sandbox works)."""

from __future__ import annotations

import os
import select
import selectors
import threading
import time

from nexus.core.sandbox_types import (
    SandboxLimits,
)
from nexus.sandbox.collect import collect, kill_group
from nexus.sandbox.config import (
    KILL_GRACE_S,
    WARM_SELF_TEST,
    WARM_START_TIMEOUT_S,
    RawResult,
    WarmSandbox,
    memfd,
    write_all,
)
from nexus.sandbox.selftest import (
    self_test_failure,
)
from nexus.sandbox.warm import (
    BOOTSTRAP,
    BOOTSTRAP_PATH,
    READY,
    encode_job,
)


class WarmPool:
    """Warm-pool methods of ``BubblewrapSandbox`` (which sets every attribute used here)."""

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

    def _run_warm(
        self,
        warm: WarmSandbox,
        job: bytes,
        limits: SandboxLimits,
        cancel: threading.Event | None = None,
    ) -> RawResult | None:
        """Hand ``warm`` its job and collect the result; ``None`` if it was already dead.
        ``cancel`` set while the job runs kills the sandbox (see ``collect``)."""
        started = time.perf_counter()
        oom_before = 0
        if self._cgroups is not None:
            self._cgroups.limit(warm.uid_index, limits)
            oom_before = self._cgroups.oom_kills(warm.uid_index)
        try:
            write_all(warm.job_fd, job)
        except OSError:
            self._discard(warm)
            return None
        os.close(warm.job_fd)
        warm.job_fd = -1
        try:
            raw = collect(warm.process, warm.archive_fd, limits, started, cancel)
            return self._note_oom(raw, warm.uid_index, oom_before)
        finally:
            os.close(warm.archive_fd)
            warm.archive_fd = -1
            self._uids.put(warm.uid_index)
