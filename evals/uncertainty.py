"""Uncertainty of a model's answers from token log-probabilities, and semantic entropy.

- Per answer: mean and max negative token log-probability (``Completion.logprobs``).
- Over N sampled answers: the predictive entropy, estimated as the mean negative log-probability of
  the sampled sequences (per token when ``per_token``), and the semantic entropy of Kuhn et al.
  (2023): answers are clustered by meaning, and the entropy is taken over clusters rather than
  strings, so paraphrases of one answer do not count as uncertainty.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from heron.evals.embeddings import SentenceEmbedder
from heron.evals.judge import yes_probability
from heron.evals.metrics import entropy
from heron.llm.base import LLM
from heron.llm.types import Completion

Equivalence = Callable[[str, str], bool]


@dataclass
class TokenUncertainty:
    """Uncertainty of one generated answer; higher = less confident."""

    mean_neg_logprob: float
    max_neg_logprob: float
    sequence_logprob: float
    tokens: int


def token_uncertainty(logprobs: Sequence[float]) -> TokenUncertainty:
    """Mean and max negative log-probability of the tokens of one answer.

    >>> token_uncertainty([-0.5, -1.5]).mean_neg_logprob
    1.0
    """
    if not logprobs:
        raise ValueError("no token logprobs: generate with GenerationOptions(logprobs=True)")
    return TokenUncertainty(
        mean_neg_logprob=-sum(logprobs) / len(logprobs),
        max_neg_logprob=-min(logprobs),
        sequence_logprob=sum(logprobs),
        tokens=len(logprobs),
    )


def completion_uncertainty(completion: Completion) -> TokenUncertainty:
    """:func:`token_uncertainty` of a completion made with ``logprobs=True``."""
    if completion.logprobs is None:
        raise ValueError("the completion has no logprobs: generate with GenerationOptions(logprobs=True)")
    return token_uncertainty([t.logprob for t in completion.logprobs])


def predictive_entropy(sequence_logprobs: Sequence[Sequence[float]], per_token: bool = True) -> float:
    """Monte Carlo estimate of the entropy of the answer distribution from N sampled answers:
    ``mean_i(-log p(s_i))``, with ``log p`` divided by the answer's token count when ``per_token``.

    >>> predictive_entropy([[-1.0, -1.0], [-3.0]], per_token=False)
    2.5
    """
    if not sequence_logprobs:
        raise ValueError("predictive entropy needs at least one sampled answer")
    values = [-sum(lps) / (len(lps) if per_token and lps else 1) for lps in sequence_logprobs]
    return sum(values) / len(values)


def cluster_by_meaning(answers: Sequence[str], equivalent: Equivalence) -> list[list[int]]:
    """Greedy clustering of Kuhn et al.: an answer joins the first cluster whose first member it is
    equivalent to, else starts a new cluster. Returns lists of answer indices."""
    clusters: list[list[int]] = []
    for index, answer in enumerate(answers):
        for cluster in clusters:
            if equivalent(answers[cluster[0]], answer):
                cluster.append(index)
                break
        else:
            clusters.append([index])
    return clusters


def semantic_entropy(
    clusters: Sequence[Sequence[int]], sequence_logprobs: Sequence[float] | None = None
) -> float:
    """Entropy over meaning clusters, in nats.

    With ``sequence_logprobs`` (one per answer), a cluster's probability is the sum of its answers'
    probabilities, renormalized over the samples; without, it is the share of samples in the cluster
    (the "discrete" variant, for models that report no logprobs).

    >>> round(semantic_entropy([[0, 1], [2, 3]]), 4)  # two equally likely meanings: ln 2
    0.6931
    """
    if sequence_logprobs is None:
        return entropy([len(c) for c in clusters])
    top = max(sequence_logprobs)
    return entropy([sum(math.exp(sequence_logprobs[i] - top) for i in c) for c in clusters])


def embedding_equivalence(embedder: SentenceEmbedder, threshold: float = 0.85) -> Equivalence:
    """Two answers mean the same when their MiniLM cosine similarity is at least ``threshold``."""

    def equivalent(first: str, second: str) -> bool:
        return first.strip().lower() == second.strip().lower() or bool(
            embedder.similarity([first], [second])[0, 0] >= threshold
        )

    return equivalent


def judge_equivalence(llm: LLM, question: str) -> Equivalence:
    """Bidirectional entailment by the LLM judge: each answer must mean the other (P(yes) > 0.5)."""

    def equivalent(first: str, second: str) -> bool:
        if first.strip().lower() == second.strip().lower():
            return True
        return all(
            yes_probability(llm, "eval_same_meaning", question=question, first=a, second=b) > 0.5
            for a, b in ((first, second), (second, first))
        )

    return equivalent
