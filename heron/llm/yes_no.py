"""A model's answer to a yes/no question as a probability, read from the scores of its replies.

Used by the evals' judges (``heron.evals.judge``), the agent's first-call check
(``heron.agents.policies.first_call_check``) and retrieval's relevance check
(``heron.memory.relevance``); any backend with ``score_options`` answers.

A model's Yes carries a bias of its own: for one tool or one search, it says Yes at some rate
whatever the input. Contextual calibration (Zhao et al. 2021, "Calibrate Before Use") measures that
rate on the paper's three content-free inputs (``CONTENT_FREE``) and divides it out
(:func:`calibrated`); no threshold is fitted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from heron.llm.base import LLM, option_scorer
from heron.llm.types import Message

# Both spellings count: small models often put their mass on "yes" rather than "Yes".
YES_OPTIONS = ("Yes", "yes")
NO_OPTIONS = ("No", "no")
# inputs that say nothing: what the model answers for them is its bias (the three of the paper)
CONTENT_FREE = ("N/A", "", "[MASK]")
# SmolLM2-135M's yes/no was close to chance on the questions heron asks: judged from 1B weights up
JUDGE_MIN_PARAMETERS = 1_000_000_000


def yes_probability_from_logprobs(yes_logprobs: Sequence[float], no_logprobs: Sequence[float]) -> float:
    """P(yes) among the yes and no replies: ``sum exp(yes) / (sum exp(yes) + sum exp(no))``.

    >>> round(yes_probability_from_logprobs([math.log(0.3)], [math.log(0.1)]), 6)
    0.75
    """
    top = max(*yes_logprobs, *no_logprobs)
    yes = sum(math.exp(lp - top) for lp in yes_logprobs)
    no = sum(math.exp(lp - top) for lp in no_logprobs)
    return yes / (yes + no)


def calibrated(yes: float, bias: float) -> float:
    """P(Yes) once the model's Yes-rate on content-free inputs (``bias``) is divided out of both replies.

    >>> round(calibrated(0.6, 0.9), 3), round(calibrated(0.99, 0.9), 3), calibrated(0.9, 0.9)
    (0.143, 0.917, 0.5)
    """
    eps = 1e-6
    bias = min(max(bias, eps), 1 - eps)
    for_yes, for_no = yes / bias, (1 - yes) / (1 - bias)
    return for_yes / (for_yes + for_no)


def judges_reliably(llm: LLM) -> bool:
    """Whether heron asks ``llm`` its yes/no checks by default: a model of 1B weights or more whose
    size heron can read (a scripted model or a server has none)."""
    parameters = getattr(llm, "parameter_count", None)
    return parameters is not None and parameters >= JUDGE_MIN_PARAMETERS


def ask_yes_no(llm: LLM, messages: Sequence[Message]) -> float:
    """The model's P(yes) as its reply to ``messages`` (UsageError from a backend that cannot score)."""
    logprobs = option_scorer(llm).score_options(messages, [*YES_OPTIONS, *NO_OPTIONS])
    return yes_probability_from_logprobs(logprobs[: len(YES_OPTIONS)], logprobs[len(YES_OPTIONS) :])
