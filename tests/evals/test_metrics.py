"""AUROC, length matching, TVD, entropy: each checked on cases small enough to compute by hand."""

from __future__ import annotations

import math

import pytest

from heron.evals.metrics import auroc, entropy, length_matched, softmax, total_variation_from_uniform


def test_auroc_counts_correctly_ordered_pairs() -> None:
    # positives 0.35, 0.8; negatives 0.1, 0.4: pairs (0.35>0.1), (0.35<0.4), (0.8>0.1), (0.8>0.4) -> 3/4
    assert auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)


def test_auroc_counts_ties_half_and_is_symmetric() -> None:
    assert auroc([0, 1], [0.5, 0.5]) == pytest.approx(0.5)
    assert auroc([0, 0, 1], [1.0, 2.0, 2.0]) == pytest.approx(0.75)  # (2>1) + tie/2 over 2 pairs
    assert auroc([1, 1, 0, 0], [1, 2, 3, 4]) == pytest.approx(0.0)


def test_auroc_is_none_with_one_class() -> None:
    assert auroc([1, 1], [0.2, 0.3]) is None


def test_length_matched_keeps_equal_counts_per_length() -> None:
    lengths = [1, 1, 1, 2, 2, 5]
    labels = [0, 0, 1, 1, 0, 1]
    kept = length_matched(lengths, labels)
    # length 1: one of each (the first negative, index 0, and index 2); length 2: indices 3, 4; 5: none
    assert kept == [0, 2, 3, 4]
    assert auroc([labels[i] for i in kept], [lengths[i] for i in kept]) == pytest.approx(0.5)


def test_total_variation_from_uniform() -> None:
    # shares 1/4, 3/4 against 1/2, 1/2: (1/4 + 1/4) / 2
    assert total_variation_from_uniform({"female": 1, "male": 3}) == pytest.approx(0.25)
    assert total_variation_from_uniform({"a": 2, "b": 2, "c": 2}) == pytest.approx(0.0)
    assert total_variation_from_uniform({"a": 5, "b": 0, "c": 0}) == pytest.approx(2 / 3)
    assert total_variation_from_uniform({"a": 0, "b": 0}) is None


def test_entropy_and_softmax() -> None:
    assert entropy([1, 1]) == pytest.approx(math.log(2))
    assert entropy([3, 0]) == pytest.approx(0.0)
    assert softmax([math.log(1), math.log(3)]) == pytest.approx([0.25, 0.75])
    assert sum(softmax([-1000.0, -1001.0])) == pytest.approx(1.0)  # stable for tiny probabilities
