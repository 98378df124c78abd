"""Ingestion throughput, re-ingest speed and query latency: heron against LangChain + Chroma.

Corpus: the 500 HaluEval QA passages plus every distinct BBQ context (5,199 passages), written as one
.txt file each. Both sides read the files, split them with the same RecursiveCharacterTextSplitter
sizes, embed with the same bundled all-MiniLM-L6-v2 folder and write to a fresh embedded Chroma:

- heron: ``Ingester(VectorMemory(settings)).ingest([folder])`` with each embedding backend listed;
- LangChain: ``TextLoader`` per file, ``split_documents``, ``Chroma.from_documents`` with
  ``HuggingFaceEmbeddings`` (langchain-huggingface) pointed at the same model folder.

Models are loaded before the clock starts on both sides. Runs are interleaved (heron, LangChain,
heron, ...) because the machine is shared; speed-ups are the median of per-round ratios. Then: re-ingest
of the unchanged folder by a fresh heron process state, and query latency over the 500 questions.

    .venv/bin/python benchmarks/bench_memory_ingest.py [--rounds 2] [--backends torch,onnx-int8]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from langchain_core.embeddings import Embeddings
from memory_corpus import load_corpus, write_corpus_files

from heron.config import Settings, load_settings
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.vector_memory import VectorMemory

OUT = Path(__file__).resolve().parent / "out" / "bench_memory_ingest.json"


def heron_ingest(folder: Path, data_dir: Path, embedder: Embedder) -> tuple[float, int]:
    settings = load_settings(data_dir=data_dir, memory={"embedding_backend": embedder.backend})
    started = time.perf_counter()
    with VectorMemory(settings, "bench", embedder) as memory:
        report = Ingester(memory).ingest([folder])
    return time.perf_counter() - started, report.chunks_written


def heron_reingest(folder: Path, data_dir: Path, backend: str) -> tuple[float, int]:
    """A re-run as a user would do it: new settings, new memory, a model that is never loaded."""
    settings = load_settings(data_dir=data_dir, memory={"embedding_backend": backend})
    started = time.perf_counter()
    with VectorMemory(settings, "bench") as memory:
        report = Ingester(memory).ingest([folder])
    return time.perf_counter() - started, report.chunks_written


def langchain_ingest(
    folder: Path, data_dir: Path, embeddings: Embeddings, settings: Settings
) -> tuple[float, int]:
    from langchain_chroma import Chroma
    from langchain_community.document_loaders import TextLoader
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    started = time.perf_counter()
    documents = [doc for path in sorted(folder.glob("*.txt")) for doc in TextLoader(str(path)).load()]
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=settings.memory.chunk_size, chunk_overlap=settings.memory.chunk_overlap
    )
    chunks = splitter.split_documents(documents)
    store = Chroma.from_documents(
        chunks, embeddings, collection_name="bench", persist_directory=str(data_dir)
    )
    seconds = time.perf_counter() - started
    store._client.close()  # type: ignore[attr-defined]
    return seconds, len(chunks)


def query_latency(data_dir: Path, embedder: Embedder, questions: list[str]) -> dict[str, dict[str, float]]:
    settings = load_settings(data_dir=data_dir, memory={"embedding_backend": embedder.backend})
    latencies: dict[str, dict[str, float]] = {}
    with VectorMemory(settings, "bench", embedder) as memory:
        memory.search("warm up the BM25 index", mode="hybrid")
        for mode in ("vector", "bm25", "hybrid"):
            times = []
            for question in questions:
                started = time.perf_counter()
                memory.search(question, k=5, mode=mode)
                times.append((time.perf_counter() - started) * 1000)
            quantiles = statistics.quantiles(times, n=20)
            latencies[mode] = {
                "p50_ms": round(statistics.median(times), 1),
                "p95_ms": round(quantiles[18], 1),
            }
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--backends", default="torch,onnx-int8", help="heron embedding backends to measure")
    args = parser.parse_args()
    backends = args.backends.split(",")
    corpus = load_corpus()
    settings = load_settings()
    model = settings.embedding_model_path()

    from langchain_huggingface import HuggingFaceEmbeddings

    lc_embeddings = HuggingFaceEmbeddings(
        model_name=model, model_kwargs={"device": "cpu"}, encode_kwargs={"normalize_embeddings": True}
    )
    lc_embeddings.embed_documents(["warm up"])
    embedders = {}
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        folder = root / "corpus"
        write_corpus_files(corpus, folder)
        for backend in backends:
            embedders[backend] = Embedder(model, backend=backend, cache_dir=root / "embedding-cache")
            embedders[backend].embed_documents(["warm up"])  # load (and export, for ONNX) off the clock

        runs: dict[str, list[float]] = {name: [] for name in ["langchain", *backends]}
        chunks: dict[str, int] = {}
        reingest: dict[str, list[float]] = {backend: [] for backend in backends}
        for round_ in range(args.rounds):
            for name in runs:
                data_dir = root / f"{name}-{round_}"
                if name == "langchain":
                    seconds, count = langchain_ingest(folder, data_dir, lc_embeddings, settings)
                else:
                    seconds, count = heron_ingest(folder, data_dir, embedders[name])
                    again, written = heron_reingest(folder, data_dir, name)
                    assert written == 0, "re-ingest of an unchanged corpus wrote chunks"
                    reingest[name].append(again)
                runs[name].append(seconds)
                chunks[name] = count
                print(f"round {round_ + 1}: {name:<10} {count} chunks in {seconds:6.1f}s", flush=True)
        latency = query_latency(root / f"{backends[-1]}-0", embedders[backends[-1]], corpus.questions)

    rows = []
    for name, times in runs.items():
        median = statistics.median(times)
        # Ratios within a round compare runs that shared the machine's load; report their median.
        per_round = [lc / t for lc, t in zip(runs["langchain"], times, strict=True)]
        row = {
            "system": "langchain Chroma.from_documents" if name == "langchain" else f"heron ({name})",
            "chunks": chunks[name],
            "seconds": round(median, 1),
            "chunks_per_s": round(chunks[name] / median, 1),
            "speedup_vs_langchain": round(statistics.median(per_round), 2),
            "speedup_per_round": [round(r, 2) for r in per_round],
        }
        if name in reingest:
            again = statistics.median(reingest[name])
            row["reingest_seconds"] = round(again, 2)
            row["reingest_speedup"] = round(median / again, 1)
        rows.append(row)
    print(
        f"\n{'system':<34} {'chunks':>6} {'s':>7} {'chunks/s':>9} {'vs LC':>6} {'re-ingest s':>12} {'x':>6}"
    )
    for row in rows:
        print(
            f"{row['system']:<34} {row['chunks']:>6} {row['seconds']:>7} {row['chunks_per_s']:>9} "
            f"{row['speedup_vs_langchain']:>6} {row.get('reingest_seconds', ''):>12} "
            f"{row.get('reingest_speedup', ''):>6}"
        )
    print(f"\nquery latency, heron ({backends[-1]}), {len(corpus.questions)} questions, k=5:")
    for mode, values in latency.items():
        print(f"  {mode:<7} p50 {values['p50_ms']:>7} ms   p95 {values['p95_ms']:>7} ms")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "command": "python benchmarks/bench_memory_ingest.py " + " ".join(sys.argv[1:]),
                "rounds": args.rounds,
                "passages": len(corpus.passages),
                "runs_seconds": runs,
                "reingest_seconds": reingest,
                "results": rows,
                "query_latency": {backends[-1]: latency},
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
