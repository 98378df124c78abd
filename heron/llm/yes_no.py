"""A model's answer to a yes/no question as a probability, read from the scores of its replies.

Used by the evals' judges (``heron.evals.judge``) and by the agent's first-call check
(``heron.agents.policies.first_call_check``); any backend with ``score_options`` answers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from heron.llm.base import LLM, option_scorer
from heron.llm.types import Message

# Both spellings count: small models often put their mass on "yes" rather than "Yes".
YES_OPTIONS = ("Yes", "yes")
NO_OPTIONS = ("No", "no")


def yes_probability_from_logprobs(yes_logprobs: Sequence[float], no_logprobs: Sequence[float]) -> float:
    """P(yes) among the yes and no replies: ``sum exp(yes) / (sum exp(yes) + sum exp(no))``.

    >>> round(yes_probability_from_logprobs([math.log(0.3)], [math.log(0.1)]), 6)
    0.75
    """
    top = max(*yes_logprobs, *no_logprobs)
    yes = sum(math.exp(lp - top) for lp in yes_logprobs)
    no = sum(math.exp(lp - top) for lp in no_logprobs)
    return yes / (yes + no)


def ask_yes_no(llm: LLM, messages: Sequence[Message]) -> float:
    """The model's P(yes) as its reply to ``messages`` (UsageError from a backend that cannot score)."""
    logprobs = option_scorer(llm).score_options(messages, [*YES_OPTIONS, *NO_OPTIONS])
    return yes_probability_from_logprobs(logprobs[: len(YES_OPTIONS)], logprobs[len(YES_OPTIONS) :])
