"""`heron ingest PATH... [--collection NAME]`: summary, incremental re-runs, clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from heron.cli import main
from heron.config import load_settings
from heron.memory.vector_memory import VectorMemory
from tests.memory.helpers import write_docs


@pytest.mark.usefixtures("shared_embedding_cache")
def test_ingest_command_reports_added_then_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = write_docs(tmp_path / "docs")
    (docs / "blob.txt").write_bytes(b"\x00\x01")
    assert main(["ingest", str(docs), "--collection", "cli-docs"]) == 0
    first = capsys.readouterr().out
    assert "4 added, 0 unchanged" in first and "1 skipped" in first
    assert "blob.txt: binary file" in first
    assert main(["ingest", str(docs), "--collection", "cli-docs"]) == 0
    second = capsys.readouterr().out
    assert "0 added, 4 unchanged" in second and "0 chunks written" in second
    with VectorMemory(load_settings(), "cli-docs") as memory:
        assert {p.source for p in memory.search("deepest lake", k=1)} == {str(docs / "lakes.html")}


def test_ingest_command_exits_2_on_a_missing_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "path not found" in err and "fix:" in err


def test_ingest_command_refuses_a_bad_collection_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = write_docs(tmp_path / "docs")
    assert main(["ingest", str(docs), "--collection", "x"]) == 2
    assert "invalid collection name" in capsys.readouterr().err


@pytest.mark.usefixtures("shared_embedding_cache")
@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [("empty.md", b"  \n", "empty"), ("blob.txt", b"\x00\x01", "binary file")],
)
def test_ingest_command_fails_when_nothing_could_be_ingested(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["ingest", str(path)]) == 2
    captured = capsys.readouterr()
    assert f"skipped {path}: {reason}" in captured.out
    err = " ".join(captured.err.split())
    assert "nothing was ingested" in err and "fix:" in err


@pytest.mark.usefixtures("shared_embedding_cache")
def test_ingest_command_fails_on_a_folder_of_unsupported_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    assert main(["ingest", str(folder)]) == 2
    assert "unsupported file type (.jpg)" in capsys.readouterr().out


@pytest.mark.usefixtures("shared_embedding_cache")
def test_ingest_command_succeeds_when_everything_is_unchanged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = write_docs(tmp_path / "docs")
    assert main(["ingest", str(docs)]) == 0
    capsys.readouterr()
    assert main(["ingest", str(docs)]) == 0
    assert "nothing new: 4 unchanged since they were ingested" in capsys.readouterr().out


@pytest.mark.slow
def test_ingest_of_the_examples_keeps_stderr_quiet(tmp_path: Path) -> None:
    """A real run in a fresh data dir (the ONNX export included): no library bars, warnings or logs."""
    heron = Path(sys.executable).parent / "heron"
    examples = Path(__file__).resolve().parents[2] / "examples" / "docs"
    result = subprocess.run(
        [str(heron), "ingest", str(examples)], capture_output=True, text=True, timeout=600, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "added" in result.stdout
    assert result.stderr == ""
