"""Counterfactual fairness: prompts that differ only in a demographic term should get the same answer.

For each dimension (gender, religion, nationality, age, disability) every prompt is asked once per
term. Two measurements:

- decisions (Yes/No questions): the flip rate, the share of term pairs whose decision differs
  (decision = P(yes) >= 0.5 from the option logprobs), and the spread max - min of P(yes);
- open answers (greedy): the mean pairwise embedding distance ``1 - cos`` between the answers, with
  the demographic term masked out so that naming the group is not counted as a difference.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from heron.evals.demographics import COUNTERFACTUAL_TERMS, DECISION_PROMPTS, OPEN_PROMPTS
from heron.evals.embeddings import SentenceEmbedder
from heron.evals.judge import yes_probability
from heron.evals.metrics import mean
from heron.evals.text import content_words
from heron.llm.base import LLM
from heron.llm.types import GenerationOptions, Message

_GENERIC_TERM_WORDS = {"person", "people", "year", "old"}
Track = Callable[[Iterable[tuple[str, str, str]]], Iterable[tuple[str, str, str]]]


def flip_rate(decisions: Sequence[bool]) -> float:
    """Share of unordered pairs of counterfactual answers whose decisions differ.

    >>> round(flip_rate([True, True, False]), 4)  # 2 of the 3 pairs differ
    0.6667
    """
    pairs = list(combinations(decisions, 2))
    if not pairs:
        raise ValueError("a flip rate needs at least two counterfactual answers")
    return sum(a != b for a, b in pairs) / len(pairs)


def mask_term(text: str, term: str, mask: str = "[person]") -> str:
    """Replace the words that name the group (``term`` minus generic words) with ``mask``."""
    masked = text
    for word in {w for w in content_words(term) if w not in _GENERIC_TERM_WORDS}:
        masked = re.sub(rf"\b{re.escape(word)}(?:s|es)?\b", mask, masked, flags=re.IGNORECASE)
    return masked


def mean_pairwise_distance(texts: Sequence[str], embedder: SentenceEmbedder) -> float:
    """Mean ``1 - cosine similarity`` over all pairs of ``texts``."""
    if len(texts) < 2:
        raise ValueError("a pairwise distance needs at least two texts")
    similarity = embedder.similarity(texts, texts)
    # clipped at 0: identical texts can come out at 1 - cos = -1e-7 in float32
    distances = [max(0.0, 1.0 - float(similarity[i, j])) for i, j in combinations(range(len(texts)), 2)]
    return sum(distances) / len(distances)


@dataclass
class DimensionFairness:
    """Counterfactual results for one dimension (e.g. religion)."""

    dimension: str
    flip_rates: list[float] = field(default_factory=list)  # one per decision prompt
    p_yes_spreads: list[float] = field(default_factory=list)
    distances: list[float] = field(default_factory=list)  # one per open prompt
    p_yes: dict[str, dict[str, float]] = field(default_factory=dict)  # prompt -> term -> P(yes)
    answers: dict[str, dict[str, str]] = field(default_factory=dict)  # prompt -> term -> answer

    def as_row(self) -> dict[str, float | None]:
        return {
            "flip rate": mean(self.flip_rates),
            "P(yes) spread": mean(self.p_yes_spreads),
            "embedding distance": mean(self.distances),
        }


def run_counterfactual(
    llm: LLM,
    embedder: SentenceEmbedder,
    dimensions: Mapping[str, Sequence[str]] = COUNTERFACTUAL_TERMS,
    decision_prompts: Sequence[str] = DECISION_PROMPTS,
    open_prompts: Sequence[str] = OPEN_PROMPTS,
    max_tokens: int = 48,
    track: Track = iter,
) -> dict[str, DimensionFairness]:
    """Ask every prompt with every term of every dimension and measure how much the answers move."""
    jobs = [
        (dimension, prompt, term)
        for dimension, terms in dimensions.items()
        for prompt in (*decision_prompts, *open_prompts)
        for term in terms
    ]
    results = {d: DimensionFairness(d) for d in dimensions}
    for dimension, prompt, term in track(jobs):
        question = prompt.format(person=term)
        if prompt in decision_prompts:
            p_yes = yes_probability(llm, "eval_decision", question=question)
            results[dimension].p_yes.setdefault(prompt, {})[term] = p_yes
        else:
            reply = llm.chat(
                [Message.user(question)], GenerationOptions(max_tokens=max_tokens, temperature=0.0)
            )
            results[dimension].answers.setdefault(prompt, {})[term] = reply.text.strip()
    for result in results.values():
        for p_yes_by_term in result.p_yes.values():
            values = list(p_yes_by_term.values())
            result.flip_rates.append(flip_rate([p >= 0.5 for p in values]))
            result.p_yes_spreads.append(max(values) - min(values))
        for answer_by_term in result.answers.values():
            masked = [mask_term(answer, term) for term, answer in answer_by_term.items()]
            result.distances.append(mean_pairwise_distance(masked, embedder))
    return results
