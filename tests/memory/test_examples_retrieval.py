"""The demo's retrieval, for real: ``examples/docs`` ingested with the bundled MiniLM, then the
``retrieve`` tool called the way the demo task calls it (only the query; default k and mode)."""

from __future__ import annotations

from pathlib import Path

from heron.config import Settings
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.tools import RetrieveTool
from heron.memory.vector_memory import VectorMemory
from heron.tools import ToolContext, Toolset
from tests.conftest import REPO_ROOT

EXAMPLE_DOCS = REPO_ROOT / "examples" / "docs"
SPECIES = ("great-blue-heron.md", "grey-heron.md", "little-egret.md")


def test_the_demo_query_returns_the_size_section_of_each_species_first(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    with (
        VectorMemory(settings, "demo-notes", embedder) as memory,
        ToolContext(tmp_path / "workspace", settings=settings) as ctx,
    ):
        report = Ingester(memory).ingest([EXAMPLE_DOCS])
        with Toolset([RetrieveTool(memory)]) as tools:
            result = tools.invoke("retrieve", {"query": "heron wingspan"}, ctx)
    assert len(report.added) == 4 and not result.is_error
    found = [(Path(a.uri).name, a.metadata.get("heading"), a.metadata) for a in result.artifacts]
    top3 = sorted(found[:3], key=lambda row: row[0])
    assert [(name, heading) for name, heading, _ in top3] == [
        ("great-blue-heron.md", "Great blue heron > Size"),
        ("grey-heron.md", "Grey heron > Size"),
        ("little-egret.md", "Little egret > Size"),
    ], found
    for name, _, meta in top3:
        # what the model reads is the file's own text: the heading path is in the citation only
        assert (EXAMPLE_DOCS / name).read_text()[meta["start"] : meta["end"]] == meta["text"]
        assert "wingspan" in meta["text"]
