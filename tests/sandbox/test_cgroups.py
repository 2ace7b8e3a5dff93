"""Memory and pids cgroups per sandbox, where the machine lets Nexus write them (skipped, with
the reason, where it does not). Rlimits apply either way (see the escape battery)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import pytest

from nexus.core.sandbox_types import ExecRequest
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox
from nexus.sandbox.cgroups import PIDS_SLACK, Cgroups, remove_stale

_probe = Cgroups.detect()
if _probe is not None:
    _probe.close()
needs_cgroups = pytest.mark.skipif(
    _probe is None,
    reason="no writable memory/pids cgroup below this process (cgroup v1 hierarchies or a "
    "delegated v2 subtree are needed); sandboxes run with rlimits only here",
)


@pytest.fixture(scope="module")
def cg_box(test_limits) -> Iterator[BubblewrapSandbox]:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={}))
    box.start()
    box.check_available()
    try:
        yield box
    finally:
        box.close()


def test_start_up_reports_whether_cgroups_are_in_use(cg_box) -> None:
    report = cg_box.isolation["cgroups"]
    if _probe is None:
        assert report.startswith("not in use")
    else:
        assert report.startswith(f"cgroup v{_probe.version}")


def test_cgroups_can_be_turned_off(test_limits) -> None:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={}, cgroups=False))
    box.start()
    try:
        assert box.isolation["cgroups"].startswith("not in use")
        assert box.execute_sync(ExecRequest(language="bash", code="echo hi")).stdout == "hi\n"
    finally:
        box.close()


@needs_cgroups
def test_the_sandbox_runs_inside_its_slot_cgroup(cg_box, test_limits) -> None:
    cgroups = cg_box._cgroups
    assert cgroups is not None
    code = "cat /proc/self/cgroup; echo started > /tmp/x; sleep 3"
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(cg_box.execute_sync, ExecRequest(language="bash", code=code))
        members: list[int] = []
        deadline = time.monotonic() + 20
        while not members and time.monotonic() < deadline and not running.done():
            for procs in cgroups._layout.memory.glob("slot-*/cgroup.procs"):
                members += [int(pid) for pid in procs.read_text().split()]
            time.sleep(0.05)
        result = running.result()
    assert members, "no process of the sandbox was in a slot cgroup"
    assert result.exit_code == 0, result.stderr
    # Inside, the cgroup namespace shows the slot as the root: no host path leaks.
    assert all(line.endswith(":/") for line in result.stdout.splitlines()), result.stdout
    slots = [int(p.name.split("-")[1]) for p in cgroups._layout.memory.glob("slot-*")]
    for slot in slots:
        assert cgroups.pids_limit(slot) == test_limits.processes + PIDS_SLACK
        expected = (test_limits.memory_mb + 2 * test_limits.workspace_mb + 64) * 1024 * 1024
        assert cgroups.memory_limit(slot) == expected


@needs_cgroups
def test_memory_cgroup_bounds_the_whole_sandbox(cg_box, test_limits) -> None:
    """Each process stays under its own address-space rlimit, together they exceed the
    sandbox's memory cgroup: the kernel kills one of them."""
    per_process = test_limits.memory_mb - 64  # MB, under RLIMIT_AS
    total = test_limits.memory_mb + 2 * test_limits.workspace_mb + 64
    count = total // per_process + 2
    code = f"""
import os, signal, time
children = []
for _ in range({count}):
    pid = os.fork()
    if pid == 0:
        block = b"x" * ({per_process} << 20)
        time.sleep(3)
        os._exit(0)
    children.append(pid)
codes = [os.waitpid(pid, 0)[1] for pid in children]
print("KILLED", sum(1 for c in codes if os.WIFSIGNALED(c) and os.WTERMSIG(c) == signal.SIGKILL))
"""
    result = cg_box.execute_sync(ExecRequest(language="python", code=code, timeout_s=30))
    killed = [line for line in result.stdout.splitlines() if line.startswith("KILLED")]
    assert killed and int(killed[0].split()[1]) >= 1, result.stdout + result.stderr


@needs_cgroups
def test_memory_limit_is_reported_when_the_code_itself_is_killed(
    cg_box, warm_sandbox, run_warm
) -> None:
    """Files in the tmpfs workspace and /tmp, a child's memory and the code's own all count
    against the one cgroup: the code is killed by it (the largest), reported as memory_limit."""
    code = """
import os, time
for directory in ("/tmp", "/workspace"):
    for index in range(4):
        with open(f"{directory}/fill{index}", "wb") as handle:
            handle.write(b"f" * (7 << 20))
if os.fork() == 0:
    hold = b"c" * (120 << 20)
    time.sleep(20)
    os._exit(0)
grow = []
try:
    while len(grow) < 265:
        grow.append(b"p" * (1 << 20))
except MemoryError:
    print("address space limit first")
time.sleep(2)
print("survived", len(grow))
"""
    result = cg_box.execute_sync(
        ExecRequest(language="python", code=code, timeout_s=30, memory_mb=300)
    )
    assert result.killed_reason == "memory_limit", (result.exit_code, result.stdout, result.stderr)
    assert "survived" not in result.stdout
    # The same in a warm sandbox: its slot gets the job's limits before the job runs.
    warm = run_warm(warm_sandbox, code, timeout_s=30, memory_mb=300)
    assert warm.killed_reason == "memory_limit", (warm.exit_code, warm.stdout, warm.stderr)


def test_limits_and_wrap_on_a_fake_v1_tree(tmp_path: Path, test_limits) -> None:
    """The file protocol, without a kernel: limits written where v1 expects them."""
    from nexus.sandbox.cgroups import _Layout

    memory, pids = tmp_path / "memory" / "nx", tmp_path / "pids" / "nx"
    cgroups = Cgroups(_Layout(1, memory, pids))
    limits = replace(test_limits, memory_mb=100, workspace_mb=10, processes=7)
    cgroups.limit(3, limits)
    assert (memory / "slot-3" / "memory.limit_in_bytes").read_text() == str(184 * 1024 * 1024)
    assert (pids / "slot-3" / "pids.max").read_text() == str(7 + PIDS_SLACK)
    wrapped = cgroups.wrap(3, ["/usr/bin/bwrap", "--x"])
    assert wrapped[:2] == ["/bin/sh", "-c"] and wrapped[-2:] == ["/usr/bin/bwrap", "--x"]
    assert str(memory / "slot-3" / "cgroup.procs") in wrapped[2]
    assert str(pids / "slot-3" / "cgroup.procs") in wrapped[2]
    assert os.path.isdir(memory / "slot-3")


def test_stale_groups_of_dead_processes_are_removed(tmp_path: Path) -> None:
    """Directories stand in for cgroups (rmdir works on both when they are empty)."""
    dead = 2**22 + 4321  # above pid_max: no such process
    (tmp_path / f"nexus-sandbox-{dead}-0" / "slot-1").mkdir(parents=True)
    (tmp_path / f"nexus-sandbox-{os.getpid()}-0" / "slot-1").mkdir(parents=True)
    busy = tmp_path / f"nexus-sandbox-{dead}-1" / "slot-0"
    busy.mkdir(parents=True)
    (busy / "cgroup.procs").write_text("123")  # not empty: a cgroup still in use stays
    assert remove_stale(tmp_path) == 1
    assert {p.name for p in tmp_path.iterdir()} == {
        f"nexus-sandbox-{dead}-1",
        f"nexus-sandbox-{os.getpid()}-0",
    }
