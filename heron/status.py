"""One vocabulary for how a run ended, used by the SDK result, the trace, the run store and the CLI.

``stopped_by`` says what ended the model's turns; ``status`` is the verdict a user reads:

- ``succeeded``: the model gave its own answer (and, for a task, every check passed);
- ``budget_exhausted``: a budget ended the run (``stopped_by`` names it: ``max_steps``,
  ``max_tokens`` or ``max_seconds``); shown as ``budget_exhausted (max_steps)``;
- ``repeated_call``: the model kept making the same tool call and was stopped;
- ``no_answer``: there is no answer of the model's own: its final text only repeated heron's own
  messages (instructions, a denied call's notice), or, where answers must cite, nothing relevant was
  retrieved or the answer cited only passages unrelated to the request and answer;
- ``checks_failed``: the model answered but a task's checks did not pass;
- ``error``: the run failed (model, tool or settings error; the message says which);
- ``cancelled``: the user stopped it.

Two more statuses exist only in the run store, for runs not finished: ``running`` and ``interrupted``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Literal

# Exit codes of `heron run` and every other command: 0 succeeded, 1 the run or command failed,
# 2 a usage error (bad arguments, settings, task file), 3 a budget ended the run.
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BUDGET = 0, 1, 2, 3

StoppedBy = Literal["answer", "max_steps", "max_tokens", "max_seconds", "repeated_call"]
BUDGET_LIMITS: tuple[StoppedBy, ...] = ("max_steps", "max_tokens", "max_seconds")
RunStatus = Literal[
    "succeeded", "budget_exhausted", "repeated_call", "no_answer", "checks_failed", "error", "cancelled"
]
StoredStatus = Literal[
    "running",
    "interrupted",
    "succeeded",
    "budget_exhausted",
    "repeated_call",
    "no_answer",
    "checks_failed",
    "error",
    "cancelled",
]
FINISHED: frozenset[str] = frozenset(
    {"succeeded", "budget_exhausted", "repeated_call", "no_answer", "checks_failed"}
)


def run_status(stopped_by: StoppedBy, answered: bool, checks_passed: bool = True) -> RunStatus:
    """The verdict for a run that ended without an exception."""
    if stopped_by in BUDGET_LIMITS:
        return "budget_exhausted"
    if stopped_by == "repeated_call":
        return "repeated_call"
    if not answered:
        return "no_answer"
    return "succeeded" if checks_passed else "checks_failed"


# what heron says under an answer that ends where its length limit cut it (RunResult.answer_cut)
CUT_NOTE = "(the answer reached its length limit and was cut off; AgentConfig.answer_chars sets the limit)"


def unsourced_note(numbers: Sequence[str]) -> str:
    """The line under an answer whose numbers nothing the model was shown holds (the request, a tool
    result, a passage): they are its own figures, which no tool checked; empty when there are none."""
    if not numbers:
        return ""
    shown = ", ".join(numbers[:6]) + (f" and {len(numbers) - 6} more" if len(numbers) > 6 else "")
    own = "figure" if len(numbers) == 1 else "figures"
    return f"(no tool result, document or the request shows {shown}: the model's own {own}, unchecked)"


def calls_in_doubt(failed: int, denied: int, separator: str = "; ") -> str:
    """What a run's status line adds about calls whose results its answer could not rest on: those
    that failed and those the approver did not approve (they did not run, whatever the answer says),
    each after ``separator``; empty when there are none."""
    parts = [f"{failed} failed call{'s' * (failed != 1)}"] if failed else []
    if denied:
        parts.append(f"{denied} call{'s' * (denied != 1)} not approved, not run")
    return "".join(separator + part for part in parts)


def describe(status: str, stopped_by: str = "") -> str:
    """``budget_exhausted (max_steps)``: the status, with the budget that ended it."""
    return f"{status} ({stopped_by})" if status == "budget_exhausted" and stopped_by else status


_WORD = re.compile(r"[a-z0-9]+")
ECHO_NGRAM = 4  # word sequences this long shared with heron's own messages count as echoed
ECHO_SHARE = 0.5  # an answer is an echo when at least this share of its sequences is heron's


def echoes_instructions(answer: str, instructions: Iterable[str]) -> bool:
    """True when ``answer`` is mostly a copy of heron's own messages to the model (stop messages,
    hints): at least half of its 4-word sequences occur in them, or it has no words at all.
    Answers shorter than four words ("42", "Paris") are the model's own."""
    words = _WORD.findall(answer.lower())
    if not words:
        return True
    if len(words) < ECHO_NGRAM:
        return False
    known: set[tuple[str, ...]] = set()
    for text in instructions:
        theirs = _WORD.findall(text.lower())
        known.update(tuple(theirs[i : i + ECHO_NGRAM]) for i in range(len(theirs) - ECHO_NGRAM + 1))
    grams = [tuple(words[i : i + ECHO_NGRAM]) for i in range(len(words) - ECHO_NGRAM + 1)]
    return sum(g in known for g in grams) / len(grams) >= ECHO_SHARE
