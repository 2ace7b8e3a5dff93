"""The seccomp filter every sandboxed process runs under, as a classic-BPF program for bwrap.

bwrap's ``--seccomp FD`` loads a ``struct sock_filter[]`` read from FD just before it executes
the command (after ``PR_SET_NO_NEW_PRIVS``). The filter is written here rather than taken from
libseccomp because it is small and must be exact:

* the architecture must be x86-64 (anything else, e.g. an i386 ``int 0x80`` call, kills the
  process) and x32 syscall numbers are refused;
* namespace, mount, kernel-keyring, BPF, ptrace, module, kexec, io_uring and clock syscalls fail
  with ``EPERM``;
* ``clone`` with any ``CLONE_NEW*`` flag fails with ``EPERM``; ``clone3`` (whose flags live in
  memory BPF cannot read) fails with ``ENOSYS`` so the C library falls back to ``clone``;
* ``ioctl`` TIOCSTI and TIOCLINUX fail with ``EPERM``. Only the low 32 bits of the request are
  compared, as the kernel does, so setting high bits cannot slip past the check.
"""

from __future__ import annotations

import errno
import platform
import struct
from dataclasses import dataclass

# struct seccomp_data offsets (little-endian): nr, arch, instruction pointer, args[6].
_NR, _ARCH = 0, 4


def _arg_low(index: int) -> int:
    return 16 + 8 * index


_LD_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET = 0x06  # BPF_RET | BPF_K

RET_ALLOW = 0x7FFF0000
RET_ERRNO = 0x00050000
RET_KILL_PROCESS = 0x80000000

AUDIT_ARCH_X86_64 = 0xC000003E
X32_SYSCALL_BIT = 0x40000000

TIOCSTI = 0x5412
TIOCLINUX = 0x541C
CLONE_NAMESPACE_FLAGS = (
    0x00020000  # CLONE_NEWNS
    | 0x02000000  # CLONE_NEWCGROUP
    | 0x04000000  # CLONE_NEWUTS
    | 0x08000000  # CLONE_NEWIPC
    | 0x10000000  # CLONE_NEWUSER
    | 0x20000000  # CLONE_NEWPID
    | 0x40000000  # CLONE_NEWNET
)

SYS_IOCTL = 16
SYS_CLONE = 56
SYS_CLONE3 = 435

BLOCKED_SYSCALLS: dict[str, int] = {
    "ptrace": 101,
    "syslog": 103,
    "vhangup": 153,
    "pivot_root": 155,
    "adjtimex": 159,
    "chroot": 161,
    "acct": 163,
    "settimeofday": 164,
    "mount": 165,
    "umount2": 166,
    "swapon": 167,
    "swapoff": 168,
    "reboot": 169,
    "sethostname": 170,
    "setdomainname": 171,
    "iopl": 172,
    "ioperm": 173,
    "init_module": 175,
    "delete_module": 176,
    "quotactl": 179,
    "lookup_dcookie": 212,
    "clock_settime": 227,
    "kexec_load": 246,
    "add_key": 248,
    "request_key": 249,
    "keyctl": 250,
    "unshare": 272,
    "perf_event_open": 298,
    "name_to_handle_at": 303,
    "open_by_handle_at": 304,
    "clock_adjtime": 305,
    "setns": 308,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "kcmp": 312,
    "finit_module": 313,
    "kexec_file_load": 320,
    "bpf": 321,
    "userfaultfd": 323,
    "io_uring_setup": 425,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "open_tree": 428,
    "move_mount": 429,
    "fsopen": 430,
    "fsconfig": 431,
    "fsmount": 432,
    "fspick": 433,
    "mount_setattr": 442,
}


@dataclass(frozen=True)
class _Insn:
    code: int
    k: int = 0
    jt: str | None = None
    jf: str | None = None


def supported() -> bool:
    """Whether this machine's architecture has a filter (x86-64 only, for now)."""
    return platform.machine() in ("x86_64", "AMD64")


def build_filter() -> bytes:
    """The filter as bytes, ready to be handed to ``bwrap --seccomp``."""
    program: list[_Insn] = [
        _Insn(_LD_ABS, _ARCH),
        _Insn(_JEQ, AUDIT_ARCH_X86_64, jt=None, jf="kill"),
        _Insn(_LD_ABS, _NR),
        _Insn(_JGE, X32_SYSCALL_BIT, jt="eperm"),
        _Insn(_JEQ, SYS_CLONE3, jt="enosys"),
        _Insn(_JEQ, SYS_CLONE, jt="clone"),
        _Insn(_JEQ, SYS_IOCTL, jt="ioctl"),
        *(_Insn(_JEQ, number, jt="eperm") for number in sorted(BLOCKED_SYSCALLS.values())),
        _Insn(_RET, RET_ALLOW),
    ]
    labels: dict[str, int] = {}

    def label(name: str, *insns: _Insn) -> None:
        labels[name] = len(program)
        program.extend(insns)

    label("clone", _Insn(_LD_ABS, _arg_low(0)), _Insn(_JSET, CLONE_NAMESPACE_FLAGS, jt="eperm"))
    program.append(_Insn(_RET, RET_ALLOW))
    label(
        "ioctl",
        _Insn(_LD_ABS, _arg_low(1)),
        _Insn(_JEQ, TIOCSTI, jt="eperm"),
        _Insn(_JEQ, TIOCLINUX, jt="eperm"),
    )
    program.append(_Insn(_RET, RET_ALLOW))
    label("eperm", _Insn(_RET, RET_ERRNO | errno.EPERM))
    label("enosys", _Insn(_RET, RET_ERRNO | errno.ENOSYS))
    label("kill", _Insn(_RET, RET_KILL_PROCESS))

    def offset(position: int, target: str | None) -> int:
        if target is None:
            return 0
        distance = labels[target] - position - 1
        if not 0 <= distance <= 255:
            raise ValueError(f"seccomp jump to {target} out of range")
        return distance

    return b"".join(
        struct.pack("<HBBI", insn.code, offset(i, insn.jt), offset(i, insn.jf), insn.k)
        for i, insn in enumerate(program)
    )
