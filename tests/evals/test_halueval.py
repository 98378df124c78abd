"""HaluEval detector evaluation: baselines and subsets by hand, and the model-free scorer on real data."""

from __future__ import annotations

import pytest

from heron.evals import halueval
from heron.evals.datasets import HaluEvalPair, load_halueval
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import SIMILARITY_WEIGHT, ModelFreeGroundedness
from tests.conftest import SHARED_DATA

Matched = tuple[list[halueval.AnswerCase], halueval.ModelFreeFeatures]


def _pairs() -> list[HaluEvalPair]:
    return [
        HaluEvalPair(
            knowledge="Delhi is the seat of the Oberoi Group.",
            question="Where?",
            right_answer="Delhi",
            hallucinated_answer="Mumbai, the financial capital",
        ),
        HaluEvalPair(
            knowledge="The track is 6.213 kilometres long.",
            question="How long?",
            right_answer="6.213 kilometres",
            hallucinated_answer="exactly 6 kilometres",
        ),
    ]


def test_answer_cases_and_baselines_by_hand() -> None:
    cases = halueval.answer_cases(_pairs())
    assert [(c.pair, c.label) for c in cases] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert halueval.length_baseline(cases) == [1.0, 4.0, 3.0, 3.0]
    # "Mumbai, the financial capital": only "the" occurs in the knowledge -> 3/4 absent
    assert halueval.absent_token_baseline(cases) == pytest.approx([0.0, 0.75, 0.0, 1 / 3])  # "exactly"
    a, b = halueval.halves(cases)
    assert (a, b) == ([0, 1], [2, 3])
    # only pair 1's answers have the same length (3 words)
    assert halueval.matched_subset(cases, [0, 1, 2, 3]) == [2, 3]


def test_auroc_row_reports_all_and_length_matched() -> None:
    cases = halueval.answer_cases(_pairs())
    row = halueval.auroc_row(cases, halueval.length_baseline(cases))
    assert row[halueval.ALL] == pytest.approx(0.875)  # 3.5 of 4 (right, hallucinated) pairs ordered
    assert row[halueval.MATCHED] == pytest.approx(0.5)  # a tie on the matched pair


def test_fit_similarity_weight_picks_the_best_grid_value() -> None:
    cases = halueval.answer_cases(_pairs())
    # on the matched cases (2, 3) only the similarity separates them: any weight > 0 ranks them right,
    # and the smallest such weight wins the tie
    features = halueval.ModelFreeFeatures(similarity=[0.9, 0.1, 0.9, 0.2], absent=[0.0, 1.0, 0.5, 0.5])
    assert halueval.fit_similarity_weight(cases, features, [0, 1, 2, 3]) == 0.05


def test_no_weight_is_fit_without_length_matched_answers_and_the_table_says_so() -> None:
    """A small --limit can leave half A without length-matched answers of both kinds: no weight is
    "fit" then, and the held-out table leaves the scorer out and says why."""
    from heron.evals.suites import _held_out_table

    cases = halueval.answer_cases(_pairs())
    features = halueval.ModelFreeFeatures(similarity=[0.9, 0.1, 0.9, 0.2], absent=[0.0, 1.0, 0.5, 0.5])
    assert halueval.fit_similarity_weight(cases, features, [0, 1]) is None  # pair 0: lengths differ
    table = _held_out_table(cases[:2], features)  # half A: pair 0 alone, its answers of unlike lengths
    assert not [name for name in table.rows if "model-free" in name]
    assert "no length-matched answers of both kinds" in table.note and "--limit" in table.note


@pytest.fixture(scope="module")
def matched_features(
    embedder: SentenceEmbedder,
) -> tuple[list[halueval.AnswerCase], halueval.ModelFreeFeatures]:
    """The model-free features of the length-matched answers of both halves of the real HaluEval."""
    cases = halueval.answer_cases(load_halueval(SHARED_DATA))
    half_a, half_b = halueval.halves(cases)
    chosen = halueval.matched_subset(cases, half_a) + halueval.matched_subset(cases, half_b)
    subset = [cases[i] for i in sorted(chosen)]
    return subset, halueval.model_free_features(subset, ModelFreeGroundedness(embedder))


def test_default_weight_is_the_one_fit_on_half_a(matched_features: Matched) -> None:
    cases, features = matched_features
    half_a, _ = halueval.halves(cases)
    assert halueval.fit_similarity_weight(cases, features, half_a) == SIMILARITY_WEIGHT


def test_model_free_scorer_beats_both_baselines_on_held_out_length_matched_answers(
    matched_features: Matched,
) -> None:
    cases, features = matched_features
    _, half_b = halueval.halves(cases)
    assert len(halueval.matched_subset(cases, half_b)) == len(half_b)  # already length-matched
    rows = halueval.detector_table(
        cases,
        {
            "length": halueval.length_baseline(cases),
            "absent": halueval.absent_token_baseline(cases),
            "model-free": features.scores(SIMILARITY_WEIGHT),
        },
        half_b,
    )
    matched = {name: row[halueval.MATCHED] for name, row in rows.items()}
    assert matched["length"] == pytest.approx(0.5)
    assert matched["model-free"] > matched["absent"] > 0.5
