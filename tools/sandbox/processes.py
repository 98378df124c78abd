"""Finding a session's processes on the host by the marker in their command line."""

from __future__ import annotations

import os


def pids_with_marker(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (processes forked by the worker inherit it)."""
    needle = marker.encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as fh:
                if needle in fh.read():
                    found.append(int(name))
        except OSError:
            continue  # ended while we looked, or not ours to read
    return sorted(found)


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc/PID/task/*/children."""
    found: list[int] = []
    stack = [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        try:
            tasks = os.listdir(f"/proc/{current}/task")
        except OSError:
            continue
        for task in tasks:
            try:
                with open(f"/proc/{current}/task/{task}/children") as fh:
                    stack.extend(int(child) for child in fh.read().split())
            except (OSError, ValueError):
                continue
    return found
