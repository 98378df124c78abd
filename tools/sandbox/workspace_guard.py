"""The workspace cap (bytes and entries) and the list of files each cell created or changed.

A per-file size limit (RLIMIT_FSIZE) holds inside the kernel; the total is watched from the host:
a thread measures the workspace while the sandbox lives (every 50 ms while a cell runs, every
0.5 s between cells, when background processes may still write), and when the total passes the
cap it stops the sandbox and removes the files created since the last cell ended. Between two
looks a cell can write at most one interval's worth of data.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from heron.tools.results import Artifact
from heron.tools.sandbox.watch import SandboxWatcher
from heron.tools.workspace_paths import workspace_usage

Snapshot = dict[str, tuple[int, int]]  # relative path -> (size, mtime_ns), regular files only


def snapshot(root: Path) -> Snapshot:
    """Every regular file below ``root`` (links are never followed)."""
    found: Snapshot = {}
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                found[str(Path(entry.path).relative_to(root))] = (info.st_size, info.st_mtime_ns)
    return found


def changed_files(before: Snapshot, after: Snapshot) -> list[Artifact]:
    """Artifacts for the files created or modified between two snapshots, sorted by path."""
    artifacts = []
    for path in sorted(after):
        if path not in before:
            change = "created"
        elif before[path] != after[path]:
            change = "modified"
        else:
            continue
        artifacts.append(Artifact.for_file(Path(path), bytes=after[path][0], change=change))
    return artifacts


def remove_new_files(root: Path, before: Snapshot) -> list[str]:
    """Delete regular files that are not in ``before``; returns their relative paths."""
    removed = []
    for path in snapshot(root):
        if path not in before:
            with contextlib.suppress(OSError):
                os.unlink(root / path)
                removed.append(path)
    return sorted(removed)


class WorkspaceWatcher(SandboxWatcher):
    """Calls ``on_breach(reason)`` once when the workspace passes its byte or entry cap."""

    name = "heron-workspace-watcher"

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        max_entries: int,
        on_breach: Callable[[str], None],
        busy_interval: float = 0.05,
        idle_interval: float = 0.5,
    ) -> None:
        super().__init__(on_breach, busy_interval, idle_interval)
        self.root = root
        self.max_bytes = max_bytes
        self.max_entries = max_entries

    def check(self) -> str | None:
        """Why the workspace is over its cap, or None."""
        used, entries = workspace_usage(self.root, stop_above_files=self.max_entries)
        if used > self.max_bytes:
            return f"the workspace passed its cap of {self.max_bytes // 2**20} MiB ({used} bytes)"
        if entries > self.max_entries:
            return f"the workspace passed its cap of {self.max_entries} files and folders"
        return None
