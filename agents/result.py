"""What a run returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from heron.agents.state import PlanStep
from heron.llm.types import Usage


class Citation(BaseModel):
    """A passage the answer cites: its id and where it came from."""

    id: str
    source: str = ""
    text: str = ""
    location: dict[str, Any] = Field(default_factory=dict)


class RunResult(BaseModel):
    """The outcome of ``Agent.run``. ``stopped_by`` is "answer" unless a budget or a repeat ended it."""

    run_id: str
    answer: str
    citations: list[Citation] = Field(default_factory=list)
    steps: int
    usage: Usage
    trace_path: Path | None
    stopped_by: str = "answer"
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    plan: list[PlanStep] = Field(default_factory=list)

    @property
    def budget_exhausted(self) -> bool:
        return self.stopped_by in ("max_steps", "max_tokens", "max_seconds")
