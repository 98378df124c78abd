"""MC1 and MC2 on hand-computed items, and the real data file's shape."""

from __future__ import annotations

import math

import pytest

from heron.evals.datasets import TruthfulQAItem, load_truthfulqa
from heron.evals.truthfulqa import mc1, mc2, score_truthfulqa
from tests.conftest import SHARED_DATA


def test_mc1_needs_the_true_option_strictly_on_top() -> None:
    targets = {"right": 1, "wrong a": 0, "wrong b": 0}
    assert mc1(targets, {"right": -1.0, "wrong a": -2.0, "wrong b": -3.0}) == 1.0
    assert mc1(targets, {"right": -2.0, "wrong a": -1.0, "wrong b": -3.0}) == 0.0
    assert mc1(targets, {"right": -1.0, "wrong a": -1.0, "wrong b": -3.0}) == 0.0  # a tie is not a win


def test_mc2_is_the_normalized_mass_on_true_options() -> None:
    targets = {"t1": 1, "t2": 1, "f1": 0}
    logprobs = {"t1": math.log(0.1), "t2": math.log(0.2), "f1": math.log(0.3)}
    assert mc2(targets, logprobs) == pytest.approx(0.3 / 0.6)
    # very long options have tiny probabilities; the ratio must survive
    tiny = {o: lp - 500.0 for o, lp in logprobs.items()}
    assert mc2(targets, tiny) == pytest.approx(0.5)


def test_score_truthfulqa_averages_items() -> None:
    items = load_truthfulqa(SHARED_DATA, limit=2)

    # favour each item's true MC1 option and give all options equal probability otherwise
    def logprobs_of(item: TruthfulQAItem) -> dict[str, float]:
        options = {*item.mc1_targets, *item.mc2_targets}
        return {o: (0.0 if item.mc1_targets.get(o) == 1 else -1.0) for o in options}

    result = score_truthfulqa(items, logprobs_of)
    assert result.mc1 == 1.0
    assert result.mc1_scores == [1.0, 1.0]
    assert 0.0 < result.mc2 < 1.0


def test_truthfulqa_file_has_790_items_with_one_true_mc1_option() -> None:
    items = load_truthfulqa(SHARED_DATA)
    assert len(items) == 790
    assert all(sum(i.mc1_targets.values()) == 1 for i in items)
