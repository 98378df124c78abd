"""`heron ingest PATH... [--collection NAME]`: summary, incremental re-runs, clear errors."""

from __future__ import annotations

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
