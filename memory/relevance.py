"""Is a passage about what was searched for? The model says.

A search returns its nearest passages whether or not any of them is about the query: asked "What do
my notes say about penguins?" over notes on herons, the default model was handed eight passages on
herons and summarised them. So ``retrieve`` asks the run's model, passage by passage in rank order,
"Passage: ... Is this passage relevant to <query>? Answer Yes or No.", and reads the probabilities of
its replies. The model's Yes-bias for this query is measured on the three content-free passages of
contextual calibration ("N/A", "", "[MASK]"; :mod:`heron.llm.yes_no`) and divided out; a passage is
about the query when Yes is then at least as likely as No. No threshold is fitted.

The question comes after the passage: asked first ("Search: ... Passage: ... Is this passage about
what the search looks for?"), Qwen2.5-Coder-1.5B said Yes to nearly every passage, related or not.
"Relevant to", not "about": a search for the difference between two birds' wingspans finds passages
on one bird each, none of them about the difference, each relevant to it (BENCHMARKS.md, "Did the
search find anything?").

The first passage judged relevant ends the questions, so a search that finds something usually
costs the three short content-free prompts and one passage; only a search that finds nothing reads
all its passages. ``retrieve`` then returns no passage and says that nothing in the documents is
about the query, so the answer says so instead of summarising whatever was nearest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from heron.llm.base import LLM, ScoresOptions
from heron.llm.types import Message
from heron.llm.yes_no import CONTENT_FREE, ask_yes_no, calibrated, judges_reliably
from heron.memory.templates import render


@dataclass(frozen=True)
class Relevance:
    """The model's answer to "is this passage relevant to the query?"."""

    yes: float  # P(Yes) for the passage
    bias: float  # the mean P(Yes) for the content-free passages, for this search
    about: float  # P(Yes) with the bias divided out

    @property
    def relevant(self) -> bool:
        return self.about >= 0.5


def judges_relevance(setting: bool | None, llm: LLM | None) -> bool:
    """Whether searches are checked: as ``setting`` says, else when ``llm`` can score replies and is
    big enough to judge (:func:`heron.llm.yes_no.judges_reliably`); never without a model."""
    if llm is None or not isinstance(llm, ScoresOptions):
        return False
    return setting if setting is not None else judges_reliably(llm)


class QueryJudge:
    """The model's judgements for one query: its Yes-bias measured once, each passage asked once
    (a search that widens after a narrowing found nothing relevant sees some passages again)."""

    def __init__(self, llm: LLM, query: str) -> None:
        self.llm, self.query = llm, query
        self._bias: float | None = None
        self._judged: dict[str, Relevance] = {}

    @property
    def bias(self) -> float:
        if self._bias is None:
            self._bias = fmean(_yes_probability(self.llm, self.query, free) for free in CONTENT_FREE)
        return self._bias

    def judge(self, passage: str) -> Relevance:
        if passage not in self._judged:
            bias = self.bias  # measured before the first passage is asked
            yes = _yes_probability(self.llm, self.query, passage)
            self._judged[passage] = Relevance(yes=yes, bias=bias, about=calibrated(yes, bias))
        return self._judged[passage]

    def in_order(self, passages: Sequence[str]) -> list[Relevance]:
        """Each passage's judgement, in order, up to and including the first relevant one."""
        judged: list[Relevance] = []
        for text in passages:
            judged.append(self.judge(text))
            if judged[-1].relevant:
                break
        return judged

    def any_relevant(self, passages: Sequence[str]) -> bool:
        judged = self.in_order(passages)
        return bool(judged) and judged[-1].relevant


def _yes_probability(llm: LLM, query: str, passage: str) -> float:
    return ask_yes_no(llm, [Message.user(render("passage_check", query=query, passage=passage))])
