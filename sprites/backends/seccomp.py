"""The seccomp filter of a local Sprite: refuse what a Sprite never needs.

The sandbox already runs without capabilities in a user namespace of its own, so most of
these calls would fail anyway; the filter is the second wall, and it also closes calls
that need no capability (keyrings, ``userfaultfd``, ``io_uring``, namespace creation).

bubblewrap loads a compiled classic-BPF program (``--seccomp FD``); this module writes one
for x86-64. Refused calls fail with ``EPERM`` (``ENOSYS`` for ``clone3`` and ``io_uring``,
so libc and libuv fall back to ``clone`` and plain reads). Any other architecture or ABI
(32-bit ``int 0x80``, x32) is refused as a whole, so a syscall number cannot be smuggled
past the table through another calling convention.
"""

from __future__ import annotations

import errno
import platform
import struct

# <linux/audit.h>, <linux/seccomp.h>, <linux/filter.h>
_AUDIT_ARCH_X86_64 = 0xC000003E
_X32_SYSCALL_BIT = 0x40000000
_RET_ALLOW = 0x7FFF0000
_RET_ERRNO = 0x00050000
_LD_W_ABS = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JEQ_K = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JGE_K = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JSET_K = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RET_K = 0x06  # BPF_RET | BPF_K

# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6];
_NR_OFFSET = 0
_ARCH_OFFSET = 4
_ARG0_LOW_OFFSET = 16  # little-endian: the low 32 bits of args[0]

# Namespace flags of clone(2): CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000
CLONE_NAMESPACE_FLAGS |= 0x20000000 | 0x40000000

# x86-64 syscall numbers (arch/x86/entry/syscalls/syscall_64.tbl), refused with EPERM.
REFUSED_X86_64: dict[str, int] = {
    # mounting and the filesystem tree
    "mount": 165, "umount2": 166, "pivot_root": 155, "chroot": 161,
    "open_tree": 428, "move_mount": 429, "fsopen": 430, "fsconfig": 431, "fsmount": 432,
    "fspick": 433, "mount_setattr": 442, "swapon": 167, "swapoff": 168,
    "name_to_handle_at": 303, "open_by_handle_at": 304, "quotactl": 179, "quotactl_fd": 443,
    # namespaces
    "unshare": 272, "setns": 308,
    # kernel modules, kexec, reboot, the kernel's clock and log
    "init_module": 175, "finit_module": 313, "delete_module": 176, "kexec_load": 246,
    "kexec_file_load": 320, "reboot": 169, "settimeofday": 164, "clock_settime": 227,
    "clock_adjtime": 305, "adjtimex": 159, "syslog": 103, "acct": 163, "iopl": 172,
    "ioperm": 173, "vhangup": 153,
    # keyrings
    "add_key": 248, "request_key": 249, "keyctl": 250,
    # other processes' memory
    "ptrace": 101, "process_vm_readv": 310, "process_vm_writev": 311, "kcmp": 312,
    "pidfd_getfd": 438,
    # kernel attack surface a workload does not need
    "bpf": 321, "perf_event_open": 298, "userfaultfd": 323, "lookup_dcookie": 212,
}  # fmt: skip
# Refused with ENOSYS so that callers take their fallback path.
UNSUPPORTED_X86_64: dict[str, int] = {
    "clone3": 435,  # its flags sit in memory a filter cannot read: glibc falls back to clone
    "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
}  # fmt: skip
_CLONE_X86_64 = 56


def _statement(code: int, k: int) -> bytes:
    return struct.pack("=HBBI", code, 0, 0, k)


def _jump(code: int, k: int, if_true: int, if_false: int) -> bytes:
    return struct.pack("=HBBI", code, if_true, if_false, k)


def supported() -> bool:
    return platform.machine() == "x86_64"


def filter_program() -> bytes:
    """The compiled filter (``struct sock_filter[]``), as bubblewrap's ``--seccomp`` reads it."""
    if not supported():
        raise RuntimeError(f"No seccomp filter for {platform.machine()} yet.")
    eperm = _RET_ERRNO | errno.EPERM
    enosys = _RET_ERRNO | errno.ENOSYS
    program = [
        _statement(_LD_W_ABS, _ARCH_OFFSET),
        _jump(_JEQ_K, _AUDIT_ARCH_X86_64, 1, 0),
        _statement(_RET_K, eperm),
        _statement(_LD_W_ABS, _NR_OFFSET),
        _jump(_JGE_K, _X32_SYSCALL_BIT, 0, 1),
        _statement(_RET_K, eperm),
    ]
    for number in REFUSED_X86_64.values():
        program += [_jump(_JEQ_K, number, 0, 1), _statement(_RET_K, eperm)]
    for number in UNSUPPORTED_X86_64.values():
        program += [_jump(_JEQ_K, number, 0, 1), _statement(_RET_K, enosys)]
    program += [
        _jump(_JEQ_K, _CLONE_X86_64, 0, 3),
        _statement(_LD_W_ABS, _ARG0_LOW_OFFSET),
        _jump(_JSET_K, CLONE_NAMESPACE_FLAGS, 0, 1),
        _statement(_RET_K, eperm),
        _statement(_RET_K, _RET_ALLOW),
    ]
    return b"".join(program)
