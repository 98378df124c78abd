"""SelfCheck variants: unigram by hand, embedding with the real MiniLM, judge and sampling with the GGUF."""

from __future__ import annotations

import math

import pytest

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.selfcheck import (
    sample_answers,
    selfcheck,
    selfcheck_embedding,
    selfcheck_judge,
    selfcheck_unigram,
)
from heron.llm import LocalLLM, Message


def test_unigram_scores_by_hand() -> None:
    # counts over samples + answer: a=3, b=1, c=1 -> total 5, vocabulary 3, denominator 8
    # P(a) = 4/8, P(b) = P(c) = 2/8
    samples = ["a a", "b"]
    answer = "a c"
    [score] = selfcheck_unigram(["a c"], samples, answer)
    assert score.mean_neg_logprob == pytest.approx((-math.log(4 / 8) - math.log(2 / 8)) / 2)
    assert score.max_neg_logprob == pytest.approx(-math.log(2 / 8))


def test_unigram_ranks_a_sentence_the_samples_back_above_one_they_do_not() -> None:
    samples = ["Paris is the capital of France.", "The capital of France is Paris."]
    answer = "Paris is the capital. Berlin hosts the Louvre."
    backed, unbacked = selfcheck_unigram(
        ["Paris is the capital.", "Berlin hosts the Louvre."], samples, answer
    )
    assert backed.mean_neg_logprob < unbacked.mean_neg_logprob


def test_embedding_variant_is_zero_for_a_sentence_every_sample_repeats(embedder: SentenceEmbedder) -> None:
    sentence = "The Eiffel Tower is in Paris."
    same, other = selfcheck_embedding(
        [sentence, "Bananas are rich in potassium."], [sentence, sentence], embedder
    )
    assert same == pytest.approx(0.0, abs=1e-5)
    assert other > 0.5


def test_selfcheck_splits_the_answer_and_scores_each_sentence(embedder: SentenceEmbedder) -> None:
    result = selfcheck("Paris is in France. The moon is cheese.", ["Paris is a city in France."], embedder)
    assert result.sentences == ["Paris is in France.", "The moon is cheese."]
    assert result.embedding[0] < result.embedding[1]
    assert result.judge is None
    scores = result.passage_scores()
    assert scores["judge"] is None and scores["embedding"] == pytest.approx(sum(result.embedding) / 2)


@pytest.mark.model
def test_sampling_is_repeatable_and_judge_gives_probabilities(llm: LocalLLM) -> None:
    messages = [Message.user("Name a fruit.")]
    first = sample_answers(llm, messages, n=2, seed=5, max_tokens=8)
    again = sample_answers(llm, messages, n=2, seed=5, max_tokens=8)
    assert [c.text for c in first] == [c.text for c in again]
    assert all(c.logprobs for c in first)
    [score] = selfcheck_judge(["An apple is a fruit."], [c.text for c in first], llm)
    assert 0.0 < score < 1.0
