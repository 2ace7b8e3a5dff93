"""Functional behaviour of ``BubblewrapSandbox``: results, files, limits, timeouts, refusal."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from nexus.core.errors import InvalidInputError
from nexus.core.sandbox_types import ExecRequest, SandboxLimitError, SandboxUnavailableError
from nexus.sandbox.bubblewrap import BubblewrapConfig, BubblewrapSandbox


def test_python_result(run) -> None:
    result = run("import sys\nprint('hi')\nprint('err', file=sys.stderr)\nsys.exit(3)")
    assert (result.exit_code, result.stdout, result.stderr) == (3, "hi\n", "err\n")
    assert (result.timed_out, result.killed_reason, result.files_changed) == (False, None, {})
    assert 0 < result.duration_ms < 5_000


def test_bash_result(run) -> None:
    result = run('echo "$((6 * 7))"; exit 0', language="bash")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "42\n", "")


def test_node_result_when_installed(sandbox, run) -> None:
    if sandbox._node is None:
        with pytest.raises(InvalidInputError, match="node is not installed"):
            run("console.log(1)", language="node")
        return
    result = run("console.log(6 * 7)", language="node")
    assert (result.exit_code, result.stdout) == (0, "42\n")


def test_curated_packages_import_and_others_do_not(run) -> None:
    result = run(
        "import numpy, yaml, jinja2\nprint(int(numpy.arange(4).sum()))\n"
        "try:\n    import fastapi\nexcept ImportError:\n    print('no fastapi')\n"
        "try:\n    import nexus\nexcept ImportError:\n    print('no nexus')\n"
    )
    assert (result.exit_code, result.stdout) == (0, "6\nno fastapi\nno nexus\n"), result.stderr


def test_input_files_and_files_changed(run) -> None:
    result = run(
        "import pathlib\n"
        "data = pathlib.Path('data/in.txt').read_text()\n"
        "pathlib.Path('out.txt').write_text(data.upper())\n"
        "pathlib.Path('data/in.txt').write_text('changed')\n"
        "pathlib.Path('same.txt').write_text('same')\n",
        files={"data/in.txt": "hello", "same.txt": "same"},
    )
    assert result.exit_code == 0, result.stderr
    assert result.files_changed == {"out.txt": "HELLO", "data/in.txt": "changed"}


def test_workspace_is_fresh_each_time(run) -> None:
    run("open('left.txt', 'w').write('x')")
    result = run("import os\nprint(sorted(os.listdir('.')))")
    assert result.stdout == "[]\n"


def test_explicit_environment_only(run) -> None:
    result = run("import os\nprint(sorted(os.environ))")
    # OLDPWD and PWD come from the sandbox's own shell (cd /workspace).
    assert result.stdout == (
        "['HOME', 'LANG', 'OLDPWD', 'PATH', 'PWD', 'PYTHONDONTWRITEBYTECODE', 'PYTHONPATH', "
        "'PYTHONUNBUFFERED', 'TMPDIR', 'USER']\n"
    )


def test_rlimits_are_applied(run) -> None:
    result = run("cat /proc/self/limits", language="bash")
    limits = {line[:26].strip(): line[26:47].strip() for line in result.stdout.splitlines()[1:]}
    assert limits["Max cpu time"] == "2" and line_hard(result.stdout, "Max cpu time") == "3"
    assert limits["Max address space"] == str(256 * 1024 * 1024)
    assert limits["Max processes"] == "32"
    assert limits["Max file size"] == str(8 * 1024 * 1024)
    assert limits["Max open files"] == "64"
    assert limits["Max core file size"] == "0"


def test_timeout_kills_and_reports(run) -> None:
    started = time.monotonic()
    result = run("sleep 30", language="bash", timeout_s=0.5)
    assert result.timed_out and result.killed_reason == "timeout"
    assert result.exit_code == -9
    assert time.monotonic() - started < 3


def test_output_is_capped(run) -> None:
    result = run("import sys\nsys.stdout.write('x' * 300_000)")
    assert result.killed_reason == "output_limit" and result.stdout_truncated
    assert len(result.stdout) == 100_000


def test_limits_above_ceilings_are_refused(run) -> None:
    with pytest.raises(SandboxLimitError) as caught:
        run("print(1)", timeout_s=10_000)
    assert caught.value.field == "timeout_s"
    with pytest.raises(SandboxLimitError) as caught:
        run("print(1)", memory_mb=1_000_000)
    assert caught.value.field == "memory_mb"


def test_network_and_other_modes_are_refused_in_code_mode(run) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run("print(1)", network=True)
    assert caught.value.field == "network"
    with pytest.raises(InvalidInputError) as caught:
        run("print(1)", mode="app")
    assert caught.value.field == "mode"


@pytest.mark.parametrize("path", ["../x", "/etc/x", "a/../../x", "", "a\\b"])
def test_bad_input_paths_are_refused(run, path: str) -> None:
    with pytest.raises(SandboxLimitError) as caught:
        run("print(1)", files={path: "x"})
    assert caught.value.field == "files"


def test_missing_bwrap_refuses_with_install_hint() -> None:
    box = BubblewrapSandbox(BubblewrapConfig(bwrap="/nonexistent/bwrap"))
    try:
        box.start()
        assert not box.available
        with pytest.raises(SandboxUnavailableError, match="apt-get install bubblewrap"):
            box.execute_sync(ExecRequest(language="python", code="print(1)"))
    finally:
        box.close()


def test_failing_self_test_refuses() -> None:
    # Outside pytest's private tmp dir: the sandbox slot uid must be able to run it.
    home = Path(tempfile.mkdtemp(prefix="nexus-fake-bwrap-"))
    home.chmod(0o755)
    fake = home / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n")
    fake.chmod(0o755)
    box = BubblewrapSandbox(BubblewrapConfig(bwrap=str(fake)))
    try:
        box.start()
        with pytest.raises(SandboxUnavailableError, match="failed its self-test.*uid map"):
            box.check_available()
    finally:
        box.close()
        shutil.rmtree(home)


async def test_async_execute(sandbox) -> None:
    result = await sandbox.execute(ExecRequest(language="bash", code="echo async"))
    assert (result.exit_code, result.stdout) == (0, "async\n")


def line_hard(limits_text: str, name: str) -> str:
    """The hard limit column of ``name`` in /proc/self/limits."""
    line = next(line for line in limits_text.splitlines() if line.startswith(name))
    return line[47:68].strip()
