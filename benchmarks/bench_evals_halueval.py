"""HaluEval: the model-free groundedness scorer against the trivial baselines, on all 500 pairs.

Prints AUROC on all answers and on the length-matched subset, (1) with the default similarity weight
and (2) with the weight fit on half A (even pairs) and reported on half B (odd pairs). No LLM is
needed; the LLM-based detectors run in ``heron eval hallucination`` (see EVALS.md).

    .venv/bin/python benchmarks/bench_evals_halueval.py [--limit N] [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from heron.config import load_settings
from heron.evals import halueval
from heron.evals.datasets import load_halueval
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import SIMILARITY_WEIGHT, ModelFreeGroundedness

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="pairs to use (default: all 500)")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()

    pairs = load_halueval(args.data, args.limit)
    cases = halueval.answer_cases(pairs)
    started = time.perf_counter()
    with SentenceEmbedder.from_settings(load_settings()) as embedder:
        features = halueval.model_free_features(cases, ModelFreeGroundedness(embedder))
    seconds = time.perf_counter() - started
    baselines = {
        "baseline: answer length": halueval.length_baseline(cases),
        "baseline: share of words absent from knowledge": halueval.absent_token_baseline(cases),
    }
    half_a, half_b = halueval.halves(cases)
    weight = halueval.fit_similarity_weight(cases, features, half_a)
    if weight is None:
        raise SystemExit("half A has no length-matched answers of both kinds to fit on: use more pairs")
    tables = {
        f"all pairs, default w={SIMILARITY_WEIGHT}": halueval.detector_table(
            cases,
            baselines
            | {
                "model-free groundedness": features.scores(SIMILARITY_WEIGHT),
                "  similarity only (w=1)": features.scores(1.0),
                "  absent content words only (w=0)": features.scores(0.0),
            },
        ),
        f"half B (odd pairs), w={weight} fit on half A": halueval.detector_table(
            cases, baselines | {"model-free groundedness": features.scores(weight)}, half_b
        ),
    }
    matched = {
        "all": len(halueval.matched_subset(cases, list(range(len(cases))))),
        "half B": len(halueval.matched_subset(cases, half_b)),
    }
    print(f"HaluEval QA: {len(pairs)} pairs, {len(cases)} answers; length-matched answers: {matched}")
    per_answer = 1000 * seconds / len(cases)
    print(f"model-free scorer: {seconds:.1f} s for {len(cases)} answers ({per_answer:.1f} ms each)")
    for title, rows in tables.items():
        print(f"\n{title}\n{'detector':<50} {'AUROC all':>10} {'matched':>10}")
        for name, row in rows.items():
            print(f"{name:<50} {row[halueval.ALL]:>10.3f} {row[halueval.MATCHED]:>10.3f}")
    OUT.mkdir(exist_ok=True)
    result = {
        "pairs": len(pairs),
        "matched_answers": matched,
        "fitted_weight": weight,
        "default_weight": SIMILARITY_WEIGHT,
        "seconds": seconds,
        "tables": tables,
    }
    path = OUT / "bench_evals_halueval.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwritten: {path}")


if __name__ == "__main__":
    main()
