"""Hallucination detectors that need the LLM, run over HaluEval cases.

- judge: claim-by-claim groundedness against the knowledge, P(yes) of "supported" and "contradicted",
- answer log-probability: how surprising the given answer is to the model (per word), given the
  knowledge and the question,
- SelfCheck: the given answer against N answers the model samples for the same prompt,
- own-answer uncertainty: the model answers each question itself; token uncertainty, predictive and
  semantic entropy are scored by how well they predict its own wrong answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy.stats import rankdata

from heron.evals.datasets import HaluEvalPair
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.groundedness import JudgeGroundedness
from heron.evals.halueval import AnswerCase
from heron.evals.metrics import auroc, mean
from heron.evals.selfcheck import sample_answers, selfcheck
from heron.evals.templates import render
from heron.evals.text import content_words, words
from heron.evals.uncertainty import (
    TokenUncertainty,
    cluster_by_meaning,
    completion_uncertainty,
    embedding_equivalence,
    predictive_entropy,
    semantic_entropy,
)
from heron.llm.base import LLM, option_scorer
from heron.llm.types import Completion, GenerationOptions, Message

T = TypeVar("T")
Track = Callable[[Iterable[T]], Iterable[T]]


def rag_messages(knowledge: str, question: str) -> list[Message]:
    return [Message.user(render("eval_rag_answer", context=knowledge, question=question))]


def judge_scores(cases: Sequence[AnswerCase], llm: LLM, track: Track = iter) -> dict[str, list[float]]:
    """``1 - P(supported)`` and ``P(contradicted)`` per case, averaged over the answer's claims."""
    judge = JudgeGroundedness(llm)
    unsupported, contradicted = [], []
    for case in track(cases):
        result = judge.score(case.answer, [case.knowledge], case.question)
        unsupported.append(result.hallucination_score)
        contradicted.append(result.mean_contradiction or 0.0)
    return {"judge: 1 - P(supported)": unsupported, "judge: P(contradicted)": contradicted}


def closed_book_messages(question: str) -> list[Message]:
    """The question as ``rag_messages`` asks it, without the knowledge."""
    return [Message.user(render("eval_closed_book_answer", question=question))]


def answer_logprobs(
    cases: Sequence[AnswerCase], llm: LLM, track: Track = iter, knowledge: bool = True
) -> list[float]:
    """``log P(answer | knowledge, question)`` of each case's given answer (``knowledge=False``:
    ``log P(answer | question)``), the answer scored as the model's reply."""
    scorer = option_scorer(llm)
    values = []
    for case in track(cases):
        messages = (
            rag_messages(case.knowledge, case.question) if knowledge else closed_book_messages(case.question)
        )
        values.append(scorer.score_options(messages, [case.answer])[0])
    return values


def per_word(cases: Sequence[AnswerCase], values: Sequence[float]) -> list[float]:
    """Each value divided by its case's answer length in words."""
    return [value / max(1, len(words(case.answer))) for case, value in zip(cases, values, strict=True)]


def answer_logprob_scores(cases: Sequence[AnswerCase], llm: LLM, track: Track = iter) -> list[float]:
    """``-log P(answer | knowledge, question) / words``: the model's surprise at the given answer."""
    return [-value for value in per_word(cases, answer_logprobs(cases, llm, track))]


def rank_average(*columns: Sequence[float]) -> list[float]:
    """Each answer's mean rank over ``columns`` (scores of several detectors for the same answers,
    higher = more suspect; ties share their mean rank): a combination with no parameter, whatever
    each detector's scale. HaluEval: the "absent words" share and the answer's neg log-probability
    per word, rank-averaged, beat each of them on held-out pairs (EVALS.md)."""
    ranks = np.mean([rankdata(np.asarray(column, dtype=float)) for column in columns], axis=0)
    return [float(rank) for rank in ranks]


def knowledge_gain_scores(
    cases: Sequence[AnswerCase], grounded: Sequence[float], closed_book: Sequence[float]
) -> list[float]:
    """``-(log P(answer | knowledge, question) - log P(answer | question)) / words``, from the two
    :func:`answer_logprobs` columns: how little the knowledge raises the answer's probability (the
    pointwise mutual information of answer and knowledge, negated, per word). An answer the knowledge
    supports gains from it; one the model would give anyway, or one the knowledge does not back,
    gains little. No parameter."""
    gains = [g - c for g, c in zip(grounded, closed_book, strict=True)]
    return [-value for value in per_word(cases, gains)]


@dataclass
class OwnAnswers:
    """The model's greedy answer to one pair's question and N sampled answers, all with logprobs."""

    greedy: Completion
    samples: list[Completion]


def sample_own_answers(
    pairs: Sequence[HaluEvalPair], llm: LLM, n: int, max_tokens: int = 32, track: Track = iter
) -> list[OwnAnswers]:
    """For each pair: one greedy answer and ``n`` samples (temperature 1, seeds 0..n-1)."""
    own = []
    for pair in track(pairs):
        messages = rag_messages(pair.knowledge, pair.question)
        greedy = llm.chat(messages, GenerationOptions(max_tokens=max_tokens, temperature=0.0, logprobs=True))
        own.append(OwnAnswers(greedy, sample_answers(llm, messages, n, max_tokens=max_tokens)))
    return own


def selfcheck_scores(
    cases: Sequence[AnswerCase],
    own: Sequence[OwnAnswers],
    embedder: SentenceEmbedder,
    judge: LLM | None = None,
    track: Track = iter,
) -> dict[str, list[float]]:
    """SelfCheck variants for each case's answer against its pair's sampled answers."""
    scores: dict[str, list[float]] = {}
    for case in track(cases):
        samples = [s.text for s in own[case.pair].samples]
        passage = selfcheck(case.answer, samples, embedder, judge).passage_scores()
        for variant, value in passage.items():
            if value is not None:
                scores.setdefault(f"SelfCheck {variant}", []).append(value)
    return scores


def answer_is_correct(reference: str, answer: str) -> bool:
    """Lenient match: every content word of the reference occurs in the answer.

    >>> answer_is_correct("President Richard Nixon", "It was Richard Nixon, the president.")
    True
    """
    needed = content_words(reference) or words(reference)
    present = set(words(answer))
    return bool(needed) and all(w in present for w in needed)


def own_answer_uncertainty(
    pairs: Sequence[HaluEvalPair], own: Sequence[OwnAnswers], embedder: SentenceEmbedder
) -> tuple[float | None, dict[str, dict[str, float | None]]]:
    """Accuracy of the model's greedy answers, and the AUROC of each uncertainty measure for
    predicting that an answer is wrong (None when all answers are right or all wrong)."""
    wrong = [
        int(not answer_is_correct(p.right_answer, o.greedy.text)) for p, o in zip(pairs, own, strict=True)
    ]
    equivalent = embedding_equivalence(embedder)
    measures: dict[str, list[float]] = {name: [] for name in _UNCERTAINTY_MEASURES}
    for answers in own:
        # An answer that stopped at once has no tokens: rank it as most uncertain (AUROC needs finite values).
        token = completion_uncertainty(answers.greedy) if answers.greedy.logprobs else _NO_TOKENS
        sample_logprobs = [[t.logprob for t in s.logprobs or []] for s in answers.samples]
        clusters = cluster_by_meaning([s.text for s in answers.samples], equivalent)
        measures["mean neg logprob"].append(token.mean_neg_logprob)
        measures["max neg logprob"].append(token.max_neg_logprob)
        measures["predictive entropy (per token)"].append(predictive_entropy(sample_logprobs))
        measures["semantic entropy"].append(semantic_entropy(clusters, [sum(lp) for lp in sample_logprobs]))
        measures["semantic entropy (discrete)"].append(semantic_entropy(clusters))
    accuracy = mean([1.0 - w for w in wrong])
    return accuracy, {
        name: {"AUROC (predicts a wrong answer)": auroc(wrong, v)} for name, v in measures.items()
    }


_NO_TOKENS = TokenUncertainty(mean_neg_logprob=1e6, max_neg_logprob=1e6, sequence_logprob=0.0, tokens=0)
_UNCERTAINTY_MEASURES = (
    "mean neg logprob",
    "max neg logprob",
    "predictive entropy (per token)",
    "semantic entropy",
    "semantic entropy (discrete)",
)
