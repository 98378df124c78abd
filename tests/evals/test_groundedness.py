"""Groundedness: the model-free pieces on hand-made cases (real MiniLM), the judge with the real GGUF."""

from __future__ import annotations

import math

import pytest

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import (
    ClaimVerdict,
    GroundednessResult,
    JudgeGroundedness,
    ModelFreeGroundedness,
    unsupported_score,
)
from heron.evals.judge import yes_probability_from_logprobs
from heron.evals.text import absent_share, claims, content_words, sentences
from heron.llm import LocalLLM

CONTEXT = [
    "Arthur's Magazine (1844-1846) was an American literary periodical published in Philadelphia. "
    "First for Women is a woman's magazine published by Bauer Media Group in the USA."
]


def test_sentences_and_claims_split_text() -> None:
    glued = "It was published in Philadelphia.First for Women is newer. Really? Yes!"
    assert sentences(glued) == [
        "It was published in Philadelphia.",
        "First for Women is newer.",
        "Really?",
        "Yes!",
    ]
    assert claims("Delhi") == ["Delhi"]
    assert claims("   ") == []


def test_content_words_drop_stop_words_and_absent_share_counts_them() -> None:
    assert content_words("The magazine was started in 1844") == ["magazine", "started", "1844"]
    # "magazine" and "1844" occur in the context, "started" does not
    assert absent_share(["magazine", "started", "1844"], CONTEXT[0]) == pytest.approx(1 / 3)
    assert absent_share([], CONTEXT[0]) == 0.0


def test_unsupported_score_combines_the_two_pieces() -> None:
    assert unsupported_score(similarity=0.6, absent=0.5, similarity_weight=0.5) == pytest.approx(0.45)
    assert unsupported_score(similarity=1.0, absent=0.0) == pytest.approx(0.0)
    assert unsupported_score(similarity=-0.2, absent=1.0, similarity_weight=0.5) == pytest.approx(
        1.0
    )  # clipped


def test_result_aggregates_claims() -> None:
    result = GroundednessResult(
        [ClaimVerdict("a", 0.9, 0.1), ClaimVerdict("b", 0.2, 0.7), ClaimVerdict("c", 0.7, 0.2)]
    )
    assert result.score == pytest.approx(0.6)
    assert result.hallucination_score == pytest.approx(0.4)
    assert result.supported_share == pytest.approx(2 / 3)
    assert result.contradicted_share == pytest.approx(1 / 3)
    assert GroundednessResult().score == 1.0  # no claims, nothing asserted


def test_yes_probability_normalizes_over_yes_and_no() -> None:
    assert yes_probability_from_logprobs([math.log(0.3)], [math.log(0.1)]) == pytest.approx(0.75)
    assert yes_probability_from_logprobs([math.log(0.1), math.log(0.2)], [math.log(0.3), math.log(0.4)]) == (
        pytest.approx(0.3)
    )


def test_model_free_scorer_ranks_a_grounded_answer_above_a_made_up_one(embedder: SentenceEmbedder) -> None:
    scorer = ModelFreeGroundedness(embedder)
    question = "Which magazine was started first, Arthur's Magazine or First for Women?"
    grounded = scorer.score("Arthur's Magazine", CONTEXT, question)
    made_up = scorer.score("Reader's Digest was founded by two brothers in Chicago.", CONTEXT, question)
    assert grounded.score > made_up.score
    assert grounded.claims[0].absent_share == 0.0
    assert made_up.claims[0].absent_share == pytest.approx(1.0)  # reader, digest, founded, ... all absent
    assert "Arthur's Magazine" in (grounded.claims[0].closest_sentence or "")


def test_model_free_scorer_judges_each_claim(embedder: SentenceEmbedder) -> None:
    result = ModelFreeGroundedness(embedder).score(
        "Arthur's Magazine was published in Philadelphia. It was owned by Elon Musk.", CONTEXT
    )
    assert [c.claim for c in result.claims] == [
        "Arthur's Magazine was published in Philadelphia.",
        "It was owned by Elon Musk.",
    ]
    assert result.claims[0].supported > result.claims[1].supported
    assert result.supported_share == pytest.approx(0.5)


def test_model_free_scorer_rejects_a_bad_weight(embedder: SentenceEmbedder) -> None:
    with pytest.raises(ValueError, match="similarity_weight"):
        ModelFreeGroundedness(embedder, similarity_weight=1.5)


@pytest.mark.model
def test_judge_scores_every_claim_with_probabilities(llm: LocalLLM) -> None:
    result = JudgeGroundedness(llm).score("It was published in Philadelphia. It is a cooking show.", CONTEXT)
    assert len(result.claims) == 2
    for verdict in result.claims:
        assert 0.0 < verdict.supported < 1.0  # a probability from logprobs, not a sampled word
        assert verdict.contradicted is not None and 0.0 < verdict.contradicted < 1.0
    assert result.contradicted_share is not None
