"""Combining and diversifying result lists: reciprocal rank fusion and maximal marginal relevance."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

RRF_K = 60  # the constant of Cormack et al. (2009); damps the weight of the very first ranks


def reciprocal_rank_fusion(rankings: Sequence[Sequence[str]], k: int = RRF_K) -> list[tuple[str, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of 1 / (k + rank), best first.

    Ties keep the order in which ids were first seen, so the fusion is deterministic.
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (k + rank)
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
