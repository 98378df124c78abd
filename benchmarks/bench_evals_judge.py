"""HaluEval with an LLM judge, where the trivial baselines are hard: the length-matched answers only.

On all HaluEval answers, answer length alone reaches AUROC 0.93: the hallucinated answers are longer.
The length-matched answers (for every length in words, as many right as hallucinated ones; 196 of
the 1,000 answers of the 500 pairs) remove that give-away, so that is where a detector has to beat
the "share of answer words absent from the knowledge" baseline. This script scores only those
answers, with the configured model (default: Qwen2.5-Coder-1.5B) as the judge:

- each single detector (baselines, model-free groundedness, judge 1 - P(supported), judge
  P(contradicted), the answer's negative log-probability per word given knowledge and question);
- a combined detector: logistic regression over those scores (standardized), **fit on half A**
  (pairs at even positions) and **reported on half B** (odd positions), and the other way round.

    .venv/bin/python benchmarks/bench_evals_judge.py [--pairs 500] [--model NAME] [--data ../shared/data]

Writes benchmarks/out/evals_judge.json. Slow with the 1.5B on 2 cores (a few seconds per answer).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from sklearn.linear_model import LogisticRegression

from heron.config import load_settings
from heron.evals import detectors, halueval
from heron.evals.datasets import load_halueval
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import SIMILARITY_WEIGHT, ModelFreeGroundedness
from heron.evals.metrics import auroc
from heron.llm import LocalLLM

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent
COMBINED = "combined: logistic regression over the scores above"


def progress(label: str, every: int = 20):  # type: ignore[no-untyped-def]
    def track(items):  # type: ignore[no-untyped-def]
        items = list(items)
        started = time.perf_counter()
        for i, item in enumerate(items, 1):
            yield item
            if i % every == 0 or i == len(items):
                print(f"  {label}: {i}/{len(items)} ({time.perf_counter() - started:.0f} s)", flush=True)

    return track


def _fit_and_score(
    features: np.ndarray, labels: np.ndarray, fit: np.ndarray, test: np.ndarray
) -> float | None:
    if len(set(labels[fit].tolist())) < 2 or len(test) == 0:
        return None  # nothing to fit or to report on
    mean, std = features[fit].mean(axis=0), features[fit].std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=1000)
    model.fit((features[fit] - mean) / std, labels[fit])
    scores = model.predict_proba((features[test] - mean) / std)[:, 1]
    return auroc(labels[test].tolist(), scores.tolist())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=None, help="HaluEval pairs to use (default: all 500)")
    parser.add_argument("--model", default=None, help="the judge: a model name heron knows or a GGUF path")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    args = parser.parse_args()
    settings = load_settings(model=args.model) if args.model else load_settings()

    pairs = load_halueval(args.data, args.pairs)
    all_cases = halueval.answer_cases(pairs)
    matched = halueval.matched_subset(all_cases, list(range(len(all_cases))))
    cases = [all_cases[i] for i in matched]
    labels = np.asarray([c.label for c in cases])
    half_a = np.asarray([i for i, c in enumerate(cases) if c.pair % 2 == 0], dtype=int)
    half_b = np.asarray([i for i, c in enumerate(cases) if c.pair % 2 == 1], dtype=int)
    print(f"{len(cases)} length-matched answers of {len(all_cases)} (half A {len(half_a)}, B {len(half_b)})")

    started = time.perf_counter()
    with SentenceEmbedder.from_settings(settings) as embedder:
        features = halueval.model_free_features(cases, ModelFreeGroundedness(embedder))
    scores: dict[str, list[float]] = {
        "baseline: share of words absent from knowledge": halueval.absent_token_baseline(cases),
        f"model-free groundedness (w={SIMILARITY_WEIGHT})": features.scores(SIMILARITY_WEIGHT),
    }
    with LocalLLM.from_settings(settings) as llm:
        judge_name = llm.name
        scores.update(detectors.judge_scores(cases, llm, progress("judge")))
        scores["answer neg logprob per word"] = detectors.answer_logprob_scores(
            cases, llm, progress("logprob")
        )
    seconds = time.perf_counter() - started

    table: dict[str, dict[str, float | None]] = {}
    for name, values in scores.items():
        column = np.asarray(values)
        table[name] = {
            "half A": auroc(labels[half_a].tolist(), column[half_a].tolist()),
            "half B": auroc(labels[half_b].tolist(), column[half_b].tolist()),
            "all matched": auroc(labels.tolist(), column.tolist()),
        }
    stacked = np.column_stack([np.asarray(v) for v in scores.values()])
    table[COMBINED] = {
        "half A": _fit_and_score(stacked, labels, half_b, half_a),  # fit on B, reported on A
        "half B": _fit_and_score(stacked, labels, half_a, half_b),  # fit on A, reported on B
        "all matched": None,
    }

    print(f"\njudge: {judge_name}; {seconds:.0f} s for {len(cases)} answers")
    print(f"{'detector (AUROC, length-matched answers)':<56}{'half A':>8}{'half B':>8}{'all':>8}")
    for name, row in table.items():
        cells = "".join(f"{v:>8.3f}" if v is not None else f"{'-':>8}" for v in row.values())
        print(f"{name:<56}{cells}")
    print("(the combined row is fit on the other half: half B's figure comes from a fit on half A)")
    OUT.mkdir(exist_ok=True)
    (OUT / "evals_judge.json").write_text(
        json.dumps({"judge": judge_name, "answers": len(cases), "seconds": seconds, "auroc": table}, indent=2)
    )


if __name__ == "__main__":
    main()
