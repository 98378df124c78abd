"""What a run returns, and how its final action is judged: an answer of the model's own, and
which passages it cites."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from heron.agents.actions import FinalAction
from heron.agents.provenance import sources_of_numbers
from heron.agents.state import PlanStep, RunState
from heron.llm.types import Usage
from heron.status import BUDGET_LIMITS, RunStatus, StoppedBy, describe, echoes_instructions


class Citation(BaseModel):
    """A passage the answer cites: its id and where it came from."""

    id: str
    source: str = ""
    text: str = ""
    location: dict[str, Any] = Field(default_factory=dict)


class RunResult(BaseModel):
    """The outcome of ``Agent.run``.

    ``status`` is the verdict (``succeeded`` only when the model gave its own answer; see
    :mod:`heron.status`), ``stopped_by`` what ended the turns ("answer", a budget, "repeated_call").
    ``answer`` is empty and ``answered`` False when the model produced no answer of its own.
    """

    run_id: str
    answer: str
    status: RunStatus = "succeeded"
    answered: bool = True
    note: str = ""  # why there is no answer, when there is none
    citations: list[Citation] = Field(default_factory=list)
    steps: int
    usage: Usage
    trace_path: Path | None
    stopped_by: StoppedBy = "answer"
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    plan: list[PlanStep] = Field(default_factory=list)

    @property
    def budget_exhausted(self) -> bool:
        return self.stopped_by in BUDGET_LIMITS

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def describe_status(self) -> str:
        """``budget_exhausted (max_steps)``, ``succeeded``, ...: the status as the CLI prints it."""
        return describe(self.status, self.stopped_by)


def answer_verdict(state: RunState, final: FinalAction, require_citations: bool) -> tuple[bool, str]:
    """Whether the final text is an answer of the model's own, and if not, why."""
    if echoes_instructions(final.answer, [state.messages[0].content, *state.instructions]):
        return False, "the model only repeated heron's instructions"
    if require_citations and not final.citations:
        return False, "nothing citable was retrieved, and answers must cite (require_citations)"
    return True, ""


def cited_passages(state: RunState, final: FinalAction) -> list[Citation]:
    """The answer's citations, each once: the passages the run's numbers came from (see
    heron.agents.provenance), then the ones the model chose."""
    traced = sources_of_numbers(state.messages, state.passages, state.goal) if state.passages else []
    return [_citation(state, cid) for cid in dict.fromkeys([*traced, *final.citations])]


def _citation(state: RunState, cid: str) -> Citation:
    passage = state.passages.get(cid, {})
    location = {k: v for k, v in passage.items() if k not in ("id", "source", "text")}
    return Citation(
        id=cid, source=str(passage.get("source", "")), text=str(passage.get("text", "")), location=location
    )
