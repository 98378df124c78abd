"""The answer log-probability detectors on a scripted model, and own-answer uncertainty on hand-made
completions."""

from __future__ import annotations

import pytest

from heron.evals.datasets import HaluEvalPair
from heron.evals.detectors import (
    OwnAnswers,
    answer_is_correct,
    answer_logprobs,
    knowledge_gain_scores,
    own_answer_uncertainty,
    rank_average,
)
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.halueval import AnswerCase
from heron.evals.uncertainty import judge_equivalence
from heron.llm import Completion, LocalLLM, ScriptedLLM, TokenLogprob


def _completion(text: str, *logprobs: float) -> Completion:
    tokens = [TokenLogprob(token=f"t{i}", logprob=lp) for i, lp in enumerate(logprobs)]
    return Completion(text=text, logprobs=tokens)


def test_answer_is_correct_needs_every_content_word_of_the_reference() -> None:
    assert answer_is_correct("President Richard Nixon", "It was Richard Nixon, the president.")
    assert not answer_is_correct("President Richard Nixon", "Richard Burton")
    assert answer_is_correct("2006", "It first aired in 2006.")
    assert not answer_is_correct("", "anything")


def test_answer_logprobs_score_the_answer_with_and_without_the_knowledge() -> None:
    case = AnswerCase(0, "Lima is the capital of Peru.", "What is the capital of Peru?", "Lima", 0)
    llm = ScriptedLLM([[-1.5], [-4.0]])
    assert answer_logprobs([case], llm) == [-1.5]
    assert answer_logprobs([case], llm, knowledge=False) == [-4.0]
    with_knowledge, without = (call.messages[-1].content for call in llm.calls)
    assert "Lima is the capital of Peru." in with_knowledge and case.question in with_knowledge
    assert "Lima is the capital" not in without and case.question in without
    assert [call.choices for call in llm.calls] == [("Lima",), ("Lima",)]


def test_knowledge_gain_ranks_the_answer_the_knowledge_does_not_raise_higher() -> None:
    cases = [
        AnswerCase(0, "K", "Q", "Lima", 0),
        AnswerCase(0, "K", "Q", "Quito in Ecuador", 1),  # three words
    ]
    # the knowledge raises "Lima" by 3 nats; the hallucinated answer by 0.6 nats, 0.2 per word
    scores = knowledge_gain_scores(cases, grounded=[-1.0, -6.0], closed_book=[-4.0, -6.6])
    assert scores == pytest.approx([-3.0, -0.2])
    assert scores[1] > scores[0]


def test_rank_average_combines_detectors_of_any_scale_with_ties_shared() -> None:
    absent = [0.0, 0.5, 0.5, 1.0]  # ranks 1, 2.5, 2.5, 4
    surprise = [30.0, 10.0, 20.0, 40.0]  # ranks 3, 1, 2, 4
    assert rank_average(absent, surprise) == pytest.approx([2.0, 1.75, 2.25, 4.0])
    assert rank_average(surprise) == pytest.approx([3.0, 1.0, 2.0, 4.0])


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
