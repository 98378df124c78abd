"""read_file / write_file / list_files stay inside the workspace; links are never followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from heron.errors import ModelRetry
from heron.tools import Artifact, ToolContext, list_files, read_file, write_file


def test_write_read_and_list_inside_the_workspace(ctx: ToolContext) -> None:
    written = write_file.invoke({"path": "notes/todo.txt", "content": "feed the heron\n"}, ctx)
    assert written.text == "created notes/todo.txt (15 bytes)"
    assert written.artifacts == [Artifact(kind="file", path=Path("notes/todo.txt"),
                                          metadata={"bytes": 15, "change": "created"})]  # fmt: skip
    assert (ctx.workspace / "notes" / "todo.txt").read_text() == "feed the heron\n"
    write_file.invoke({"path": "notes/todo.txt", "content": "and the fish\n", "append": True}, ctx)
    assert read_file.invoke({"path": "notes/todo.txt"}, ctx).text == "feed the heron\nand the fish\n"
    assert read_file.invoke({"path": "./notes/../notes/todo.txt", "max_chars": 4}, ctx).text.startswith(
        "feed\n[read_file: line 1 of 2 is longer than 4 characters"
    )
    replaced = write_file.invoke({"path": str(ctx.workspace / "notes" / "todo.txt"), "content": "x"}, ctx)
    assert replaced.text == "replaced notes/todo.txt (1 bytes)"
    (ctx.workspace / "plot.png").write_bytes(b"\x89PNG\r\n\x1a\n\0\0")
    listing = "notes/\nnotes/todo.txt (1 bytes)\nplot.png (10 bytes)"
    assert list_files.invoke({}, ctx).text == f".: 2 files, 1 folder\n{listing}"
    assert list_files.invoke({"path": "notes"}, ctx).text == "notes: 1 file, 0 folders\ntodo.txt (1 bytes)"
    assert read_file.invoke({"path": "plot.png"}, ctx).is_error


@pytest.mark.parametrize("path", ["../outside.txt", "notes/../../outside.txt", "/etc/passwd", "/tmp/x.txt"])
def test_paths_outside_the_workspace_are_refused(path: str, ctx: ToolContext) -> None:
    with pytest.raises(ModelRetry, match="is outside the workspace"):
        read_file.invoke({"path": path}, ctx)
    with pytest.raises(ModelRetry, match="is outside the workspace"):
        write_file.invoke({"path": path, "content": "x"}, ctx)
    assert not (ctx.workspace.parent / "outside.txt").exists()
    assert not Path("/tmp/x.txt").exists()


def test_symlinks_are_never_followed(ctx: ToolContext, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret")
    os.symlink(secret, ctx.workspace / "link.txt")
    os.symlink(tmp_path, ctx.workspace / "linkdir")
    os.symlink(ctx.workspace / "real.txt", ctx.workspace / "inside-link.txt")
    (ctx.workspace / "real.txt").write_text("real")
    for path in ("link.txt", "linkdir/secret.txt", "inside-link.txt"):
        with pytest.raises(ModelRetry, match="symbolic link"):
            read_file.invoke({"path": path}, ctx)
    with pytest.raises(ModelRetry, match="symbolic link"):
        write_file.invoke({"path": "link.txt", "content": "overwritten"}, ctx)
    with pytest.raises(ModelRetry, match="symbolic link"):
        write_file.invoke({"path": "linkdir/new.txt", "content": "planted"}, ctx)
    with pytest.raises(ModelRetry, match="symbolic link"):
        list_files.invoke({"path": "linkdir"}, ctx)
    assert secret.read_text() == "the host's secret"
    assert not (tmp_path / "new.txt").exists()
    listing = list_files.invoke({}, ctx).text
    assert "link.txt -> (symbolic link, not followed)" in listing
    assert "secret" not in listing


def test_missing_files_and_folders_get_a_hint(ctx: ToolContext) -> None:
    (ctx.workspace / "folder").mkdir()
    assert list_files.invoke({"path": "folder"}, ctx).text == "folder: empty (0 files)"
    with pytest.raises(ModelRetry, match="does not exist in the workspace; call list_files"):
        read_file.invoke({"path": "nope.txt"}, ctx)
    with pytest.raises(ModelRetry, match="not a regular file"):
        read_file.invoke({"path": "folder"}, ctx)
    with pytest.raises(ModelRetry, match="the workspace folder itself"):
        write_file.invoke({"path": ".", "content": "x"}, ctx)


def test_write_file_respects_the_workspace_cap(ctx: ToolContext) -> None:
    cap = ctx.settings.sandbox.workspace_max_mb * 2**20
    (ctx.workspace / "big.bin").write_bytes(b"\0" * (cap - 100))
    with pytest.raises(ModelRetry, match="would pass the workspace cap"):
        write_file.invoke({"path": "more.txt", "content": "x" * 200}, ctx)
    assert not (ctx.workspace / "more.txt").exists()
    assert (
        write_file.invoke({"path": "small.txt", "content": "x" * 50}, ctx).text
        == "created small.txt (50 bytes)"
    )


def test_a_workspace_already_past_the_cap_may_not_grow_past_the_size_it_had(ctx: ToolContext) -> None:
    """A project folder bigger than the cap (`heron chat --workspace .`), as the sandbox holds it: it
    may not grow past the size it had when the file tools first measured it, but files can be
    written in the room freed since."""
    cap = ctx.settings.sandbox.workspace_max_mb * 2**20
    big = ctx.workspace / "big.bin"
    big.write_bytes(b"\0" * (cap + 1000))
    with pytest.raises(ModelRetry, match="would pass the workspace cap"):
        write_file.invoke({"path": "note.txt", "content": "x" * 500}, ctx)
    big.write_bytes(b"\0" * (cap + 400))  # 600 bytes freed
    assert "created" in write_file.invoke({"path": "note.txt", "content": "x" * 500}, ctx).text
    with pytest.raises(ModelRetry, match="would pass the workspace cap"):
        write_file.invoke({"path": "more.txt", "content": "z" * 200}, ctx)


def test_a_long_file_is_read_in_parts_that_say_how_to_read_on(ctx: ToolContext) -> None:
    """A file longer than one result shows its first lines with where they end and the start_line
    that reads on; a negative start_line reads its end (a model asked for the last line must not
    take a cut-off note for it)."""
    lines = [f"Line {i}: shipment {i} left Oslo with {3 * i} pallets.\n" for i in range(1, 401)]
    (ctx.workspace / "big.txt").write_text("".join(lines))
    head = read_file.invoke({"path": "big.txt"}, ctx).text
    shown = head.count("\n")  # every line shown, then the note
    assert head.startswith(lines[0]) and len(head) <= 4000  # the note too fits an agent's result limit
    assert head.endswith(
        f"[read_file: lines 1-{shown} of 400 shown; read_file with start_line={shown + 1} reads on]"
    )
    on = read_file.invoke({"path": "big.txt", "start_line": shown + 1}, ctx).text
    assert on.startswith(lines[shown])
    assert read_file.invoke({"path": "big.txt", "start_line": -1}, ctx).text == (
        lines[-1] + "[read_file: line 400 of 400 shown, the end of the file]"
    )
    assert read_file.invoke({"path": "big.txt", "start_line": -2}, ctx).text.startswith("".join(lines[-2:]))
    past = read_file.invoke({"path": "big.txt", "start_line": 401}, ctx)
    assert past.is_error and "has 400 lines; start_line 401 is past its end" in past.text
    (ctx.workspace / "short.txt").write_text("a\nb")
    assert read_file.invoke({"path": "short.txt"}, ctx).text == "a\nb"  # a whole file: no note
    (ctx.workspace / "empty.txt").write_text("")
    assert read_file.invoke({"path": "empty.txt"}, ctx).text == ""


def test_a_file_of_one_huge_line_shows_its_start_without_reading_it_whole(ctx: ToolContext) -> None:
    (ctx.workspace / "one-line.txt").write_text("x" * 3_000_000 + "\nsecond\n")
    shown = read_file.invoke({"path": "one-line.txt", "max_chars": 50}, ctx).text
    note = "[read_file: line 1 of 2 is longer than 50 characters: its start is shown; "
    note += "read_file with start_line=2 reads on]"
    assert shown == "x" * 50 + "\n" + note
    default = read_file.invoke({"path": "one-line.txt"}, ctx).text  # the note fits the result limit
    assert len(default) <= 4000 and default.endswith(
        "its start is shown; read_file with start_line=2 reads on]"
    )
    assert read_file.invoke({"path": "one-line.txt", "start_line": 2}, ctx).text == (
        "second\n[read_file: line 2 of 2 shown, the end of the file]"
    )
    (ctx.workspace / "no-newline.txt").write_text("a\nb\nc")
    assert read_file.invoke({"path": "no-newline.txt", "start_line": -2}, ctx).text == (
        "b\nc\n[read_file: lines 2-3 of 3 shown, the end of the file]"
    )
