"""HaluEval QA as a test bed for hallucination detectors: AUROC next to trivial baselines.

Each pair gives two answers to one question over one knowledge passage: the right one (label 0) and
a hallucinated one (label 1). Hallucinated answers are much longer, so answer length alone scores
AUROC ~0.93; a detector is reported on all answers and on a length-matched subset
(:func:`heron.evals.metrics.length_matched`), where length carries no signal.

The one weight of the model-free scorer is fit on half A (even pair numbers) and reported on half B
(odd pair numbers), so its held-out figures are not tuned on the labels they are measured on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from heron.evals.datasets import HaluEvalPair
from heron.evals.groundedness import ModelFreeGroundedness, unsupported_score
from heron.evals.metrics import auroc, length_matched, mean
from heron.evals.text import absent_share, words

ALL, MATCHED = "AUROC all", "AUROC length-matched"
WEIGHT_GRID = tuple(round(0.05 * i, 2) for i in range(21))


@dataclass(frozen=True)
class AnswerCase:
    """One answer to score: ``label`` 1 if it is the hallucinated answer of pair ``pair``."""

    pair: int
    knowledge: str
    question: str
    answer: str
    label: int


def answer_cases(pairs: Sequence[HaluEvalPair]) -> list[AnswerCase]:
    """Two cases per pair, the right answer first."""
    return [
        AnswerCase(index, pair.knowledge, pair.question, answer, label)
        for index, pair in enumerate(pairs)
        for answer, label in ((pair.right_answer, 0), (pair.hallucinated_answer, 1))
    ]


def length_baseline(cases: Sequence[AnswerCase]) -> list[float]:
    """Trivial baseline 1: the answer's length in words."""
    return [float(len(words(c.answer))) for c in cases]


def absent_token_baseline(cases: Sequence[AnswerCase]) -> list[float]:
    """Trivial baseline 2: the share of the answer's words (all of them) absent from the knowledge."""
    return [absent_share(words(c.answer), c.knowledge) for c in cases]


@dataclass
class ModelFreeFeatures:
    """Answer-level means over claims of the two model-free ingredients."""

    similarity: list[float]
    absent: list[float]

    def scores(self, similarity_weight: float) -> list[float]:
        """Hallucination scores (``1 - groundedness``) for a given weight."""
        return [
            unsupported_score(s, a, similarity_weight)
            for s, a in zip(self.similarity, self.absent, strict=True)
        ]


def model_free_features(
    cases: Sequence[AnswerCase],
    scorer: ModelFreeGroundedness,
    track: Callable[[Iterable[AnswerCase]], Iterable[AnswerCase]] = iter,
) -> ModelFreeFeatures:
    """Similarity and absent share of every case, from the scorer's claim verdicts."""
    features = ModelFreeFeatures([], [])
    results = scorer.score_many([(c.answer, [c.knowledge], c.question) for c in track(cases)])
    for result in results:
        features.similarity.append(mean([v.similarity or 0.0 for v in result.claims]) or 0.0)
        features.absent.append(mean([v.absent_share or 0.0 for v in result.claims]) or 0.0)
    return features


def halves(cases: Sequence[AnswerCase]) -> tuple[list[int], list[int]]:
    """Case indices of half A (even pair numbers) and half B (odd pair numbers)."""
    a = [i for i, c in enumerate(cases) if c.pair % 2 == 0]
    b = [i for i, c in enumerate(cases) if c.pair % 2 == 1]
    return a, b


def matched_subset(cases: Sequence[AnswerCase], indices: Sequence[int]) -> list[int]:
    """The length-matched subset of ``indices`` (lengths in words)."""
    chosen = length_matched([len(words(cases[i].answer)) for i in indices], [cases[i].label for i in indices])
    return [indices[i] for i in chosen]


def fit_similarity_weight(
    cases: Sequence[AnswerCase], features: ModelFreeFeatures, indices: Sequence[int]
) -> float | None:
    """The grid weight with the best AUROC on the length-matched part of ``indices`` (ties: smallest);
    None when that part has no AUROC to fit on (no length-matched answers of both kinds: a small
    ``--limit``)."""
    fit_on = matched_subset(cases, indices)
    labels = [cases[i].label for i in fit_on]
    best_weight, best_auroc = None, -1.0
    for weight in WEIGHT_GRID:
        scores = features.scores(weight)
        value = auroc(labels, [scores[i] for i in fit_on])
        if value is not None and value > best_auroc:
            best_weight, best_auroc = weight, value
    return best_weight


def auroc_row(
    cases: Sequence[AnswerCase], scores: Sequence[float], indices: Sequence[int] | None = None
) -> dict[str, float | None]:
    """AUROC of ``scores`` on ``indices`` (default all cases) and on their length-matched subset."""
    chosen = list(range(len(cases))) if indices is None else list(indices)
    matched = matched_subset(cases, chosen)
    return {
        ALL: auroc([cases[i].label for i in chosen], [scores[i] for i in chosen]),
        MATCHED: auroc([cases[i].label for i in matched], [scores[i] for i in matched]),
    }


def detector_table(
    cases: Sequence[AnswerCase], detectors: dict[str, Sequence[float]], indices: Sequence[int] | None = None
) -> dict[str, dict[str, float | None]]:
    """One AUROC row per detector, baselines included (pass them in ``detectors``)."""
    return {name: auroc_row(cases, scores, indices) for name, scores in detectors.items()}
