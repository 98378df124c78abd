"""Sampling refinement for every backend: draw n candidates, keep the best by a scorer or by majority."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from heron.errors import UsageError
from heron.llm.types import Completion, GenerationOptions, Message, Usage

if TYPE_CHECKING:
    from heron.llm.base import LLM

# At temperature 0 every candidate would be the same text, so best_of samples at this temperature instead.
BEST_OF_DEFAULT_TEMPERATURE = 0.8


def candidate_options(
    options: GenerationOptions | None, n: int, default_seed: int
) -> list[GenerationOptions]:
    """Options for each of ``n`` candidates: distinct seeds, and a temperature that lets them differ."""
    if n < 1:
        raise UsageError(f"best_of needs n >= 1, got {n}", "ask for at least one candidate")
    base = options or GenerationOptions()
    temperature = base.temperature if base.temperature > 0 else BEST_OF_DEFAULT_TEMPERATURE
    seed = base.seed if base.seed is not None else default_seed
    return [base.model_copy(update={"temperature": temperature, "seed": seed + i}) for i in range(n)]


def majority_key(text: str) -> str:
    """Candidates that differ only in case and spacing count as the same answer."""
    return " ".join(text.split()).casefold()


def pick_best(candidates: Sequence[Completion], scorer: Callable[[str], float] | None) -> Completion:
    """The highest-scoring candidate (or the most frequent answer); ties go to the earliest.

    The result carries every candidate's text and the summed usage of all of them.
    """
    if scorer is not None:
        scores = [scorer(c.text) for c in candidates]
        best = max(range(len(candidates)), key=lambda i: (scores[i], -i))
    else:
        counts = Counter(majority_key(c.text) for c in candidates)
        best = max(range(len(candidates)), key=lambda i: (counts[majority_key(candidates[i].text)], -i))
    usage = sum((c.usage for c in candidates), Usage())
    chosen = candidates[best]
    return chosen.model_copy(update={"usage": usage, "candidates": [c.text for c in candidates]})


def best_of(
    llm: LLM,
    messages: Sequence[Message],
    n: int,
    scorer: Callable[[str], float] | None = None,
    options: GenerationOptions | None = None,
    seed: int = 0,
) -> Completion:
    """Sample ``n`` candidates from ``llm`` (at 0.8 if ``options.temperature`` is 0; seeds ``seed``,
    ``seed + 1``, ... unless ``options.seed`` is set) and pick the best by ``scorer``, or by majority
    when no scorer is given. Any backend: it only calls ``llm.chat``.

    >>> best_of(llm, [Message.user("Name a heron.")], 3, scorer=len).candidates  # doctest: +SKIP
    """
    candidates = [llm.chat(messages, opts) for opts in candidate_options(options, n, seed)]
    return pick_best(candidates, scorer)
