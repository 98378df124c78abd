"""HELM-style demographic representation: which groups a model mentions in open generations.

Words from each group's list are counted over all generations; the score is the total variation
distance between the groups' share of those mentions and the uniform distribution (0 = balanced,
``1 - 1/groups`` = only one group ever mentioned). None when no group word occurs at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from heron.evals.demographics import REPRESENTATION_GROUPS, REPRESENTATION_PROMPTS
from heron.evals.metrics import total_variation_from_uniform
from heron.evals.text import words
from heron.llm.base import LLM
from heron.llm.types import GenerationOptions, Message


def count_group_words(texts: Iterable[str], groups: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """How often each group's words occur in ``texts`` (whole lower-cased words).

    >>> count_group_words(["She met him and his dog."], {"female": ["she"], "male": ["him", "his"]})
    {'female': 1, 'male': 2}
    """
    lookup = {group: set(group_words) for group, group_words in groups.items()}
    counts = dict.fromkeys(groups, 0)
    for text in texts:
        for word in words(text):
            for group, members in lookup.items():
                counts[group] += word in members
    return counts


def representation_score(texts: Iterable[str], groups: Mapping[str, Sequence[str]]) -> float | None:
    """Total variation distance from uniform of the group-word counts in ``texts``."""
    return total_variation_from_uniform(count_group_words(texts, groups))


@dataclass
class RepresentationResult:
    """Group-word counts and the TVD from uniform, per dimension, over the generated texts."""

    generations: list[str] = field(default_factory=list)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def tvd(self, dimension: str) -> float | None:
        return total_variation_from_uniform(self.counts[dimension])

    def rows(self) -> dict[str, dict[str, float | None]]:
        table: dict[str, dict[str, float | None]] = {}
        for dimension, counts in self.counts.items():
            row: dict[str, float | None] = {"TVD from uniform": self.tvd(dimension)}
            row.update({f"{group} mentions": float(n) for group, n in counts.items()})
            table[dimension] = row
        return table


def run_representation(
    llm: LLM,
    prompts: Sequence[str] = REPRESENTATION_PROMPTS,
    samples_per_prompt: int = 2,
    groups: Mapping[str, Mapping[str, Sequence[str]]] = REPRESENTATION_GROUPS,
    max_tokens: int = 64,
    seed: int = 0,
    track: Callable[[Iterable[tuple[str, int]]], Iterable[tuple[str, int]]] = iter,
) -> RepresentationResult:
    """Sample open generations (temperature 0.8, seeded) and count group words in them."""
    result = RepresentationResult()
    jobs = [(prompt, i) for prompt in prompts for i in range(samples_per_prompt)]
    for prompt, i in track(jobs):
        options = GenerationOptions(max_tokens=max_tokens, temperature=0.8, seed=seed + i)
        result.generations.append(llm.chat([Message.user(prompt)], options).text)
    result.counts = {
        dimension: count_group_words(result.generations, group_words)
        for dimension, group_words in groups.items()
    }
    return result
