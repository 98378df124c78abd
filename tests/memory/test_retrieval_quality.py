"""Retrieval quality on real data: HaluEval QA passages among BBQ distractors, 500 questions.

Each question must bring back its own ``knowledge`` passage. The full corpus (every distinct BBQ
context) is measured by ``benchmarks/bench_memory_retrieval.py``; this test uses the first
``DISTRACTORS`` of them to stay fast, and asserts what the issue requires: hybrid beats vector-only.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.config import load_settings
from heron.memory.embeddings import Embedder
from heron.memory.vector_memory import VectorMemory
from tests.conftest import SHARED_DATA

DISTRACTORS = 1500


def _corpus() -> tuple[list[str], list[str]]:
    rows = [
        json.loads(line)
        for line in (SHARED_DATA / "halueval" / "qa_one-turn_data.json").read_text().splitlines()
    ]
    passages = [row["knowledge"] for row in rows]
    seen = set(passages)
    for path in sorted((SHARED_DATA / "bbq").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            context = json.loads(line)["context"]
            if context not in seen and len(passages) < len(rows) + DISTRACTORS:
                seen.add(context)
                passages.append(context)
    return passages, [row["question"] for row in rows]


@pytest.fixture(scope="module")
def recall(
    embedder: Embedder, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[float, float]]]:
    """(recall@1, recall@5) per search mode, measured once for the module."""
    passages, questions = _corpus()
    settings = load_settings(data_dir=tmp_path_factory.mktemp("retrieval-data"))
    with VectorMemory(settings, "halueval", embedder) as memory:
        ids = memory.add_texts(passages, [{"source": f"passage-{i}"} for i in range(len(passages))])
        gold = ids[: len(questions)]
        result = {}
        for mode in ("vector", "bm25", "hybrid"):
            hits = [[p.id for p in memory.search(q, k=5, mode=mode)] for q in questions]
            at1 = sum(h[:1] == [g] for h, g in zip(hits, gold, strict=True)) / len(gold)
            at5 = sum(g in h for h, g in zip(hits, gold, strict=True)) / len(gold)
            result[mode] = (at1, at5)
        print("\nrecall@1 / recall@5 over", len(passages), "passages:", result)
        yield result


def test_corpus_is_the_real_halueval_and_bbq_data() -> None:
    passages, questions = _corpus()
    assert len(questions) == 500 and len(passages) == 500 + DISTRACTORS
    assert Path(SHARED_DATA / "bbq").is_dir()


def test_hybrid_search_beats_vector_only(recall: dict[str, tuple[float, float]]) -> None:
    assert recall["hybrid"][1] > recall["vector"][1], recall
    assert recall["hybrid"][0] >= recall["vector"][0], recall


def test_every_mode_retrieves_most_gold_passages(recall: dict[str, tuple[float, float]]) -> None:
    # A floor far below what each mode reaches: it fails only if a mode is broken (ids, filters, fusion).
    for mode, (_, at5) in recall.items():
        assert at5 > 0.5, (mode, recall)
