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


def test_a_server_that_stops_answering_mid_session_is_named_with_how_to_start_it(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    """Its first search answered; then the server stopped. The next search raised httpx's bare
    ConnectError; now it says which server stopped answering and how to start it again."""
    from heron.errors import ConfigError
    from tests.memory.conftest import running_chroma

    docs = write_docs(tmp_path / "docs")
    (tmp_path / "srv").mkdir()
    with running_chroma(tmp_path / "srv") as port:
        served = settings.model_copy(
            update={"chroma": settings.chroma.model_copy(update={"mode": "server", "port": port})}
        )
        memory = VectorMemory(served, unique_collection(), embedder)
        Ingester(memory).ingest([docs])
        assert memory.search(QUERIES[0], k=2)
    with memory, pytest.raises(ConfigError) as raised:  # the server is gone now
        memory.search(QUERIES[1], k=2, mode="vector")
    assert f"the Chroma server at 127.0.0.1:{port} stopped answering" in str(raised.value)
    assert f"chroma run --host 127.0.0.1 --port {port}" in str(raised.value)
