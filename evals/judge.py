"""The configured LLM as a yes/no judge: a continuous score from the log-probabilities of its answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.evals.metrics import softmax
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.prompts import render

# Both spellings count: small models often put their mass on "yes" rather than "Yes".
YES_OPTIONS = ("Yes", "yes")
NO_OPTIONS = ("No", "no")


def yes_probability_from_logprobs(yes_logprobs: Sequence[float], no_logprobs: Sequence[float]) -> float:
    """P(yes) among the yes and no replies: ``sum exp(yes) / (sum exp(yes) + sum exp(no))``.

    >>> import math
    >>> round(yes_probability_from_logprobs([math.log(0.3)], [math.log(0.1)]), 6)
    0.75
    """
    probabilities = softmax([*yes_logprobs, *no_logprobs])
    return sum(probabilities[: len(yes_logprobs)])


def yes_probability(llm: LLM, template: str, **variables: Any) -> float:
    """Render the prompt template and return the judge's P(yes), read from option log-probabilities."""
    messages = [Message.user(render(template, **variables))]
    logprobs = llm.score_options(messages, [*YES_OPTIONS, *NO_OPTIONS])
    return yes_probability_from_logprobs(logprobs[: len(YES_OPTIONS)], logprobs[len(YES_OPTIONS) :])
