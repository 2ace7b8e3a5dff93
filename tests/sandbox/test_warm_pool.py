"""The warm pool: one job per warm sandbox, nothing shared between jobs, refilled, reaped."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from nexus.core.sandbox_types import ExecRequest
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox


def descendants(pid: int) -> set[int]:
    """``pid`` and every process below it, read from /proc."""
    found = {pid}
    stack = [pid]
    while stack:
        current = stack.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    stack.append(child)
    return found


def sandbox_processes(roots: list[int]) -> set[int]:
    """The processes of warm sandboxes rooted at ``roots``, once each has all four up:
    bwrap, its init, the shell and the interpreter."""
    deadline = time.monotonic() + 10
    while True:
        trees = [descendants(pid) for pid in roots]
        if all(len(tree) >= 4 for tree in trees) or time.monotonic() > deadline:
            return set().union(*trees)
        time.sleep(0.01)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_job_sees_nothing_of_the_previous_one(warm_sandbox, run_warm) -> None:
    marker = f"pooljob{secrets.token_hex(4)}"
    first = run_warm(
        warm_sandbox,
        "import os, subprocess\n"
        "open('left.txt', 'w').write('x'); open('/tmp/left.txt', 'w').write('x')\n"
        "os.environ['LEFT'] = '1'\nimport json\njson.LEFT = 1\n"
        f"subprocess.Popen(['sh', '-c', 'exec -a {marker} sleep 60'], start_new_session=True,\n"
        "    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print('started')\n",
    )
    assert first.stdout == "started\n" and first.files_changed == {"left.txt": "x"}
    second = run_warm(
        warm_sandbox,
        "import glob, json, os\n"
        "print(os.listdir('.'), os.listdir('/tmp'), 'LEFT' in os.environ, hasattr(json, 'LEFT'))\n"
        "print(sorted(open(p, 'rb').read().split(b'\\0')[0].decode()\n"
        "             for p in glob.glob('/proc/[0-9]*/cmdline')))\n",
    )
    lines = second.stdout.splitlines()
    assert lines[0] == "[] [] False False", second.stdout + second.stderr
    assert marker not in second.stdout
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert survivors.stdout == ""


def test_warm_result_matches_cold(warm_sandbox, cold_sandbox, run_warm) -> None:
    code = (
        "import os, sys\nprint(__name__, __file__, sys.argv, sys.path[0], os.getcwd())\n"
        "print(sorted(os.environ), os.getuid(), sys.stdin.read())\n"
        "print(open('in/a.txt').read())\nopen('out.txt', 'w').write('o')\n"
        "def boom():\n    raise ValueError('x')\nboom()\n"
    )
    files = {"in/a.txt": "A"}
    warm = run_warm(warm_sandbox, code, files=files)
    cold = cold_sandbox.execute_sync(ExecRequest(language="python", code=code, files=files))
    assert warm.stdout == cold.stdout and warm.stdout.startswith("__main__ /run/nexus/main.py")
    assert (
        (warm.exit_code, warm.files_changed)
        == (cold.exit_code, cold.files_changed)
        == (
            1,
            {"out.txt": "o"},
        )
    )
    # Same traceback, source lines included, none of the bootstrap's frames.
    assert warm.stderr == cold.stderr and "boot" not in warm.stderr
    assert "line 7, in boom\n    raise ValueError" in warm.stderr


def test_exit_codes_and_signals_like_cold(warm_sandbox, run_warm) -> None:
    assert run_warm(warm_sandbox, "import sys\nsys.exit(7)").exit_code == 7
    assert run_warm(warm_sandbox, "import os\nos._exit(5)").exit_code == 5
    killed = run_warm(warm_sandbox, "import os, signal\nos.kill(os.getpid(), signal.SIGTERM)")
    assert killed.exit_code == 128 + signal.SIGTERM


def test_warm_sandbox_honours_per_call_limits(warm_sandbox, run_warm) -> None:
    result = run_warm(warm_sandbox, "print(open('/proc/self/limits').read())", memory_mb=64)
    limits = {line[:26].strip(): line[26:68].split() for line in result.stdout.splitlines()[1:]}
    assert limits["Max address space"] == [str(64 * 1024 * 1024)] * 2
    assert limits["Max cpu time"] == ["2", "3"]
    assert limits["Max processes"] == ["32", "32"]
    assert limits["Max open files"] == ["64", "64"]
    assert limits["Max file size"] == [str(8 * 1024 * 1024)] * 2
    assert limits["Max core file size"] == ["0", "0"]
    timed = run_warm(warm_sandbox, "import time\ntime.sleep(30)", timeout_s=0.5)
    assert timed.timed_out and timed.exit_code == -9
    raised = run_warm(
        warm_sandbox,
        "import resource\ntry:\n    resource.setrlimit(resource.RLIMIT_AS, (-1, -1))\n"
        "    print('ESCAPED')\nexcept ValueError:\n    print('OK')\n",
    )
    assert raised.stdout == "OK\n"


def test_warm_sandbox_is_confined_like_cold(warm_sandbox, run_warm) -> None:
    result = run_warm(
        warm_sandbox,
        "import re\nstatus = open('/proc/self/status').read()\n"
        "print(re.findall(r'^(?:Uid|CapEff|NoNewPrivs|Seccomp):.*$', status, re.M))",
    )
    assert result.stdout == (
        "['Uid:\\t1000\\t1000\\t1000\\t1000', 'CapEff:\\t0000000000000000', "
        "'NoNewPrivs:\\t1', 'Seccomp:\\t2']\n"
    )


def test_pool_refills_after_use(test_limits, wait_for_pool) -> None:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={"python": 3}))
    box.start()
    try:
        wait_for_pool(box, size=3)
        for _ in range(3):
            assert box.execute_sync(ExecRequest(language="python", code="print(1)")).stdout == "1\n"
        assert box.runs["warm"] == 3
        wait_for_pool(box, size=3)
        assert box.pool_sizes() == {"python": 3}
    finally:
        box.close()


def test_empty_pool_falls_back_to_cold(test_limits, wait_for_pool) -> None:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={"python": 1}))
    box.start()
    try:
        wait_for_pool(box)
        time.sleep(0.3)  # The refill thread is waiting for a wake-up by now.
        with box._pool_lock:  # Taken without waking it: the pool stays empty.
            stolen = box._pool["python"].popleft()
        box._discard(stolen)
        result = box.execute_sync(ExecRequest(language="python", code="print(2)"))
        assert result.stdout == "2\n" and box.runs == {"warm": 0, "cold": 1}
        bash = box.execute_sync(ExecRequest(language="bash", code="echo 3"))
        assert bash.stdout == "3\n" and box.runs["cold"] == 2
    finally:
        box.close()


def test_unsupported_warm_language_is_refused() -> None:
    with pytest.raises(ValueError, match="only python, bash"):
        BubblewrapSandbox(BubblewrapConfig(warm_pool={"node": 1}))


def test_close_kills_and_reaps_the_pool(test_limits, wait_for_pool) -> None:
    box = BubblewrapSandbox(BubblewrapConfig(defaults=test_limits, warm_pool={"python": 2}))
    box.start()
    wait_for_pool(box, size=2)
    with box._pool_lock:
        roots = [warm.process.pid for warm in box._pool["python"]]
    pids = sandbox_processes(roots)
    assert len(pids) == 8
    box.close()
    # Everything in them has exited; bwrap's init, last to go, may still be finishing its
    # exit (tearing the namespaces down) for a moment.
    deadline = time.monotonic() + 2
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [pid for pid in pids if alive(pid)] == []
    assert box.pool_sizes() == {"python": 0}
    # A closed sandbox still runs calls, cold.
    result = box.execute_sync(ExecRequest(language="python", code="print(4)"))
    assert result.stdout == "4\n" and box.runs["cold"] == 1


def test_pool_dies_with_its_process(tmp_path: Path) -> None:
    script = textwrap.dedent(
        """
        import sys, time
        from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox
        box = BubblewrapSandbox(BubblewrapConfig(warm_pool={"python": 2}))
        box.start()
        while box.pool_sizes()["python"] < 2:
            time.sleep(0.01)
        print(" ".join(str(warm.process.pid) for warm in box._pool["python"]), flush=True)
        time.sleep(60)
        """
    )
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert owner.stdout is not None
        roots = [int(pid) for pid in owner.stdout.readline().split()]
        assert len(roots) == 2
        pids = sandbox_processes(roots)
        assert len(pids) == 8
    finally:
        owner.kill()
        owner.wait()
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [pid for pid in pids if alive(pid)] == []


async def test_parallel_calls_with_the_pool_all_succeed(warm_sandbox) -> None:
    runs, parallel = 240, 8
    gate = asyncio.Semaphore(parallel)
    warm_before = warm_sandbox.runs["warm"]

    async def one(index: int) -> tuple[int, object]:
        code = (
            f"import os\nassert os.listdir('.') == ['given.txt'], os.listdir('.')\n"
            f"open('mine.txt', 'w').write('{index}')\nprint({index})"
        )
        async with gate:
            return index, await warm_sandbox.execute(
                ExecRequest(language="python", code=code, files={"given.txt": str(index)})
            )

    results = await asyncio.gather(*(one(i) for i in range(runs)))
    failures = [
        (index, result)
        for index, result in results
        if (result.exit_code, result.stdout, result.files_changed)  # type: ignore[attr-defined]
        != (0, f"{index}\n", {"mine.txt": str(index)})
    ]
    assert failures == []
    assert warm_sandbox.runs["warm"] > warm_before  # some ran warm, the rest cold


@pytest.mark.parametrize(
    "code",
    [
        "import atexit, threading, time, sys\n"
        "atexit.register(lambda: print('atexit'))\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('thread'))).start()\n"
        "sys.stdout.write('unflushed')\n",
        "import sys\nsys.exit('a message')",
        "import sys\nsys.exit(None)",
        "raise KeyError('k')",
    ],
    ids=["shutdown-order", "exit-message", "exit-none", "exception"],
)
def test_interpreter_exit_matches_cold(warm_sandbox, cold_sandbox, run_warm, code: str) -> None:
    warm = run_warm(warm_sandbox, code)
    cold = cold_sandbox.execute_sync(ExecRequest(language="python", code=code))
    assert (warm.exit_code, warm.stdout, warm.stderr) == (
        cold.exit_code,
        cold.stdout,
        cold.stderr,
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="host uids are switched only when running as root")
@pytest.mark.parametrize("setpriv", [True, False], ids=["setpriv", "subprocess-user"])
def test_each_sandbox_runs_as_its_own_unprivileged_host_uid(
    test_limits, wait_for_pool, setpriv: bool
) -> None:
    config = BubblewrapConfig(defaults=test_limits, warm_pool={"python": 2}, setpriv=setpriv)
    box = BubblewrapSandbox(config)
    box.start()
    try:
        wait_for_pool(box, size=2)
        with box._pool_lock:
            roots = [warm.process.pid for warm in box._pool["python"]]
        uids = set()
        for pid in sandbox_processes(roots):
            line = next(
                line
                for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                if line.startswith("Uid:")
            )
            uids.add(int(line.split()[1]))
        first = config.uid_base
        last = config.uid_base + config.max_concurrency + 2
        assert len(uids) == 2 and all(first <= uid < last for uid in uids), uids
        result = box.execute_sync(ExecRequest(language="bash", code="echo cold"))
        assert result.stdout == "cold\n"
    finally:
        box.close()


@pytest.mark.parametrize(
    "code",
    [
        'echo "$0" "$#" "$PWD"; ls -A; cat given.txt; echo out > made.txt; exit 3',
        "set -e\nfalse\necho never",
        "no_such_command_here",
        "kill -TERM $$",
        "ulimit -a",
    ],
    ids=["basics", "set-e", "not-found", "signal", "ulimits"],
)
def test_warm_bash_matches_cold(warm_sandbox, cold_sandbox, run_warm, code: str) -> None:
    files = {"given.txt": "G\n"}
    warm = run_warm(warm_sandbox, code, "bash", files=files)
    cold = cold_sandbox.execute_sync(ExecRequest(language="bash", code=code, files=files))
    assert (warm.exit_code, warm.stdout, warm.stderr, warm.files_changed) == (
        cold.exit_code,
        cold.stdout,
        cold.stderr,
        cold.files_changed,
    )


def test_long_bash_code_runs_cold(warm_sandbox, wait_for_pool) -> None:
    wait_for_pool(warm_sandbox, "bash")
    before = dict(warm_sandbox.runs)
    code = "# " + "x" * 130_000 + "\necho long"
    result = warm_sandbox.execute_sync(ExecRequest(language="bash", code=code))
    assert result.stdout == "long\n"
    assert warm_sandbox.runs["cold"] == before["cold"] + 1
