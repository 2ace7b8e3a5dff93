"""Warm sandboxes: bwrap and a Python interpreter started ahead of time, waiting for one job.

A warm sandbox is built exactly like a cold one (same namespaces, mounts, seccomp filter,
unprivileged uid, empty tmpfs workspace) and runs the same outer shell, but the shell has
already started ``BOOTSTRAP`` under ``python -S``; it writes one byte (``READY``) on the archive
pipe once started, and blocks reading the job pipe. The host
writes one job there (a JSON header line: input files and rlimits, then the code) and closes
it. The bootstrap then:

1. writes the input files into the workspace and points its stdin at ``/dev/null``;
2. sets every rlimit of the job on itself (soft = hard, so they cannot be raised) before a
   line of user code runs; the CPU seconds the interpreter spent starting count against the
   limit (tens of milliseconds);
3. bash: execs ``bash -c CODE /run/nexus/main.sh`` (same ``$0`` and messages as the cold
   ``bash /run/nexus/main.sh``; the interpreter start saved is python's, the bwrap setup is
   what a warm bash call gains). Python: runs the code in-process as
   ``python -S /run/nexus/main.py`` would: ``__main__``,
   ``sys.argv``, ``sys.path[0]`` = ``/run/nexus``, tracebacks with source lines, exit status
   1 on an uncaught exception, then what shutdown does that the code can observe (join
   non-daemon threads, atexit callbacks, flush stdout/stderr) and ``os._exit``: tearing the
   interpreter down costs milliseconds and shows nothing (objects still alive at exit are
   not finalised, which Python does not promise either). No fork on this path: a forked
   interpreter pays copy-on-write faults for every page it touches.

When it exits, the outer shell (free of the job's rlimits, as in the cold path) writes the
workspace back as a tar if anything is in it and exits with the code's status. The sandbox is
never reused: bwrap's init exits with the shell and the kernel kills whatever the job left
running in the pid namespace.
"""

from __future__ import annotations

import json

from nexus.core.sandbox_types import SandboxLimits
from nexus.sandbox.limits import rlimit_settings
from nexus.sandbox.workspace import check_files

BOOTSTRAP_PATH = "/run/nexus/boot.py"
READY = b"R"

BOOTSTRAP = r"""
import atexit, builtins, json, linecache, os, resource, sys, traceback, types
SCRIPT = "/run/nexus/main.py"
# The first compile() and print() of a process cost milliseconds: pay them while waiting.
exec(compile("print(end='')", SCRIPT, "exec"), {})
os.write(0, b"R")  # Ready (fd 0 is the shell's archive pipe until the job arrives).


def _read_job(fd):
    chunks = []
    while True:
        data = os.read(fd, 1 << 20)
        if not data:
            os.close(fd)
            return b"".join(chunks)
        chunks.append(data)


def _prepare():
    header, _, code = _read_job(int(sys.argv[1])).partition(b"\n")
    job = json.loads(header)
    null = os.open("/dev/null", os.O_RDONLY)
    os.dup2(null, 0)  # fd 0 was the shell's archive pipe: the code must not hold it
    os.close(null)
    try:
        for path, text in job["files"].items():
            folder = os.path.dirname(path)
            if folder:
                os.makedirs(folder, exist_ok=True)
            with open(path, "wb") as handle:
                handle.write(text.encode())
    except OSError:
        os._exit(125)
    for name, soft, hard in job["rlimits"]:
        resource.setrlimit(getattr(resource, name), (soft, hard))
    if job["language"] == "bash":
        # $0 and error messages name the script as in the cold path.
        os.execv("/bin/bash", ["/bin/bash", "-c", code, "/run/nexus/main.sh"])
    source = code.decode("utf-8", "surrogateescape")
    linecache.cache[SCRIPT] = (len(source), None, source.splitlines(True), SCRIPT)
    return source


_source = _prepare()
del _read_job, _prepare
_main = types.ModuleType("__main__")
_main.__file__ = SCRIPT
_main.__cached__ = None
_main.__builtins__ = builtins
sys.modules["__main__"] = _main
sys.argv[:] = [SCRIPT]


def _finish(status):
    # What interpreter shutdown does that code can observe, in its order: join non-daemon
    # threads, run atexit callbacks, flush stdout/stderr (120 if that fails). Tearing the
    # interpreter down takes milliseconds and shows nothing, so skip it: os._exit.
    threading = sys.modules.get("threading")
    if threading is not None:
        threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            status = status or 120
    os._exit(status)


try:
    exec(compile(_source, SCRIPT, "exec"), _main.__dict__)
except SystemExit as exc:
    if exc.code is None or isinstance(exc.code, int):
        status = exc.code or 0
    else:
        print(exc.code, file=sys.stderr)
        status = 1
    del exc
    _finish(status)
except BaseException as exc:
    # Report it as the interpreter would, without this file's frame. The C traceback
    # printer reads source lines from disk, where main.py is not: print through
    # ``traceback`` (which reads ``linecache``) unless the code set its own hook.
    exc.__traceback__ = exc.__traceback__.tb_next
    if sys.excepthook is sys.__excepthook__:
        traceback.print_exception(exc)
    else:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    del exc
    _finish(1)
_finish(0)
"""


MAX_WARM_BASH_BYTES = 120_000
"""Longer bash code runs cold: a warm sandbox passes it as one argument (``bash -c``), and
Linux caps a single argument at 128 KiB."""


def encode_job(
    code: str, files: dict[str, str], limits: SandboxLimits, language: str = "python"
) -> bytes:
    """What the host writes to a warm sandbox's job pipe: header line, then the code."""
    checked = {path: data.decode() for path, data in check_files(files).items()}
    header = {
        "language": language,
        "files": checked,
        "rlimits": rlimit_settings(limits, address_space=True),
    }
    return json.dumps(header).encode() + b"\n" + code.encode()
