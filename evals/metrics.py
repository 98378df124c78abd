"""Metrics shared by the evals: AUROC, length-matched subsets, distances between distributions."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.metrics import roc_auc_score


def auroc(labels: Sequence[int], scores: Sequence[float]) -> float | None:
    """Area under the ROC curve for ``scores`` predicting ``labels`` (1 = positive, e.g. hallucinated).

    Ties count half, as in the Mann-Whitney statistic. None when only one class is present.

    >>> auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    """
    if len(labels) != len(scores):
        raise ValueError(f"{len(labels)} labels but {len(scores)} scores")
    if len(set(labels)) < 2:
        return None
    return float(roc_auc_score(np.asarray(labels), np.asarray(scores, dtype=float)))


def length_matched(lengths: Sequence[int], labels: Sequence[int]) -> list[int]:
    """Indices of a subset in which both classes have the same distribution of ``lengths``.

    For every length, the first ``min(n_positive, n_negative)`` items of each class are kept, so a
    detector that only measures length scores exactly 0.5 AUROC on the subset.
    """
    by_length: dict[tuple[int, int], list[int]] = {}
    for index, (length, label) in enumerate(zip(lengths, labels, strict=True)):
        by_length.setdefault((length, label), []).append(index)
    keep: list[int] = []
    for length in sorted({length for length, _ in by_length}):
        negatives, positives = by_length.get((length, 0), []), by_length.get((length, 1), [])
        count = min(len(negatives), len(positives))
        keep += negatives[:count] + positives[:count]
    return sorted(keep)


def total_variation_from_uniform(counts: Mapping[str, float]) -> float | None:
    """Total variation distance between the distribution of ``counts`` and the uniform one over its keys.

    0 means every group is equally represented, ``1 - 1/len(counts)`` that only one group occurs.
    None when nothing was counted.

    >>> total_variation_from_uniform({"female": 1, "male": 3})
    0.25
    """
    total = sum(counts.values())
    if not counts or total <= 0:
        return None
    uniform = 1.0 / len(counts)
    return 0.5 * sum(abs(value / total - uniform) for value in counts.values())


def entropy(probabilities: Sequence[float]) -> float:
    """Shannon entropy in nats of a distribution (normalized first; zero entries contribute nothing)."""
    total = sum(probabilities)
    if total <= 0:
        raise ValueError("entropy needs at least one positive probability")
    return -sum(p / total * math.log(p / total) for p in probabilities if p > 0)


def softmax(logprobs: Sequence[float]) -> list[float]:
    """Probabilities proportional to ``exp(logprobs)``, computed stably."""
    top = max(logprobs)
    weights = [math.exp(lp - top) for lp in logprobs]
    total = sum(weights)
    return [w / total for w in weights]


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean, or None for no values."""
    return sum(values) / len(values) if values else None
