"""Memory and process-count limits for a whole sandbox through a cgroup, where heron may create one.

rlimits bound each process; a cgroup bounds the sandbox as a whole (a fork bomb of processes that
each stay under the address-space limit). heron creates a child of its own cgroup when the
hierarchy is writable: cgroup v1 ``memory`` and ``pids`` controllers, or cgroup v2 with those
controllers enabled for children. Elsewhere the rlimits alone apply (``describe()`` says which).
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
KERNEL_HEADROOM_MB = 32  # page tables and kernel objects the cgroup also counts


def sandbox_memory_limit(memory_mb: int, tmp_mb: int) -> int:
    """Bytes the whole sandbox may use: one process at its address-space limit, plus full /tmp and
    /dev/shm (tmpfs pages count as memory), plus kernel headroom; more processes must share it."""
    return (memory_mb + 2 * tmp_mb + KERNEL_HEADROOM_MB) * 2**20


@dataclass
class SandboxCgroup:
    """The cgroup directories of one sandbox (one per v1 hierarchy, or one v2 directory)."""

    directories: list[Path]
    limits: list[str] = field(default_factory=list)

    @property
    def bounds_memory(self) -> bool:
        """True when a memory controller limits the sandbox as a whole."""
        return any(limit.startswith("memory") for limit in self.limits)

    @classmethod
    def create(cls, name: str, memory_bytes: int, max_pids: int) -> SandboxCgroup | None:
        """A new cgroup with the limits, or None when no hierarchy is writable by this process."""
        own = _own_cgroups()
        directories: list[Path] = []
        limits: list[str] = []
        if "" in own and (CGROUP_ROOT / "cgroup.controllers").exists():  # pure cgroup v2
            made = _make_v2(CGROUP_ROOT / own[""].lstrip("/") / name, memory_bytes, max_pids, limits)
            directories += [made] if made else []
        else:
            for controller, write_limits in (("memory", _v1_memory), ("pids", _v1_pids)):
                if controller not in own:
                    continue
                directory = CGROUP_ROOT / controller / own[controller].lstrip("/") / name
                try:
                    directory.mkdir()
                    write_limits(directory, memory_bytes, max_pids)
                except OSError:
                    _remove_dir(directory)
                    continue
                directories.append(directory)
                limits.append(f"{controller} (cgroup v1)")
        return cls(directories, limits) if directories else None

    def procs_fds(self) -> list[int]:
        """Open ``cgroup.procs`` files; a child writes "0" to each to join before it drops privileges."""
        return [os.open(d / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for d in self.directories]

    def out_of_memory(self) -> bool:
        """True when the kernel's OOM killer acted in this cgroup."""
        for directory in self.directories:
            for name in ("memory.events", "memory.oom_control"):
                with contextlib.suppress(OSError):
                    for line in (directory / name).read_text().splitlines():
                        key, _, value = line.partition(" ")
                        if key == "oom_kill" and int(value) > 0:
                            return True
        return False

    def memory_peak(self) -> int | None:
        """Most memory the sandbox used at once, by the kernel's count; None without a memory cgroup."""
        for directory in self.directories:
            for name in ("memory.max_usage_in_bytes", "memory.peak"):
                with contextlib.suppress(OSError, ValueError):
                    return int((directory / name).read_text().strip())
        return None

    def remove(self) -> None:
        """Kill what is left inside (nothing, normally) and delete the directories."""
        for directory in self.directories:
            for _ in range(50):
                pids = _pids_in(directory)
                for pid in pids:
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
                if _remove_dir(directory):
                    break
                time.sleep(0.02)


def join_cgroups(fds: list[int]) -> None:
    """Runs in the forked child before exec: move this process into the sandbox cgroups."""
    for fd in fds:
        os.write(fd, b"0")


def _own_cgroups() -> dict[str, str]:
    """controller -> path of this process's cgroup ("" for the v2 unified hierarchy)."""
    found: dict[str, str] = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for controller in controllers.split(","):
                found[controller] = path
    return found


def _v1_memory(directory: Path, memory_bytes: int, max_pids: int) -> None:
    (directory / "memory.limit_in_bytes").write_text(str(memory_bytes))
    with contextlib.suppress(OSError):  # present only with swap accounting; without it swap is unlimited
        (directory / "memory.memsw.limit_in_bytes").write_text(str(memory_bytes))


def _v1_pids(directory: Path, memory_bytes: int, max_pids: int) -> None:
    (directory / "pids.max").write_text(str(max_pids))


def _make_v2(directory: Path, memory_bytes: int, max_pids: int, limits: list[str]) -> Path | None:
    try:
        enabled = (directory.parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return None
    if not {"memory", "pids"} & set(enabled):
        return None
    try:
        directory.mkdir()
        if "memory" in enabled:
            (directory / "memory.max").write_text(str(memory_bytes))
            with contextlib.suppress(OSError):
                (directory / "memory.swap.max").write_text("0")
            limits.append("memory (cgroup v2)")
        if "pids" in enabled:
            (directory / "pids.max").write_text(str(max_pids))
            limits.append("pids (cgroup v2)")
    except OSError:
        _remove_dir(directory)
        return None
    return directory


def _pids_in(directory: Path) -> list[int]:
    try:
        return [int(p) for p in (directory / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _remove_dir(directory: Path) -> bool:
    try:
        directory.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False
