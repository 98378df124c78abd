"""Search over real Chroma: modes, metadata filters, MMR, citations, and bad input."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.config import Settings
from heron.errors import UsageError
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.vector_memory import VectorMemory
from tests.memory.helpers import write_docs


@pytest.fixture
def memory(settings: Settings, embedder: Embedder, tmp_path: Path) -> Iterator[VectorMemory]:
    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings, embedder=embedder) as memory:
        Ingester(memory).ingest([docs])
        yield memory


def test_each_mode_finds_the_passage_that_answers(memory: VectorMemory) -> None:
    for mode in ("vector", "bm25", "hybrid"):
        top = memory.search("Which lake is the deepest in the world?", k=3, mode=mode)[0]
        assert top.source.endswith("lakes.html") and "deepest" in top.text, mode


def test_scores_are_ordered_and_mean_what_the_mode_says(memory: VectorMemory) -> None:
    vector = memory.search("herons hunting fish", k=4, mode="vector")
    hybrid = memory.search("herons hunting fish", k=4, mode="hybrid")
    assert [p.score for p in vector] == sorted((p.score for p in vector), reverse=True)
    assert all(-1.0 <= p.score <= 1.0 for p in vector)  # cosine similarity
    assert [p.score for p in hybrid] == sorted((p.score for p in hybrid), reverse=True)
    assert all(0 <= p.score <= 2.0 for p in hybrid)  # two lists' scores, each scaled to [0, 1]
    assert hybrid[0].score > 1.0  # the best passage leads in both lists here


def test_bm25_leaves_out_passages_without_a_shared_word(memory: VectorMemory) -> None:
    passages = memory.search("kilometres", k=10, mode="bm25")
    assert passages and all("kilometres" in p.text for p in passages)


def test_metadata_filters_apply_to_every_mode(memory: VectorMemory, tmp_path: Path) -> None:
    source = str(tmp_path / "docs" / "guide.md")
    for mode in ("vector", "bm25", "hybrid"):
        passages = memory.search(
            "herons in the water of a deep lake", k=10, mode=mode, filters={"source": source}
        )
        assert passages and {p.source for p in passages} == {source}, mode
    assert memory.search("herons", k=10, filters={"file_type": "code"}, mode="bm25") == []


def test_mmr_returns_distinct_passages_including_the_best(memory: VectorMemory) -> None:
    plain = memory.search("herons", k=3, mode="vector")
    diverse = memory.search("herons", k=3, mode="vector", mmr=True, mmr_lambda=0.3)
    assert len({p.id for p in diverse}) == 3
    assert diverse[0].id == plain[0].id


def test_bad_search_input_is_a_usage_error(memory: VectorMemory) -> None:
    with pytest.raises(UsageError, match="unknown search mode"):
        memory.search("x", mode="fuzzy")
    with pytest.raises(UsageError, match="k must be at least 1"):
        memory.search("x", k=0)
    with pytest.raises(UsageError, match="invalid metadata filter") as caught:
        memory.search("herons", filters={"source": {"$regex_nope": 1}})
    assert caught.value.hint


def test_an_empty_collection_returns_nothing(settings: Settings, embedder: Embedder) -> None:
    with VectorMemory(settings, "empty-one", embedder) as memory:
        assert memory.search("anything") == []


def test_lexical_index_follows_writes_from_another_memory_object(
    settings: Settings, embedder: Embedder
) -> None:
    with (
        VectorMemory(settings, "shared", embedder) as reader,
        VectorMemory(settings, "shared", embedder) as writer,
    ):
        writer.add_texts(["Flamingos are pink because of their diet."], [{"source": "a"}])
        assert reader.search("flamingos", mode="bm25")[0].source == "a"
        writer.add_texts(["Storks carry babies in folk tales."], [{"source": "b"}])
        assert reader.search("storks", mode="bm25")[0].source == "b"


def test_a_collection_built_with_another_model_dimension_is_refused(
    settings: Settings, embedder: Embedder
) -> None:
    import numpy as np

    with VectorMemory(settings, "dims", embedder) as memory:
        memory.write(["x"], ["a text"], [{"source": "s"}], np.ones((1, 8), dtype=np.float32) / np.sqrt(8))
        with pytest.raises(UsageError, match="8-dimensional vectors"):
            memory.search("a text", mode="vector")


def test_a_records_heading_path_is_searched_in_every_mode_but_not_stored_in_its_text(
    settings: Settings, embedder: Embedder
) -> None:
    size = "It stands up to 137 cm tall and its wingspan is 185 cm."
    with VectorMemory(settings, "headings", embedder) as memory:
        memory.add_texts(
            [size, "Flamingos are pink because of their diet.", "Storks nest on chimneys."],
            [{"source": "a.md", "heading": "Great blue heron > Size"}, {"source": "b"}, {"source": "c"}],
        )
        for mode in ("vector", "bm25", "hybrid"):
            top = memory.search("great blue heron", k=1, mode=mode)[0]
            assert top.text == size and top.location.heading == "Great blue heron > Size", mode
        # The same text without its heading path shares no word with the query.
        memory.add_texts([size], [{"source": "plain.md"}])
        assert {p.source for p in memory.search("great blue heron", k=5, mode="bm25")} == {"a.md"}


def test_relative_score_fusion_keeps_a_clear_lead_in_one_list() -> None:
    from heron.memory.ranking import relative_score_fusion

    vector = [("intro", 0.54), ("size", 0.50), ("other", 0.30)]  # nearly tied for the embeddings
    lexical = [("size", 9.0), ("intro", 1.0)]  # far ahead for BM25
    fused = relative_score_fusion([vector, lexical])
    assert [item for item, _ in fused] == ["size", "intro", "other"]
    assert dict(fused)["other"] == 0.0  # last in the one list that has it, absent from the other
    assert relative_score_fusion([[("a", 0.3), ("b", 0.3)], []]) == [("a", 1.0), ("b", 1.0)]


def test_the_repls_memory_command_shows_a_text_ingested_from_two_folders_once(
    memory: VectorMemory, tmp_path: Path
) -> None:
    """/memory QUERY lists passages as the agent's retrieve shows them: each text once."""
    from types import SimpleNamespace

    from heron.cli.repl_commands import _memory

    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "kettle.md").write_text(
            "# Kettle\n\nThe Snarf kettle holds 1.7 litres of water.\n"
        )
        Ingester(memory).ingest([tmp_path / folder])
    shown: list[str] = []
    _memory(SimpleNamespace(memory=memory, view=SimpleNamespace(note=shown.append)), "Snarf kettle litres")
    assert sum("holds 1.7 litres" in line for line in shown) == 1
