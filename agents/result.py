"""What a run returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from heron.agents.state import PlanStep
from heron.llm.types import Usage
from heron.status import BUDGET_LIMITS, RunStatus, StoppedBy, describe


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
