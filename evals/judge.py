"""The configured LLM as a yes/no judge: a continuous score from the log-probabilities of its answer."""

from __future__ import annotations

from typing import Any

from heron.evals.templates import render
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.llm.yes_no import NO_OPTIONS, YES_OPTIONS, ask_yes_no, yes_probability_from_logprobs

__all__ = ["NO_OPTIONS", "YES_OPTIONS", "yes_probability", "yes_probability_from_logprobs"]


def yes_probability(llm: LLM, template: str, **variables: Any) -> float:
    """Render the prompt template and return the judge's P(yes), read from option log-probabilities."""
    return ask_yes_no(llm, [Message.user(render(template, **variables))])
