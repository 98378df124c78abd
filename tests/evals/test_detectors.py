"""Own-answer uncertainty and the correctness check it is scored against, on hand-made completions."""

from __future__ import annotations

import pytest

from heron.evals.datasets import HaluEvalPair
from heron.evals.detectors import OwnAnswers, answer_is_correct, own_answer_uncertainty
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.uncertainty import judge_equivalence
from heron.llm import Completion, LocalLLM, TokenLogprob


def _completion(text: str, *logprobs: float) -> Completion:
    tokens = [TokenLogprob(token=f"t{i}", logprob=lp) for i, lp in enumerate(logprobs)]
    return Completion(text=text, logprobs=tokens)


def test_answer_is_correct_needs_every_content_word_of_the_reference() -> None:
    assert answer_is_correct("President Richard Nixon", "It was Richard Nixon, the president.")
    assert not answer_is_correct("President Richard Nixon", "Richard Burton")
    assert answer_is_correct("2006", "It first aired in 2006.")
    assert not answer_is_correct("", "anything")


def test_uncertainty_measures_rank_the_wrong_answer_as_less_certain(embedder: SentenceEmbedder) -> None:
    pairs = [
        HaluEvalPair(knowledge="K", question="France?", right_answer="Paris", hallucinated_answer="x"),
        HaluEvalPair(knowledge="K", question="Peru?", right_answer="Lima", hallucinated_answer="x"),
    ]
    confident = OwnAnswers(_completion("Paris", -0.1, -0.2), [_completion("Paris", -0.1)] * 3)
    unsure = OwnAnswers(
        _completion("Cusco", -2.0, -3.0),
        [_completion("Cusco", -2.0), _completion("A village by the sea", -4.0), _completion("Quito", -1.0)],
    )
    accuracy, rows = own_answer_uncertainty(pairs, [confident, unsure], embedder)
    assert accuracy == pytest.approx(0.5)
    for name, row in rows.items():
        assert row["AUROC (predicts a wrong answer)"] == pytest.approx(1.0), name


@pytest.mark.model
def test_judge_equivalence_answers_with_a_decision(llm: LocalLLM) -> None:
    equivalent = judge_equivalence(llm, "What is the capital of France?")
    assert equivalent("Paris", " paris ")  # identical after normalizing: no model call needed
    assert isinstance(equivalent("Paris", "The capital is Paris."), bool)
