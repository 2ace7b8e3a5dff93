"""The escape battery: each case tries to break out of the sandbox, and must fail.

Every case asserts a positive sign that the attack failed (an errno, a kill reason, an absent
marker that the attack would print on success), so a sandbox that let it through fails the
test. Most cases take ``any_run`` and run twice: in a cold sandbox and in a warm one from the
pool (python and bash). The snippets print ``OK <errno>`` when the attempt was refused and
``ESCAPED`` when it worked; run outside the sandbox (as root), the network, ptrace, mount,
namespace, keyctl and file cases print ``ESCAPED``.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from nexus.core.sandbox_types import ExecRequest

SYSCALL = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def attempt(label, *args):
    ctypes.set_errno(0)
    result = libc.syscall(*[ctypes.c_ulong(a) if isinstance(a, int) else a for a in args])
    if result == -1:
        print("OK", label, errno.errorcode[ctypes.get_errno()])
    else:
        print("ESCAPED", label, result)
"""


def refused(stdout: str, code: str = "EPERM") -> bool:
    return "ESCAPED" not in stdout and f" {code}" in stdout


def connect_snippet(family: str, address: str) -> str:
    return f"""
import socket, errno
try:
    s = socket.socket(socket.{family}, socket.SOCK_STREAM)
    s.settimeout(2)
    s.connect({address})
    print("ESCAPED")
except OSError as exc:
    print("OK", errno.errorcode.get(exc.errno, exc.errno))
"""


# -- network -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("family", "address"),
    [
        ("AF_INET", "('1.1.1.1', 443)"),
        ("AF_INET", "('169.254.169.254', 80)"),
        ("AF_INET6", "('2606:4700:4700::1111', 443)"),
        ("AF_INET6", "('::ffff:1.1.1.1', 443)"),
        ("AF_INET6", "('::ffff:169.254.169.254', 80)"),
    ],
    ids=["ipv4", "metadata", "ipv6", "ipv4-mapped-ipv6", "mapped-metadata"],
)
def test_no_outbound_network(any_run, family: str, address: str) -> None:
    result = any_run(connect_snippet(family, address))
    assert refused(result.stdout, "ENETUNREACH"), result.stdout + result.stderr


@pytest.mark.parametrize(
    ("family", "address"),
    [
        ("AF_INET", "('127.0.0.1', 5432)"),
        ("AF_INET", "('127.0.0.1', 6379)"),
        ("AF_INET6", "('::1', 6379)"),
        ("AF_INET6", "('::ffff:127.0.0.1', 5432)"),
    ],
    ids=["postgres", "redis", "redis-ipv6", "postgres-mapped"],
)
def test_host_loopback_services_unreachable(run, family: str, address: str) -> None:
    # Postgres and Redis listen on the host's 127.0.0.1; the sandbox has its own loopback.
    result = run(connect_snippet(family, address))
    assert refused(result.stdout, "ECONNREFUSED") or refused(result.stdout, "ENETUNREACH"), (
        result.stdout + result.stderr
    )


def test_no_dns(any_run) -> None:
    result = any_run(
        "import socket\ntry:\n    print('ESCAPED', socket.getaddrinfo('example.com', 80))\n"
        "except OSError as exc:\n    print('OK', type(exc).__name__)\n"
    )
    assert result.stdout == "OK gaierror\n"


def test_udp_to_public_resolver_fails(run) -> None:
    result = run(
        "import socket, errno\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
        "try:\n    s.sendto(b'x', ('8.8.8.8', 53)); print('ESCAPED')\n"
        "except OSError as exc:\n    print('OK', errno.errorcode[exc.errno])\n"
    )
    assert result.stdout == "OK ENETUNREACH\n"


def test_only_loopback_interface(any_run) -> None:
    result = any_run("import socket\nprint([name for _, name in socket.if_nameindex()])")
    assert result.stdout == "['lo']\n"


def test_host_abstract_unix_socket_unreachable(any_run) -> None:
    # Abstract Unix sockets belong to the network namespace: the host's must be invisible.
    name = f"nexus-escape-{secrets.token_hex(4)}"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(f"\0{name}")
    server.listen(1)
    try:
        result = any_run(connect_snippet("AF_UNIX", f"'\\0{name}'"))
    finally:
        server.close()
    assert result.stdout == "OK ECONNREFUSED\n"


# -- host files and processes -----------------------------------------------------------

READ_SNIPPET = """
import errno
for path in {paths!r}:
    try:
        data = open(path, 'rb').read()
        print('ESCAPED', path, data[:40])
    except OSError as exc:
        print('OK', path, errno.errorcode.get(exc.errno, exc.errno))
"""


def test_host_secret_files_unreadable(any_run, tmp_path: Path) -> None:
    home = tmp_path / "nexus-home"
    home.mkdir()
    (home / "nexus.db").write_text("DB-SECRET")
    (home / "master.key").write_text("KEY-SECRET")
    paths = [
        "/etc/shadow",
        "/root/.bash_history",
        str(home / "nexus.db"),
        str(home / "master.key"),
        "/proc/1/root/etc/shadow",
        "/work/main/pyproject.toml",
        "/proc/kcore",
        "/dev/mem",
    ]
    result = any_run(READ_SNIPPET.format(paths=paths))
    lines = result.stdout.splitlines()
    assert len(lines) == len(paths) and all(line.startswith("OK ") for line in lines), lines


def test_host_passwd_and_directories_are_not_visible(any_run) -> None:
    result = any_run(
        "import os\nprint(open('/etc/passwd').read().split(':')[0])\n"
        "print(sorted(os.listdir('/')))\nprint(os.path.exists('/sys'), os.path.exists('/home'))"
    )
    assert result.stdout.splitlines() == [
        "sandbox",
        "['bin', 'dev', 'etc', 'lib', 'lib64', 'opt', 'proc', 'run', 'sbin', 'tmp', 'usr', "
        "'workspace']",
        "False False",
    ]


def test_host_environment_secrets_not_visible(any_run, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = f"nexus-secret-{secrets.token_hex(8)}"
    monkeypatch.setenv("NEXUS_SECRET_KEY", secret)
    result = any_run(
        "import glob, os\nseen = [repr(dict(os.environ))]\n"
        "for path in glob.glob('/proc/*/environ'):\n"
        "    try:\n        seen.append(open(path, 'rb').read().decode(errors='replace'))\n"
        "    except OSError:\n        pass\n"
        "print(len(seen), '\\n'.join(seen))\n"
    )
    assert result.exit_code == 0 and int(result.stdout.split()[0]) >= 2
    assert secret not in result.stdout and "NEXUS_SECRET_KEY" not in result.stdout


def test_host_processes_invisible(any_run) -> None:
    result = any_run(
        "import glob\nnames = []\nfor path in glob.glob('/proc/[0-9]*/cmdline'):\n"
        "    names.append(open(path, 'rb').read().split(b'\\0')[0].decode())\n"
        "print(len(names), sorted(set(names)))\n"
    )
    count = int(result.stdout.split()[0])
    assert 2 <= count <= 5 and "pytest" not in result.stdout, result.stdout


def test_cannot_signal_host_processes(any_run) -> None:
    result = any_run(
        f"import os\ntry:\n    os.kill({os.getpid()}, 0); print('ESCAPED')\n"
        "except ProcessLookupError:\n    print('OK ESRCH')\n"
    )
    assert result.stdout == "OK ESRCH\n"


def test_kill_all_does_not_reach_sibling_or_host(sandbox, run) -> None:
    marker = f"sibling-{secrets.token_hex(4)}"
    outcome: dict[str, object] = {}

    def sibling() -> None:
        outcome["result"] = sandbox.execute_sync(
            ExecRequest(language="bash", code=f"sleep 1.5; echo {marker}")
        )

    thread = threading.Thread(target=sibling)
    thread.start()
    time.sleep(0.3)
    attacker = run(
        f"import os, glob, signal\nfound = [p for p in glob.glob('/proc/*/cmdline') "
        f"if b'{marker}' in open(p, 'rb').read()]\nprint('found', len(found))\n"
        "try:\n    os.kill(-1, signal.SIGKILL)\nexcept OSError:\n    pass\n"
    )
    thread.join()
    assert attacker.stdout.startswith("found 0")
    assert outcome["result"].stdout == f"{marker}\n"  # type: ignore[attr-defined]


# -- writing outside the workspace ----------------------------------------------------------


def test_read_only_system_and_root(any_run) -> None:
    result = any_run(
        "import errno\nfor path in ['/usr/evil', '/etc/evil', '/evil', '/run/nexus/evil', "
        "'/proc/sys/kernel/hostname']:\n"
        "    try:\n        open(path, 'w').write('x'); print('ESCAPED', path)\n"
        "    except OSError as exc:\n        print('OK', errno.errorcode[exc.errno])\n"
    )
    lines = result.stdout.splitlines()
    assert len(lines) == 5 and all(line.startswith("OK E") for line in lines), lines


def test_symlink_to_host_file_is_not_followed_on_export(any_run, tmp_path: Path) -> None:
    secret = tmp_path / "host-secret.txt"
    secret.write_text("HOST-SECRET")
    result = any_run(
        f"import os\nos.symlink({str(secret)!r}, 'leak.txt')\nos.symlink('/etc/shadow', 's')\n"
        f"os.symlink('/', 'root')\nprint(os.path.exists('leak.txt'))\n"
    )
    assert result.stdout == "False\n"
    assert result.files_changed == {}
    assert secret.read_text() == "HOST-SECRET"


def test_symlinked_input_directory_cannot_redirect_writes(any_run, tmp_path: Path) -> None:
    target = tmp_path / "target"
    target.mkdir()
    result = any_run(
        f"import os\nos.symlink({str(target)!r}, 'dir')\n"
        "try:\n    open('dir/owned.txt', 'w').write('x'); print('ESCAPED')\n"
        "except OSError as exc:\n    print('OK', exc.errno)\n"
    )
    assert result.stdout.startswith("OK ")
    assert list(target.iterdir()) == []


def test_hardlink_to_system_file_fails(any_run) -> None:
    result = any_run(
        "import os, errno\nfor src in ['/usr/bin/python3.11', '/etc/passwd']:\n"
        "    try:\n        os.link(src, os.path.basename(src)); print('ESCAPED')\n"
        "    except OSError as exc:\n        print('OK', errno.errorcode[exc.errno])\n"
    )
    assert result.stdout == "OK EXDEV\nOK EXDEV\n"


# -- resource exhaustion ------------------------------------------------------------------


def test_fork_bomb_is_contained(any_run) -> None:
    started = time.monotonic()
    result = any_run(":(){ :|:& };: ; sleep 1; echo done", language="bash", timeout_s=4)
    assert time.monotonic() - started < 8
    assert "fork: retry" in result.stderr or "Resource temporarily unavailable" in result.stderr


def test_python_fork_loop_hits_process_limit(any_run) -> None:
    result = any_run(
        "import os, errno, time\ncount = 0\ntry:\n    while True:\n"
        "        if os.fork() == 0:\n            time.sleep(5); os._exit(0)\n        count += 1\n"
        "except OSError as exc:\n    print('OK', errno.errorcode[exc.errno], count)\n"
    )
    label, code, count = result.stdout.split()
    assert (label, code) == ("OK", "EAGAIN") and int(count) < 32


def test_memory_bomb_fails(any_run) -> None:
    result = any_run(
        "try:\n    block = bytearray(2 * 1024 ** 3); print('ESCAPED')\n"
        "except MemoryError:\n    print('OK MemoryError')\n",
        memory_mb=128,
    )
    assert result.stdout == "OK MemoryError\n"


def test_single_file_disk_fill_hits_file_size_limit(any_run) -> None:
    result = any_run(
        "import errno\nf = open('big', 'wb')\ntry:\n    for _ in range(64):\n"
        "        f.write(b'x' * 1024 * 1024); f.flush()\n    print('ESCAPED')\n"
        "except OSError as exc:\n    print('OK', errno.errorcode[exc.errno])\n"
    )
    assert result.stdout == "OK EFBIG\n"


@pytest.mark.parametrize("directory", ["/workspace", "/tmp"])
def test_many_files_disk_fill_hits_tmpfs_size(any_run, directory: str) -> None:
    result = any_run(
        f"import errno\ntry:\n    for i in range(64):\n"
        f"        open(f'{directory}/f{{i}}', 'wb').write(b'x' * 4 * 1024 * 1024)\n"
        "    print('ESCAPED')\n"
        "except OSError as exc:\n    print('OK', errno.errorcode[exc.errno])\n"
    )
    assert result.stdout == "OK ENOSPC\n"


def test_fd_exhaustion_hits_limit(any_run) -> None:
    result = any_run(
        "import errno\nfiles = []\ntry:\n    while True:\n        files.append(open('/dev/null'))\n"
        "except OSError as exc:\n    print('OK', errno.errorcode[exc.errno], len(files))\n"
    )
    label, code, count = result.stdout.split()
    assert (label, code) == ("OK", "EMFILE") and int(count) < 64


def test_cpu_spin_is_killed_at_cpu_limit(any_run) -> None:
    started = time.monotonic()
    result = any_run("while True:\n    pass\n", timeout_s=8)
    assert result.killed_reason == "cpu_limit" and not result.timed_out
    assert time.monotonic() - started < 6


def test_sleep_past_wall_clock_is_killed(any_run) -> None:
    started = time.monotonic()
    result = any_run("import time\ntime.sleep(60)\nprint('ESCAPED')", timeout_s=1)
    assert result.timed_out and result.stdout == ""
    assert time.monotonic() - started < 4


def test_output_flood_is_cut(any_run) -> None:
    started = time.monotonic()
    result = any_run("yes flood", language="bash")
    assert result.killed_reason == "output_limit"
    assert len(result.stdout) == 100_000 and time.monotonic() - started < 5


def test_stderr_flood_is_cut(run) -> None:
    result = run("yes flood >&2", language="bash")
    assert result.killed_reason == "output_limit" and len(result.stderr) == 100_000


def test_no_leftover_processes_after_return(any_run) -> None:
    marker = f"leftover{secrets.token_hex(4)}"
    result = any_run(
        f"(setsid sh -c 'exec -a {marker} sleep 60' </dev/null >/dev/null 2>&1 &) ; echo started",
        language="bash",
    )
    assert result.stdout == "started\n"
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert survivors.stdout == ""


def test_no_leftover_processes_after_timeout(any_run) -> None:
    marker = f"leftover{secrets.token_hex(4)}"
    result = any_run(f"exec -a {marker} sleep 60", language="bash", timeout_s=0.5)
    assert result.timed_out
    survivors = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    assert survivors.stdout == ""


# -- kernel attack surface (seccomp, namespaces, privileges) -------------------------------


@pytest.mark.parametrize(
    ("label", "call"),
    [
        ("ptrace-traceme", "101, 0, 0, 0, 0"),
        ("ptrace-attach-init", "101, 16, 1, 0, 0"),
        ("mount-tmpfs", "165, b'none', b'/tmp', b'tmpfs', 0, 0"),
        ("umount", "166, b'/proc', 2"),
        ("unshare-user", "272, 0x10000000"),
        ("unshare-net", "272, 0x40000000"),
        ("setns", "308, 0, 0"),
        ("clone-newuser", "56, 0x10000000 | 17, 0, 0, 0, 0"),
        ("keyctl", "250, 0, 0, 0, 0"),
        ("add-key", "248, b'user', b'k', b'v', 1, -2"),
        ("bpf", "321, 0, 0, 0"),
        ("io-uring", "425, 8, 0"),
        ("perf-event-open", "298, 0, 0, -1, -1, 0"),
        ("chroot", "161, b'/tmp'"),
        ("sethostname", "170, b'x', 1"),
        ("x32-abi-getpid", "0x40000000 | 39"),
        ("open-by-handle", "304, 0, 0, 0"),
        ("fsopen", "430, b'tmpfs', 0"),
    ],
)
def test_dangerous_syscalls_fail(any_run, label: str, call: str) -> None:
    result = any_run(SYSCALL + f"attempt({label!r}, {call})\n")
    assert result.stdout == f"OK {label} EPERM\n", result.stdout + result.stderr


def test_clone3_reports_enosys(any_run) -> None:
    result = any_run(SYSCALL + "attempt('clone3', 435, 0, 0)\n")
    assert result.stdout == "OK clone3 ENOSYS\n"


@pytest.mark.parametrize(
    ("label", "request_code"),
    [
        ("tiocsti", 0x5412),
        ("tiocsti-high-bits", 0x5412 | (1 << 32)),
        ("tiocsti-all-high-bits", 0x5412 | (0xFFFFFFFF << 32)),
        ("tioclinux", 0x541C),
    ],
)
def test_terminal_injection_ioctls_fail(any_run, label: str, request_code: int) -> None:
    # On a pty the sandbox owns, TIOCSTI works without the filter (legacy_tiocsti permitting);
    # the filter must refuse it with EPERM whatever the high bits of the request hold.
    result = any_run(
        SYSCALL
        + "import pty\nmaster, slave = pty.openpty()\nchar = ctypes.c_char(b'x')\n"
        + f"attempt({label!r}, 16, slave, {request_code}, ctypes.byref(char))\n"
    )
    assert result.stdout == f"OK {label} EPERM\n", result.stdout + result.stderr


def test_nested_user_namespace_tools_fail(any_run) -> None:
    result = any_run(
        "unshare -U -r id -u; echo rc=$?; bwrap --ro-bind / / true; echo rc=$?", language="bash"
    )
    assert "rc=0" not in result.stdout and result.stdout.count("rc=") == 2


def test_setuid_binaries_do_not_elevate(any_run) -> None:
    result = any_run(
        "mount -t tmpfs none /tmp 2>/dev/null; echo mount=$?; "
        "su -c 'echo ESCAPED' root </dev/null 2>/dev/null; echo su=$?; "
        "grep -E '^(Uid|CapEff|NoNewPrivs)' /proc/self/status",
        language="bash",
    )
    assert "ESCAPED" not in result.stdout
    assert "mount=0" not in result.stdout and "su=0" not in result.stdout
    assert "CapEff:\t0000000000000000" in result.stdout and "NoNewPrivs:\t1" in result.stdout
    assert "Uid:\t1000\t1000\t1000\t1000" in result.stdout


def test_seccomp_filter_is_installed(any_run) -> None:
    result = any_run("grep -E '^Seccomp:' /proc/self/status", language="bash")
    assert result.stdout == "Seccomp:\t2\n"


def test_code_holds_only_its_standard_fds(any_run) -> None:
    # No pipe back to the host other than stdout/stderr: not the job pipe of a warm sandbox,
    # not the workspace export pipe, not a memfd.
    result = any_run(
        "import os\nfds = sorted(map(int, os.listdir('/proc/self/fd')))\n"
        "print([(fd, os.readlink(f'/proc/self/fd/{fd}')[:5]) for fd in fds if fd != fds[-1]])\n"
    )
    assert result.stdout == "[(0, '/dev/'), (1, 'pipe:'), (2, 'pipe:')]\n", result.stdout
