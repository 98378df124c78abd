"""Opening paths inside a workspace without ever leaving it: no ``..`` past the root, no symlinks.

Every component is opened relative to its parent's file descriptor with ``O_NOFOLLOW``, so a
symlink swapped in between a check and the open (say, by a process in the sandbox) cannot
redirect the host to a file outside the workspace.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from heron.errors import ModelRetry

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def workspace_parts(workspace: Path, path: str) -> list[str]:
    """``path`` (relative, or absolute under ``workspace``) as components below the workspace root."""
    raw = PurePosixPath(path.strip() or ".")
    if raw.is_absolute():
        try:
            raw = raw.relative_to(PurePosixPath(workspace))
        except ValueError:
            raise _outside(path) from None
    parts: list[str] = []
    for part in raw.parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise _outside(path)
            parts.pop()
            continue
        parts.append(part)
    return parts


@contextlib.contextmanager
def open_parent_dir(workspace: Path, parts: list[str], path: str, create: bool = False) -> Iterator[int]:
    """A descriptor of the directory holding ``parts[-1]``, reached without following any link."""
    fd = os.open(workspace, _DIR_FLAGS)
    try:
        for part in parts[:-1]:
            if create:
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, 0o755, dir_fd=fd)
            fd = _replace_fd(fd, _open_dir_at(fd, part, path))
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def open_dir(workspace: Path, path: str) -> Iterator[int]:
    """A descriptor of the directory ``path`` inside the workspace."""
    parts = workspace_parts(workspace, path)
    fd = os.open(workspace, _DIR_FLAGS)
    try:
        for part in parts:
            fd = _replace_fd(fd, _open_dir_at(fd, part, path))
        yield fd
    finally:
        os.close(fd)


def open_file_at(dir_fd: int, name: str, path: str, flags: int, mode: int = 0o644) -> int:
    """Open ``name`` in ``dir_fd`` without following a link; a link or a non-file is refused."""
    try:
        fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=dir_fd)
    except OSError as exc:
        raise _explain(exc, path, dir_fd, name) from exc
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise ModelRetry(f"`{path}` is not a regular file; use list_files to see what it is")
    return fd


def _open_dir_at(dir_fd: int, name: str, path: str) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        raise _explain(exc, path, dir_fd, name) from exc


def _replace_fd(old: int, new: int) -> int:
    os.close(old)
    return new


def _is_link(dir_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _explain(exc: OSError, path: str, dir_fd: int, name: str) -> ModelRetry:
    if exc.errno in (errno.ELOOP, errno.EMLINK) or _is_link(dir_fd, name):
        return ModelRetry(
            f"`{path}` goes through a symbolic link; file tools never follow links (one could point "
            "outside the workspace). Use the real path inside the workspace"
        )
    if exc.errno == errno.ENOENT:
        return ModelRetry(f"`{path}` does not exist in the workspace; call list_files to see what does")
    if exc.errno == errno.ENOTDIR:
        return ModelRetry(f"a part of `{path}` is a file, not a folder")
    if exc.errno == errno.EISDIR:
        return ModelRetry(f"`{path}` is a folder; give a file path, or call list_files on it")
    return ModelRetry(f"cannot open `{path}`: {exc.strerror}")


def _outside(path: str) -> ModelRetry:
    return ModelRetry(
        f"`{path}` is outside the workspace; file tools only reach files in it. "
        "Use a path relative to the workspace, e.g. `notes/todo.txt`"
    )


def workspace_usage(workspace: Path, stop_above_files: int | None = None) -> tuple[int, int]:
    """Total bytes and number of entries under ``workspace``; links are counted, never followed."""
    total_bytes = 0
    entries = 0
    stack = [str(workspace)]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for entry in it:
                    entries += 1
                    try:
                        info = entry.stat(follow_symlinks=False)
                    except OSError:
                        continue  # removed while we looked
                    if stat.S_ISDIR(info.st_mode):
                        stack.append(entry.path)
                    elif stat.S_ISREG(info.st_mode):
                        total_bytes += info.st_size
        except OSError:
            continue
        if stop_above_files is not None and entries > stop_above_files:
            break
    return total_bytes, entries
