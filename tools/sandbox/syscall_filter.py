"""The sandbox's system-call filter (seccomp): the kernel calls a sandboxed cell may not make.

Like Docker's default profile, it refuses with ``EPERM`` the calls that reach kernel features no
namespace isolates (the keyring, kernel modules, the clock, swap, reboot), that inspect or modify other
processes (``ptrace``), that expose large attack surfaces to unprivileged code (``bpf``,
``perf_event_open``, ``userfaultfd``, ``io_uring``), and those that create namespaces or mounts. Every
other call is allowed: a refusal list, so ordinary programs (numpy, matplotlib, subprocesses, threads)
run unchanged. ``clone3`` answers ``ENOSYS`` instead, as in Docker: its flags sit behind a pointer
the filter cannot read, and C libraries fall back to ``clone``, whose namespace flags are checked.

The filter is compiled by libseccomp (through ``pyseccomp``) into the BPF program bubblewrap loads
with ``--seccomp`` just before it starts the worker, so bubblewrap's own set-up (unshare, mount) is
not affected. It covers x86-64 and aarch64 and their 32-bit modes; a call made in any other
architecture's convention kills the process, since it would pass a list written for these.
"""

from __future__ import annotations

import errno
import functools
import os
from dataclasses import dataclass
from types import ModuleType

from heron.errors import SandboxUnavailableError

# Refused calls, by why they are refused. A name a given architecture lacks is skipped there.
REFUSED_CALLS: dict[str, tuple[str, ...]] = {
    "kernel keyring (not namespaced)": ("keyctl", "add_key", "request_key"),
    "tracing and reading other processes": (
        "ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
    ),
    "kernel attack surface for unprivileged code": (
        "bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
        "lookup_dcookie", "fanotify_init",
    ),
    "namespaces": ("unshare", "setns"),
    "mounts and file handles": (
        "mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
        "move_mount", "open_tree", "mount_setattr", "open_by_handle_at", "name_to_handle_at",
        "quotactl", "quotactl_fd", "nfsservctl",
    ),
    "kernel modules and kexec": (
        "init_module", "finit_module", "delete_module", "create_module", "query_module",
        "get_kernel_syms", "kexec_load", "kexec_file_load",
    ),
    "the machine's clock, swap, power and accounting": (
        "settimeofday", "stime", "clock_settime", "clock_adjtime", "swapon", "swapoff", "reboot", "acct",
        "syslog", "vhangup",
    ),
    "hardware and legacy interfaces": (
        "iopl", "ioperm", "vm86", "vm86old", "uselib", "ustat", "sysfs", "_sysctl",
        "afs_syscall", "tuxcall", "security", "getpmsg", "putpmsg", "vserver",
    ),
    "memory placement across NUMA nodes": ("mbind", "set_mempolicy", "get_mempolicy", "move_pages"),
}  # fmt: skip

# clone with any of these flags would create a namespace; clone without them (fork, threads) is fine.
NAMESPACE_CLONE_FLAGS = {
    "CLONE_NEWTIME": 0x00000080,
    "CLONE_NEWNS": 0x00020000,
    "CLONE_NEWCGROUP": 0x02000000,
    "CLONE_NEWUTS": 0x04000000,
    "CLONE_NEWIPC": 0x08000000,
    "CLONE_NEWUSER": 0x10000000,
    "CLONE_NEWPID": 0x20000000,
    "CLONE_NEWNET": 0x40000000,
}
# personality() flags that weaken memory protections (no ASLR, executable data, page zero mapped).
UNSAFE_PERSONALITY_FLAGS = {
    "ADDR_NO_RANDOMIZE": 0x0040000,
    "MMAP_PAGE_ZERO": 0x0100000,
    "ADDR_COMPAT_LAYOUT": 0x0200000,
    "READ_IMPLIES_EXEC": 0x0400000,
}
PERSONALITY_QUERY_BIT = 0x80000000  # personality(0xffffffff) only reads the current value
ARCHITECTURES = ("X86_64", "X86", "X32", "AARCH64", "ARM")

INSTALL_HINT = (
    "install libseccomp: `sudo apt-get install libseccomp2` (Debian/Ubuntu), `sudo dnf install libseccomp` "
    "(Fedora), `sudo pacman -S libseccomp` (Arch). Only for debugging, and at your own risk, "
    "sandbox.unsafe_no_seccomp = true runs sandboxed code without the system-call filter"
)


@dataclass(frozen=True)
class CompiledFilter:
    """A BPF program for ``bwrap --seccomp`` and what it refuses on this machine."""

    program: bytes
    refused: tuple[str, ...]  # names refused on this machine's architecture, clone3 included

    def describe(self) -> str:
        return (
            f"seccomp: on, {len(self.refused)} system calls refused, clone with namespace flags and "
            f"personality with unsafe flags too ({', '.join(name.lower() for name in ARCHITECTURES)})"
        )


@functools.cache
def compiled_filter() -> CompiledFilter:
    """The filter, compiled once per process; raises SandboxUnavailableError without libseccomp."""
    seccomp = _libseccomp()
    refuse = seccomp.ERRNO(errno.EPERM)
    syscall_filter = seccomp.SyscallFilter(seccomp.ALLOW)
    for arch in ARCHITECTURES:
        number = getattr(seccomp.Arch, arch)
        if not syscall_filter.exist_arch(number):
            syscall_filter.add_arch(number)
    refused: list[str] = []
    for names in REFUSED_CALLS.values():
        for name in names:
            if _known_somewhere(seccomp, name):
                syscall_filter.add_rule(refuse, name)
                refused += [name] if _native_number(seccomp, name) >= 0 else []
    syscall_filter.add_rule(seccomp.ERRNO(errno.ENOSYS), "clone3")
    refused.append("clone3")
    for flag in NAMESPACE_CLONE_FLAGS.values():
        syscall_filter.add_rule(refuse, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    for flag in UNSAFE_PERSONALITY_FLAGS.values():
        # One comparison per argument is all libseccomp takes: "flag set and not a query" as one mask.
        mask = flag | PERSONALITY_QUERY_BIT
        syscall_filter.add_rule(refuse, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, mask, flag))
    syscall_filter.set_attr(seccomp.Attr.ACT_BADARCH, seccomp.KILL_PROCESS)
    syscall_filter.set_attr(seccomp.Attr.CTL_OPTIMIZE, 2)  # a binary search over call numbers
    return CompiledFilter(program=_export(syscall_filter), refused=tuple(refused))


def _libseccomp() -> ModuleType:
    try:
        import pyseccomp
    except (ImportError, RuntimeError) as exc:  # pyseccomp raises RuntimeError when libseccomp is missing
        raise SandboxUnavailableError(
            f"libseccomp cannot be loaded ({exc}), so the sandbox cannot filter system calls", INSTALL_HINT
        ) from exc
    return pyseccomp


def _native_number(seccomp: ModuleType, name: str) -> int:
    return int(seccomp.resolve_syscall(seccomp.Arch.NATIVE, name))


def _known_somewhere(seccomp: ModuleType, name: str) -> bool:
    # libseccomp gives calls an architecture lacks a negative stand-in number; only -1 means unknown.
    return _native_number(seccomp, name) != -1


def _export(syscall_filter: object) -> bytes:
    fd = os.memfd_create("heron-seccomp-export", os.MFD_CLOEXEC)
    with os.fdopen(fd, "w+b") as sink:
        syscall_filter.export_bpf(sink)  # type: ignore[attr-defined]
        sink.seek(0)
        return sink.read()
