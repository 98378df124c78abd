"""Token uncertainty, predictive and semantic entropy on hand-computed cases."""

from __future__ import annotations

import math

import pytest

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.uncertainty import (
    cluster_by_meaning,
    completion_uncertainty,
    embedding_equivalence,
    predictive_entropy,
    semantic_entropy,
    token_uncertainty,
)
from heron.llm import Completion, TokenLogprob


def test_token_uncertainty_by_hand() -> None:
    result = token_uncertainty([-0.5, -1.5, -0.1])
    assert result.mean_neg_logprob == pytest.approx(0.7)
    assert result.max_neg_logprob == pytest.approx(1.5)
    assert result.sequence_logprob == pytest.approx(-2.1)
    with pytest.raises(ValueError, match="logprobs"):
        token_uncertainty([])


def test_completion_uncertainty_reads_the_completion_logprobs() -> None:
    completion = Completion(
        text="hi there",
        logprobs=[TokenLogprob(token="hi", logprob=-1.0), TokenLogprob(token=" there", logprob=-3.0)],
    )
    assert completion_uncertainty(completion).mean_neg_logprob == pytest.approx(2.0)
    with pytest.raises(ValueError, match="logprobs=True"):
        completion_uncertainty(Completion(text="hi"))


def test_predictive_entropy_by_hand() -> None:
    samples = [[-1.0, -1.0], [-3.0]]
    assert predictive_entropy(samples, per_token=False) == pytest.approx((2.0 + 3.0) / 2)
    assert predictive_entropy(samples, per_token=True) == pytest.approx((1.0 + 3.0) / 2)


def test_cluster_by_meaning_compares_with_each_clusters_first_member() -> None:
    answers = ["Paris", "paris", "Lyon", "PARIS", "lyon", "Nice"]
    clusters = cluster_by_meaning(answers, lambda a, b: a.lower() == b.lower())
    assert clusters == [[0, 1, 3], [2, 4], [5]]


def test_semantic_entropy_discrete_and_weighted() -> None:
    assert semantic_entropy([[0, 1], [2, 3]]) == pytest.approx(math.log(2))
    assert semantic_entropy([[0, 1, 2, 3]]) == pytest.approx(0.0)
    # weighted: cluster probabilities 0.5 + 0.25 = 0.75 and 0.25
    logprobs = [math.log(0.5), math.log(0.25), math.log(0.25)]
    expected = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert semantic_entropy([[0, 1], [2]], logprobs) == pytest.approx(expected)
    # only relative probabilities matter (answers are long: tiny absolute values)
    assert semantic_entropy([[0, 1], [2]], [lp - 400 for lp in logprobs]) == pytest.approx(expected)


def test_embedding_equivalence_joins_paraphrases(embedder: SentenceEmbedder) -> None:
    equivalent = embedding_equivalence(embedder, threshold=0.8)
    assert equivalent("The capital of France is Paris.", "Paris is the capital of France.")
    assert not equivalent("The capital of France is Paris.", "I like to eat green apples.")
