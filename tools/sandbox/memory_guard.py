"""The sandbox's memory as a whole, watched from the host where no memory cgroup bounds it.

rlimits bound each process's address space; a cgroup bounds all of them together. Where heron may
not create one (a regular user on cgroup v1, or cgroup v2 without a delegated subtree), the host adds
up the proportional set size of every process of the sandbox (PSS: a page shared by n processes
counts 1/n in each, so forked children are not counted twice) and stops the sandbox when the total
passes the bound a cgroup would have set (``sandbox_memory_limit``). Unlike the cgroup, which lets
the kernel kill the one process that did not fit, this stops the whole sandbox; between two looks a
cell can allocate what it manages to in 50 ms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from heron.tools.sandbox.watch import SandboxWatcher


def proportional_set_size(pids: Iterable[int]) -> int:
    """Bytes of memory ``pids`` use together (PSS from /proc/PID/smaps_rollup; gone pids count 0)."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Pss:"):
                    total += int(line.split()[1]) * 1024
                    break
    return total


class MemoryWatcher(SandboxWatcher):
    """Stops the sandbox when its processes together use more than ``limit_bytes``."""

    name = "heron-sandbox-memory-watcher"

    def __init__(
        self, limit_bytes: int, processes: Callable[[], Iterable[int]], on_breach: Callable[[str], None]
    ) -> None:
        super().__init__(on_breach)
        self.limit_bytes = limit_bytes
        self._processes = processes

    def check(self) -> str | None:
        used = proportional_set_size(self._processes())
        if used > self.limit_bytes:
            return (
                f"the sandbox's processes together used more than {self.limit_bytes // 2**20} MiB of "
                f"memory ({used // 2**20} MiB)"
            )
        return None
