"""Budgets of a run: steps, tokens, wall time. The model sees what is left; running out ends the loop."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from heron.config import AgentSettings

BudgetLimit = Literal["max_steps", "max_tokens", "max_seconds"]


# heron's note of the budget left, in parentheses at the end of every result it shows the model
BUDGET_NOTE = re.compile(r"\s*\(budget left: -?\d+ steps, \d+ tokens(?:, \d+ s)?\)")


class Budget(BaseModel):
    """Limits of one run. Defaults come from ``[agent]`` in heron.toml.

    ``max_steps`` counts the model turns that may call tools. When a limit is reached, one more turn,
    which may only answer, gives the answer; so a run stopped by ``max_steps`` reports
    ``max_steps + 1`` steps (``Budget(max_steps=1)``: one turn of calls, then the answer)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    max_steps: int = Field(12, ge=1)
    max_tokens: int = Field(20_000, ge=64, description="tokens the model may generate in the run")
    max_seconds: float = Field(600.0, gt=0)

    @classmethod
    def from_settings(cls, agent: AgentSettings) -> Budget:
        return cls(max_steps=agent.max_steps, max_tokens=agent.max_tokens, max_seconds=agent.max_seconds)


@dataclass
class BudgetTracker:
    """Counts what a run has spent; ``exhausted()`` names the first limit reached, if any."""

    budget: Budget
    steps: int = 0
    tokens: int = 0
    started: float = field(default_factory=time.monotonic)
    # seconds spent before this process (a resumed run carries its earlier time)
    earlier_seconds: float = 0.0

    @property
    def seconds(self) -> float:
        return self.earlier_seconds + time.monotonic() - self.started

    def spend(self, *, steps: int = 0, tokens: int = 0) -> None:
        self.steps += steps
        self.tokens += tokens

    def exhausted(self) -> BudgetLimit | None:
        if self.steps >= self.budget.max_steps:
            return "max_steps"
        if self.tokens >= self.budget.max_tokens:
            return "max_tokens"
        if self.seconds >= self.budget.max_seconds:
            return "max_seconds"
        return None

    def remaining_text(self, pending_steps: int = 0) -> str:
        """One line for the model, e.g. 'budget left: 3 steps, 1200 tokens'.

        Time is shown only once less than a quarter is left: the line is part of the prompt, and a
        clock in every message would make runs (and resumed runs) differ for no gain.
        ``pending_steps``: steps under way that count as spent.
        """
        steps = self.budget.max_steps - self.steps - pending_steps
        tokens = max(0, self.budget.max_tokens - self.tokens)
        text = f"budget left: {steps} steps, {tokens} tokens"
        seconds = max(0.0, self.budget.max_seconds - self.seconds)
        if seconds < self.budget.max_seconds / 4:
            text += f", {seconds:.0f} s"
        return text
