"""The bwrap command line of ``BubblewrapSandbox`` (split from ``nexus.sandbox.bubblewrap``):
static mounts, environment, the outer shell, and starting bwrap under a slot uid and cgroup."""

from __future__ import annotations

import os
import signal
import subprocess
import sysconfig
from pathlib import Path

from nexus.core.sandbox_types import (
    SandboxLimits,
)
from nexus.sandbox.config import (
    CODE_DIR,
    EXPORT_SCRIPT,
    SANDBOX_PACKAGES_DIR,
    SANDBOX_UID,
    SCRIPT_NAMES,
    WORKSPACE,
    RawResult,
    memfd,
    reachable_by_others,
)
from nexus.sandbox.limits import ulimit_command
from nexus.sandbox.warm import (
    BOOTSTRAP_PATH,
)


class Launcher:
    """Command-line methods of ``BubblewrapSandbox`` (which sets every attribute used here)."""

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

    def _note_oom(self, raw: RawResult, uid_index: int, oom_before: int) -> RawResult:
        """``raw`` with ``killed_reason="memory_limit"`` if the slot's memory cgroup killed
        the code (SIGKILL, and the cgroup's OOM-kill count went up during the call)."""
        if (
            self._cgroups is not None
            and raw.killed_reason is None
            and raw.exit_code in (-signal.SIGKILL, 128 + signal.SIGKILL)
            and self._cgroups.oom_kills(uid_index) > oom_before
        ):
            raw.killed_reason = "memory_limit"
        return raw
