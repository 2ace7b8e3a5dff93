"""Finding bwrap and proving, once at start-up, that it isolates: otherwise code is refused.

There is no unsandboxed fallback: every failure here becomes a ``SandboxUnavailableError``
whose message says how to install or enable bubblewrap.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nexus.core.sandbox_types import SandboxUnavailableError

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; Fedora: "
    "`sudo dnf install bubblewrap`; or `make system-deps`) and make sure unprivileged user "
    "namespaces are enabled (`sysctl user.max_user_namespaces` above 0). "
    "Nexus never runs code without the sandbox."
)

SELF_TEST_MARKER = "nexus-sandbox-self-test-ok"

SELF_TEST_SCRIPT = f"""
grep -q '^Seccomp:[[:space:]]*2' /proc/self/status || {{ echo 'no seccomp filter' >&2; exit 3; }}
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status || {{ echo 'no NoNewPrivs' >&2; exit 3; }}
grep -q '^CapEff:[[:space:]]*0000000000000000' /proc/self/status || {{ echo 'caps' >&2; exit 3; }}
[ "$(cat /proc/net/dev | wc -l)" -le 3 ] || {{ echo 'network namespace missing' >&2; exit 3; }}
echo {SELF_TEST_MARKER}
"""


def find_bwrap(configured: str | None) -> str:
    """The bwrap executable to use, or ``SandboxUnavailableError`` saying how to get one."""
    if configured is not None:
        path = Path(configured)
        if path.is_file():
            return str(path)
        raise SandboxUnavailableError(
            f"code execution is disabled: the configured bwrap {configured!r} does not exist; "
            + INSTALL_HINT
        )
    found = shutil.which("bwrap")
    if found is None:
        raise SandboxUnavailableError(
            "code execution is disabled: bubblewrap (bwrap) is not installed; " + INSTALL_HINT
        )
    return found


def self_test_failure(exit_code: int, stdout: str, stderr: str) -> SandboxUnavailableError | None:
    """``None`` if the self-test run proved isolation, else the error to refuse code with."""
    if exit_code == 0 and SELF_TEST_MARKER in stdout:
        return None
    detail = (stderr.strip() or stdout.strip() or f"exit code {exit_code}")[:300]
    return SandboxUnavailableError(
        f"code execution is disabled: the bubblewrap sandbox failed its self-test ({detail}); "
        + INSTALL_HINT
    )
