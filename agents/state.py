"""The resumable state of a run: everything needed to continue after a crash, as one pydantic model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from heron.llm.types import Message, Usage


class PlanStep(BaseModel):
    """One step of a plan. With ``tool`` set, the step's first turn must call that tool (its grammar
    admits nothing else), so a workflow runs in order even on a small model that only fills arguments."""

    do: str
    tool: str | None = None
    args: dict[str, Any] = Field(
        default_factory=dict, description="arguments fixed for the step's tool call; the model fills the rest"
    )


class PendingCall(BaseModel):
    """A call of the turn being carried out. Its tool message is kept here once it finishes, so a
    run resumed in the middle of a batch makes only the calls that had not finished."""

    call_id: str
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    cut: list[str] = Field(default_factory=list)  # string arguments the length bound cut off
    message: str | None = None  # the tool message, once the call finished (or was refused)
    failed: bool = False
    edited: bool = False  # the user changed its arguments at approval: the model is told what ran
    edits: dict[str, Any] = Field(default_factory=dict)  # the values the user changed (long ones cut)


class RunState(BaseModel):
    """Checkpointed after every finished step. A resumed run continues from here and never repeats
    a tool call recorded in ``messages``."""

    run_id: str
    goal: str
    messages: list[Message] = Field(default_factory=list)
    request_start: int = 0  # where the current request's messages begin (a chat's latest message)
    step: int = 0
    plan: list[PlanStep] = Field(default_factory=list)
    plan_index: int = 0
    step_started: bool = False  # the current plan step's instruction is in the history
    plan_stopped_at: int | None = None  # a given plan's step whose tries all failed: the plan ended there
    step_notes: list[str] = Field(default_factory=list)  # the model's notes after plan steps (their text)
    step_calls: int = 0  # tool calls made in the current plan step
    plan_revision: int = 0
    step_results: list[str] = Field(default_factory=list)
    passages: dict[str, dict[str, Any]] = Field(default_factory=dict)  # citable id -> passage
    searches: int = 0  # finished calls of tools that cite (retrieve), whether or not they found anything
    call_counts: dict[str, int] = Field(default_factory=dict)  # repeated-call detection
    last_call_failed: bool = False  # the last tool call's result was an error
    # calls that failed, were cut or named no tool (a plan step that adds some is re-planned)
    tool_errors: int = 0
    denied_calls: int = 0  # risky calls the approver did not approve (they did not run)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    tokens_spent: int = 0
    seconds_spent: float = 0.0
    finished: bool = False
    instructions: list[str] = Field(default_factory=list)  # heron's own messages to the model (hints)
    tool_format: str = ""  # the turn format the run's system prompt was written for ("" before the first)
    pending_calls: list[PendingCall] = Field(default_factory=list)  # the turn's calls, while they run
