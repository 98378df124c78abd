"""The same documents give the same passages from embedded Chroma and from a `chroma run` server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from heron.config import Settings
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.vector_memory import VectorMemory
from tests.memory.helpers import all_records, unique_collection, write_docs

QUERIES = [
    "what do herons eat?",
    "deepest lake in the world",
    "convert celsius to fahrenheit",
    "filter a collection by metadata",
]


def test_embedded_and_server_chroma_return_the_same_passages(
    settings_for: Callable[..., Settings], embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    results: dict[str, list[list[tuple[str, float]]]] = {}
    records = {}
    for store in ("embedded", "server"):
        with VectorMemory(settings_for(store), unique_collection(), embedder) as memory:
            Ingester(memory).ingest([docs])
            records[store] = all_records(memory)
            results[store] = [
                [(p.id, p.score) for p in memory.search(q, k=4, mode=mode)]
                for q in QUERIES
                for mode in ("vector", "bm25", "hybrid")
            ]
    assert records["embedded"] == records["server"]
    for embedded, server in zip(results["embedded"], results["server"], strict=True):
        assert [i for i, _ in embedded] == [i for i, _ in server]
        assert [s for _, s in embedded] == pytest.approx([s for _, s in server], abs=1e-4)
