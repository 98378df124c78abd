"""Combining and diversifying result lists: relative score fusion and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def relative_score_fusion(rankings: Sequence[Sequence[tuple[str, float]]]) -> list[tuple[str, float]]:
    """Fuse scored result lists: each list's scores min-max scaled to [0, 1], summed per id, best first.

    Unlike reciprocal rank fusion, a clear gap in one ranker's scores survives the fusion: a passage
    far ahead in BM25 is not pulled level with one that is merely next in line for the embeddings.
    An id missing from a list gets 0 from it. Ties keep the order in which ids were first seen.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        if not ranking:
            continue
        values = [score for _, score in ranking]
        low, span = min(values), max(values) - min(values)
        for item, score in ranking:
            scaled = (score - low) / span if span > 0 else 1.0
            scores[item] = scores.get(item, 0.0) + scaled
    return sorted(scores.items(), key=lambda pair: pair[1], reverse=True)


def maximal_marginal_relevance(
    query: np.ndarray, candidates: np.ndarray, k: int, lambda_mult: float = 0.5
) -> list[int]:
    """Indices of ``k`` candidates balancing relevance to ``query`` and novelty against those picked.

    Vectors are unit length, so dot products are cosine similarities. ``lambda_mult`` = 1 is pure
    relevance, 0 pure diversity.
    """
    if len(candidates) == 0 or k <= 0:
        return []
    relevance = candidates @ query
    picked = [int(np.argmax(relevance))]
    max_similarity = candidates @ candidates[picked[0]]
    while len(picked) < min(k, len(candidates)):
        score = lambda_mult * relevance - (1.0 - lambda_mult) * max_similarity
        score[picked] = -np.inf
        best = int(np.argmax(score))
        picked.append(best)
        max_similarity = np.maximum(max_similarity, candidates @ candidates[best])
    return picked
