"""Retrieval quality on real data: recall@1 and recall@5 of vector, BM25 and hybrid search.

Corpus: the 500 HaluEval QA ``knowledge`` passages plus every distinct BBQ context as distractors,
ingested into an embedded Chroma collection; each HaluEval ``question`` must retrieve its own passage.
Run once per embedding backend, so the faster ONNX int8 backend is judged by the recall it keeps.

    .venv/bin/python benchmarks/bench_memory_retrieval.py [--backends torch,onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from memory_corpus import load_corpus

from heron.config import load_settings
from heron.memory.embeddings import Embedder
from heron.memory.vector_memory import VectorMemory

OUT = Path(__file__).resolve().parent / "out" / "bench_memory_retrieval.json"
MODES = ("vector", "bm25", "hybrid")


def measure(backend: str) -> dict[str, object]:
    corpus = load_corpus()
    with tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(data_dir=data_dir, memory={"embedding_backend": backend})
        with VectorMemory(settings, "retrieval", Embedder.from_settings(settings)) as memory:
            started = time.perf_counter()
            ids = memory.add_texts(
                corpus.passages, [{"source": f"passage-{i}"} for i in range(len(corpus.passages))]
            )
            index_seconds = time.perf_counter() - started
            gold = ids[: corpus.gold_count]
            result: dict[str, object] = {
                "backend": backend,
                "passages": len(ids),
                "questions": corpus.gold_count,
                "index_seconds": round(index_seconds, 1),
            }
            for mode in MODES:
                hits = [memory.search(q, k=5, mode=mode) for q in corpus.questions]
                top1 = [bool(h) and h[0].id == g for h, g in zip(hits, gold, strict=True)]
                top5 = [g in {p.id for p in h} for h, g in zip(hits, gold, strict=True)]
                result[f"{mode}_recall@1"] = sum(top1) / len(gold)
                result[f"{mode}_recall@5"] = sum(top5) / len(gold)
            print(
                f"{backend}: " + ", ".join(f"{k} {v}" for k, v in result.items() if "recall" in k), flush=True
            )
            return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="torch,onnx-int8")
    args = parser.parse_args()
    rows = [measure(backend) for backend in args.backends.split(",")]
    print(f"{'backend':<10} {'mode':<7} {'recall@1':>9} {'recall@5':>9}")
    for row in rows:
        for mode in MODES:
            r1, r5 = row[f"{mode}_recall@1"], row[f"{mode}_recall@5"]
            print(f"{row['backend']:<10} {mode:<7} {r1:>9.3f} {r5:>9.3f}")
    print(f"corpus: {rows[0]['passages']} passages, {rows[0]['questions']} questions")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"command": " ".join(["python", *sys.argv]), "results": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
