"""Memory and pids cgroups for sandboxes, where the machine lets Nexus write them.

Rlimits hold per process; a cgroup bounds the whole sandbox (every process, its tmpfs pages,
its threads). At start-up ``Cgroups.detect`` looks for writable controllers below Nexus's own
cgroup (never above it, so a sandbox cannot escape a limit put on Nexus):

* cgroup v1 with ``memory`` and ``pids`` hierarchies (``memory.limit_in_bytes``, ``pids.max``);
* cgroup v2 with ``memory`` and ``pids`` enabled for children (``memory.max``, ``pids.max``).

Each sandbox slot (one per live sandbox, like the per-sandbox uids) gets a cgroup
``nexus-sandbox-<pid>-<n>/slot-<i>``; bwrap starts through a two-line ``sh`` wrapper that moves
itself into the slot's cgroups before it execs, so nothing in the sandbox ever runs outside
them. Limits are written per call (a warm sandbox gets its job's limits before the job runs).
When nothing is writable, sandboxes run with rlimits only and ``describe()`` says so (the
self-test reports it at start-up).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import time
from dataclasses import dataclass
from pathlib import Path

from nexus.core.sandbox_types import SandboxLimits

ROOT = Path("/sys/fs/cgroup")
PIDS_SLACK = 32
"""Processes and threads beyond the code's own limit: bwrap, the shells, the relay."""

_counter = itertools.count()


@dataclass(frozen=True)
class _Layout:
    version: int
    memory: Path
    pids: Path


def _own_paths(root: Path) -> dict[str, str]:
    """Controller (or ``""`` for v2) -> Nexus's own cgroup path, from ``/proc/self/cgroup``."""
    paths: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path.lstrip("/")
    return paths


def _probe(parent: Path, name: str) -> Path | None:
    """``parent/name`` created (and kept) if the kernel lets us, else ``None``."""
    try:
        path = parent / name
        path.mkdir()
        return path
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale(parent: Path) -> int:
    """Remove ``nexus-sandbox-<pid>-<n>`` cgroups left by Nexus processes that died without
    ``close()`` (killed, crashed). Only empty ones go: rmdir fails on a cgroup in use."""
    removed = 0
    with contextlib.suppress(OSError):
        for group in parent.glob("nexus-sandbox-*"):
            pid = group.name.split("-")[2]
            if not pid.isdigit() or _alive(int(pid)):
                continue
            for slot in group.glob("slot-*"):
                with contextlib.suppress(OSError):
                    slot.rmdir()
            with contextlib.suppress(OSError):
                group.rmdir()
                removed += 1
    return removed


def _detect_layout(root: Path, name: str) -> _Layout | None:
    own = _own_paths(root)
    memory_parent = root / "memory" / own.get("memory", "")
    pids_parent = root / "pids" / own.get("pids", "")
    for parent in {memory_parent, pids_parent, root / own.get("", "")}:
        remove_stale(parent)
    if (memory_parent / "memory.limit_in_bytes").exists() and (
        pids_parent / "cgroup.procs"
    ).exists():
        memory = _probe(memory_parent, name)
        pids = _probe(pids_parent, name) if memory is not None else None
        if memory is not None and pids is not None:
            return _Layout(1, memory, pids)
        if memory is not None:
            with contextlib.suppress(OSError):
                memory.rmdir()
    unified = root / own.get("", "") if (root / "cgroup.controllers").exists() else None
    if unified is not None:
        try:
            enabled = set((unified / "cgroup.controllers").read_text().split())
        except OSError:
            return None
        if {"memory", "pids"} <= enabled:
            group = _probe(unified, name)
            if group is not None:
                try:
                    (group / "cgroup.subtree_control").write_text("+memory +pids")
                    return _Layout(2, group, group)
                except OSError:
                    with contextlib.suppress(OSError):
                        group.rmdir()
    return None


class Cgroups:
    """Per-slot memory and pids cgroups; build with ``detect()``."""

    def __init__(self, layout: _Layout) -> None:
        self._layout = layout
        self._slots: set[int] = set()

    @classmethod
    def detect(cls, root: Path = ROOT) -> Cgroups | None:
        """Cgroups below our own, or ``None`` when the machine does not let us write them."""
        layout = _detect_layout(root, f"nexus-sandbox-{os.getpid()}-{next(_counter)}")
        return cls(layout) if layout is not None else None

    @property
    def version(self) -> int:
        return self._layout.version

    def describe(self) -> str:
        if self._layout.version == 1:
            return f"cgroup v1: memory {self._layout.memory}, pids {self._layout.pids}"
        return f"cgroup v2: {self._layout.memory}"

    def _dirs(self, slot: int) -> tuple[Path, Path]:
        name = f"slot-{slot}"
        memory, pids = self._layout.memory / name, self._layout.pids / name
        if slot not in self._slots:
            for path in {memory, pids}:
                path.mkdir(parents=True, exist_ok=True)  # again after close()
            self._slots.add(slot)
        return memory, pids

    def limit(self, slot: int, limits: SandboxLimits) -> None:
        """Set ``slot``'s memory (the code's memory, plus workspace and /tmp) and pids."""
        memory, pids = self._dirs(slot)
        mb = 1024 * 1024
        total = (limits.memory_mb + 2 * limits.workspace_mb + 64) * mb
        if self._layout.version == 1:
            (memory / "memory.limit_in_bytes").write_text(str(total))
        else:
            (memory / "memory.max").write_text(str(total))
            with contextlib.suppress(OSError):
                (memory / "memory.swap.max").write_text("0")
        (pids / "pids.max").write_text(str(limits.processes + PIDS_SLACK))

    def wrap(self, slot: int, args: list[str], owner_uid: int | None = None) -> list[str]:
        """``args`` started inside ``slot``'s cgroups (the shell moves itself, then execs).

        ``owner_uid``: the uid the shell runs as when it is not root (it may then write the
        slot's ``cgroup.procs``, and nothing else: the limits stay root's)."""
        memory, pids = self._dirs(slot)
        targets = [str(memory / "cgroup.procs")]
        if pids != memory:
            targets.append(str(pids / "cgroup.procs"))
        if owner_uid is not None:
            for target in targets:
                os.chown(target, owner_uid, owner_uid)
        moves = " && ".join(f"echo $$ > '{target}'" for target in targets)
        return ["/bin/sh", "-c", f'{moves} && exec "$@"', "sh", *args]

    def oom_kills(self, slot: int) -> int:
        """How many processes of ``slot`` the memory limit has killed so far."""
        memory, _ = self._dirs(slot)
        name = "memory.oom_control" if self._layout.version == 1 else "memory.events"
        with contextlib.suppress(OSError, ValueError):
            for line in (memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        return 0

    def pids_limit(self, slot: int) -> int | None:
        """The ``pids.max`` of ``slot`` (tests read it back)."""
        _, pids = self._dirs(slot)
        with contextlib.suppress(OSError, ValueError):
            return int((pids / "pids.max").read_text())
        return None

    def memory_limit(self, slot: int) -> int | None:
        memory, _ = self._dirs(slot)
        name = "memory.limit_in_bytes" if self._layout.version == 1 else "memory.max"
        with contextlib.suppress(OSError, ValueError):
            return int((memory / name).read_text())
        return None

    def close(self) -> None:
        """Remove the slots and the parent, once empty (a sandbox's last processes may take
        a moment to finish exiting after its call returned)."""
        paths = [
            path
            for slot in sorted(self._slots)
            for path in {self._layout.memory / f"slot-{slot}", self._layout.pids / f"slot-{slot}"}
        ]
        paths += sorted({self._layout.memory, self._layout.pids})
        self._slots.clear()
        deadline = time.monotonic() + 2.0
        for path in paths:
            while True:
                try:
                    path.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
