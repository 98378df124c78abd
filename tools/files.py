"""File tools confined to the workspace: ``read_file``, ``write_file``, ``list_files``.

Paths are relative to the workspace. ``..`` past its root, absolute paths elsewhere and symbolic
links (anywhere in the path) are refused with a hint to the model, never followed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
import weakref
from pathlib import Path
from typing import Any

from heron.errors import ModelRetry
from heron.tools.context import ToolContext
from heron.tools.declaration import LongText, tool
from heron.tools.results import Artifact, Risk, ToolResult
from heron.tools.workspace_paths import (
    open_dir,
    open_file_at,
    open_parent_dir,
    workspace_parts,
    workspace_usage,
)

MAX_LISTED = 200
# each tool session's workspace size when a file tool first measured it (see _check_room)
_FIRST_USAGE: weakref.WeakKeyDictionary[ToolContext, int] = weakref.WeakKeyDictionary()


READ_CHARS = 4000  # what one read shows by default: an agent's tool result limit (result_chars)
_NOTE_CHARS = 150  # room kept for the note after a part, so that a limit as large as the part keeps it


@tool(concurrent=True)
def read_file(path: str, ctx: ToolContext, start_line: int = 1, max_chars: int = READ_CHARS) -> ToolResult:
    """Read a text file from the workspace. A long file comes in parts: the result says which lines
    it shows and the start_line that reads on.

    Args:
        path: the file's path relative to the workspace, as the task or list_files gives it
        start_line: the first line to show: 1 is the file's first line, -1 its last, -20 its last 20 lines
        max_chars: show at most this many characters
    """
    parts = _file_parts(ctx.workspace, path)
    with open_parent_dir(ctx.workspace, parts, path) as dir_fd:
        fd = open_file_at(dir_fd, parts[-1], path, os.O_RDONLY)
        with os.fdopen(fd, "rb") as fh:
            if b"\0" in fh.read(8192):
                size = os.fstat(fh.fileno()).st_size
                return ToolResult.error(
                    f"`{path}` is a binary file ({size} bytes); read_file only shows text"
                )
            fh.seek(0)
            total = _count_lines(fh)
            first = _first_line(start_line, total)
            if first is None:
                return ToolResult.error(
                    f"`{path}` has {total} lines; start_line {start_line} is past its end "
                    f"(1 is its first line, -1 its last)"
                )
            fh.seek(0)
            text, last, line_cut = _lines_from(fh, first, max(1, max_chars))
            if line_cut or first > 1 or last < total:  # a part, and a note after it: both in max_chars
                fh.seek(0)
                room = _NOTE_CHARS if max_chars >= 2 * _NOTE_CHARS else 0  # (a small limit is the caller's)
                text, last, line_cut = _lines_from(fh, first, max(1, max_chars - room))
            size = os.fstat(fh.fileno()).st_size
    artifact = Artifact.for_file(Path(*parts), bytes=size)
    end = "" if text.endswith("\n") or not text else "\n"
    on = f"; read_file with start_line={last + 1} reads on" if last < total else ", the end of the file"
    if line_cut:  # one line longer than max_chars
        long = f"line {first} of {total} is longer than {max_chars} characters"
        text += f"{end}[read_file: {long}: its start is shown{on}]"
    elif first > 1 or last < total:  # a part: say which, and how to read on
        lines = f"line {first}" if first == last else f"lines {first}-{last}"
        text += f"{end}[read_file: {lines} of {total} shown{on}]"
    return ToolResult(text=text, artifacts=[artifact])


def _count_lines(fh: Any) -> int:
    """Lines in the file, a last line without a newline included."""
    count, tail = 0, b""
    while chunk := fh.read(1 << 20):
        count, tail = count + chunk.count(b"\n"), chunk[-1:]
    return count + (1 if tail and tail != b"\n" else 0)


def _first_line(start_line: int, total: int) -> int | None:
    """The 1-based line ``start_line`` names (negative: counted from the end); None past the end."""
    first = total + 1 + start_line if start_line < 0 else max(1, start_line)
    if first > max(total, 1):
        return None
    return max(1, first)


def _lines_from(fh: Any, first: int, max_chars: int) -> tuple[str, int, bool]:
    """The text of lines ``first``.. while it fits ``max_chars``, the number of the last line shown,
    and whether that one line was cut (a line longer than ``max_chars``: its start only). Reads at
    most a bounded piece of any line: a file of one huge line is not read whole."""
    number = 1
    while number < first:  # skip to the first line, a long one piece by piece
        raw = fh.readline(1 << 20)
        if not raw:
            break
        number += raw.endswith(b"\n")
    limit = max_chars * 4 + 1  # bytes that hold more than max_chars characters of any UTF-8 text
    shown: list[str] = []
    used = 0
    while raw := fh.readline(limit):
        line = raw.decode("utf-8", errors="replace")
        whole = raw.endswith(b"\n") or len(raw) < limit  # (the last line may have no newline)
        if not whole or used + len(line) > max_chars:
            if not shown:  # not even one whole line fits: its start
                return line[:max_chars], first, True
            break
        shown.append(line)
        used += len(line)
    return "".join(shown), first + len(shown) - 1, False


@tool(risk=Risk.HIGH, think=True, repeats_allowed=("content",))
def write_file(path: str, content: LongText, ctx: ToolContext, append: bool = False) -> ToolResult:
    """Write a text file in the workspace (creating folders as needed); replaces an existing file.

    Args:
        path: the file's path relative to the workspace (the name the task gives, if it gives one)
        content: the text to write
        append: add to the end of the file instead of replacing it
    """
    parts = _file_parts(ctx.workspace, path)
    data = content.encode("utf-8")
    _check_room(ctx, len(data))
    with open_parent_dir(ctx.workspace, parts, path, create=True) as dir_fd:
        name = parts[-1]
        existed = _refuse_link_or_dir(dir_fd, name, path)
        if append and existed:
            fd = open_file_at(dir_fd, name, path, os.O_WRONLY | os.O_APPEND)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        else:
            _write_atomically(dir_fd, name, path, data)
        size = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_size
    verb = "appended to" if append and existed else ("replaced" if existed else "created")
    artifact = Artifact.for_file(Path(*parts), bytes=size, change="modified" if existed else "created")
    return ToolResult(text=f"{verb} {'/'.join(parts)} ({size} bytes)", artifacts=[artifact])


@tool(concurrent=True)
def list_files(ctx: ToolContext, path: str = ".") -> str:
    """List the files in a workspace folder and its sub-folders, with sizes.

    Args:
        path: folder relative to the workspace; "." is the workspace itself
    """
    lines: list[str] = []
    with open_dir(ctx.workspace, path) as fd:
        _list_into(fd, "", lines)
    if not lines:
        return f"{path}: empty (0 files)"
    # the counts first, said in words: asked how many files there are, a model counts badly
    more = len(lines) > MAX_LISTED
    folders = sum(line.endswith("/") for line in lines[:MAX_LISTED])
    files = min(len(lines), MAX_LISTED) - folders
    counted = f"{'at least ' if more else ''}{_count(files, 'file')}, {_count(folders, 'folder')}"
    if more:
        lines = [*lines[:MAX_LISTED], f"... and {len(lines) - MAX_LISTED} more entries"]
    return "\n".join([f"{path}: {counted}", *lines])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _list_into(dir_fd: int, prefix: str, lines: list[str]) -> None:
    for name in sorted(os.listdir(dir_fd)):
        if len(lines) > MAX_LISTED:
            lines.append("...")
            return
        info = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        shown = prefix + name
        if stat.S_ISLNK(info.st_mode):
            lines.append(f"{shown} -> (symbolic link, not followed)")
        elif stat.S_ISDIR(info.st_mode):
            lines.append(f"{shown}/")
            sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                _list_into(sub, shown + "/", lines)
            finally:
                os.close(sub)
        else:
            lines.append(f"{shown} ({info.st_size} bytes)")


def _file_parts(workspace: Path, path: str) -> list[str]:
    parts = workspace_parts(workspace, path)
    if not parts:
        raise ModelRetry(f"`{path}` is the workspace folder itself; give a file path inside it")
    return parts


def _refuse_link_or_dir(dir_fd: int, name: str, path: str) -> bool:
    """True when ``name`` exists as a regular file; a link or folder there is refused."""
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except FileNotFoundError:
        return False
    if stat.S_ISLNK(mode):
        raise ModelRetry(f"`{path}` is a symbolic link; file tools never write through links")
    if not stat.S_ISREG(mode):
        raise ModelRetry(f"`{path}` exists and is not a regular file")
    return True


def _write_atomically(dir_fd: int, name: str, path: str, data: bytes) -> None:
    # A temp file renamed over the target: a crash mid-write never leaves a half-written file.
    temp = f".{name}.heron-{uuid.uuid4().hex[:8]}.tmp"
    fd = open_file_at(dir_fd, temp, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(temp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp, dir_fd=dir_fd)
        raise


def _check_room(ctx: ToolContext, new_bytes: int) -> None:
    """The workspace cap, as the sandbox holds it: a workspace already past the cap when the tools
    first measured it (a project folder, ``heron chat --workspace .``) may not grow past that size."""
    used, _ = workspace_usage(ctx.workspace)
    cap = max(ctx.settings.sandbox.workspace_max_mb * 2**20, _FIRST_USAGE.setdefault(ctx, used))
    if used + new_bytes > cap:
        raise ModelRetry(
            f"writing {new_bytes} bytes would pass the workspace cap of {cap // 2**20} MiB "
            f"({used} bytes used); write less or delete files first"
        )
