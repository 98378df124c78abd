"""What a run returns, and how its final action is judged: an answer of the model's own, and
which passages it cites."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from heron.agents.actions import FinalAction
from heron.agents.budget import BUDGET_NOTE
from heron.agents.provenance import (
    references_moved_to_citations,
    sharing_words,
    shown_in,
    sources_of_numbers,
    sources_of_words,
    unsourced_numbers,
)
from heron.agents.state import PlanStep, RunState
from heron.errors import RunCancelledError
from heron.llm.types import Usage
from heron.status import BUDGET_LIMITS, RunStatus, StoppedBy, describe, echoes_instructions, run_status
from heron.tracing import AnswerEvent, RunFinishedEvent, Tracer


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
    ``answer_cut``: the answer reached its length limit (``AgentConfig.answer_chars``) and ends where
    the limit cut it. ``failed_calls``: the request's tool calls that ended in an error (a call the
    user denied is not one); an answer given after one may rest on what the model assumed instead of
    what the tool would have said. ``denied_calls``: the request's calls the approver did not approve;
    they did not run, whatever the answer says (the model's answer after a refused ``write_file`` has
    said that the file now holds the text). ``unsourced_numbers``: the answer's numbers that neither the
    request nor any tool result or passage shows, as written or rounded (see
    :func:`heron.agents.provenance.unsourced_numbers`): the model's own figures, from its memory or
    its own arithmetic, which no tool checked.
    """

    run_id: str
    answer: str
    status: RunStatus = "succeeded"
    answered: bool = True
    note: str = ""  # why there is no answer, when there is none
    answer_cut: bool = False
    citations: list[Citation] = Field(default_factory=list)
    steps: int
    usage: Usage
    trace_path: Path | None
    stopped_by: StoppedBy = "answer"
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    plan: list[PlanStep] = Field(default_factory=list)
    failed_calls: int = 0
    denied_calls: int = 0
    unsourced_numbers: list[str] = Field(default_factory=list)

    @property
    def budget_exhausted(self) -> bool:
        return self.stopped_by in BUDGET_LIMITS

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"

    def describe_status(self) -> str:
        """``budget_exhausted (max_steps)``, ``succeeded``, ...: the status as the CLI prints it."""
        return describe(self.status, self.stopped_by)


def answer_verdict(
    state: RunState, final: FinalAction, require_citations: bool, cited: list[Citation]
) -> tuple[bool, str]:
    """Whether the final text is an answer of the model's own, and if not, why. ``cited``: the
    passages it cites once traced (:func:`cited_passages`)."""
    if not final.answer.strip():
        return False, "the model's answer was empty"
    if echoes_instructions(final.answer, [state.messages[0].content, *state.instructions]):
        return False, "the model only repeated heron's instructions"
    if require_citations and not final.citations:
        if state.searches and not state.passages:
            return False, "nothing relevant was found in memory, and answers must cite (require_citations)"
        return False, "nothing citable was retrieved, and answers must cite (require_citations)"
    if require_citations and not cited:  # it cited only passages unrelated to it
        return False, "the answer cites no passage related to the request or the answer (require_citations)"
    return True, ""


def cited_passages(state: RunState, final: FinalAction) -> list[Citation]:
    """The answer's citations, each once: the passages its facts came from, traced from the numbers
    of this request's turns and the answer's words (see heron.agents.provenance; in a chat, an
    earlier message's answer does not count); when nothing traces, the ones the model chose that
    share a word or number with the request or the answer."""
    cited = list(dict.fromkeys(final.citations))
    if state.passages:
        numbers = sources_of_numbers(
            state.messages, state.passages, state.goal, since=state.request_start, copies=state.step_notes
        )
        recent = shown_in(state.messages[state.request_start :], state.passages)
        words = sources_of_words(final.answer, recent, state.goal)
        traced = list(dict.fromkeys([*numbers, *words]))
        cited = traced or sharing_words(cited, state.passages, state.goal, final.answer)
    return [_citation(state, cid) for cid in cited]


def _citation(state: RunState, cid: str) -> Citation:
    passage = state.passages.get(cid, {})
    location = {k: v for k, v in passage.items() if k not in ("id", "source", "text")}
    return Citation(
        id=cid, source=str(passage.get("source", "")), text=str(passage.get("text", "")), location=location
    )


def conclude_run(
    state: RunState,
    final: FinalAction,
    stopped_by: StoppedBy,
    tracer: Tracer,
    *,
    require_citations: bool,
    checks: Callable[[RunResult], bool] | None,
    started: float,
) -> RunResult:
    """The result of a run whose turns ended with ``final``: the verdict on the answer, its
    citations, the task's ``checks`` on it, and the answer and end events in the trace."""
    text, referenced = references_moved_to_citations(final.answer, state.messages, state.passages)
    if referenced:  # heron's "[id] label" lines in the answer: citations, not the model's words
        final = final.model_copy(update={"answer": text, "citations": [*final.citations, *referenced]})
    cited = cited_passages(state, final)
    answered, note = answer_verdict(state, final, require_citations, cited)
    cited = cited if answered else []
    # what the model was shown: the conversation's messages and tool results, and in a chat the
    # answers to earlier messages (flagged there if they were the model's own); heron's budget note
    # taken out (a figure copied from it is no fact)
    shown = [
        BUDGET_NOTE.sub("", m.content)
        for index, m in enumerate(state.messages)
        if m.role != "assistant" or index < state.request_start
    ]
    unsourced = unsourced_numbers(final.answer, shown) if answered else []
    result = RunResult(
        run_id=state.run_id,
        answer=final.answer if answered else "",
        answered=answered,
        note=note,
        answer_cut=answered and final.cut,
        status=run_status(stopped_by, answered),
        citations=cited,
        steps=state.step,
        usage=state.usage,
        trace_path=tracer.path,
        stopped_by=stopped_by,
        artifacts=state.artifacts,
        plan=state.plan,
        failed_calls=state.tool_errors,
        denied_calls=state.denied_calls,
        unsourced_numbers=unsourced,
    )
    tracer.emit(
        AnswerEvent(
            run_id=state.run_id,
            # the number of the turn that wrote it, as its model turn event has it: a run's steps
            # count its tool turns, and the turn forced by a budget or repeats counts as one
            step=state.step + (stopped_by == "answer"),
            text=result.answer,
            citations=[c.id for c in cited],
            stopped_by=stopped_by,
            answered=answered,
            note=note,
            cut=result.answer_cut,
            unsourced=unsourced,
            retrieved=list(state.passages.values()),
        )
    )
    if checks is not None and result.status == "succeeded":
        result.status = run_status(stopped_by, answered, checks_passed=checks(result))
    tracer.emit(
        RunFinishedEvent(
            run_id=state.run_id,
            step=state.step,
            status=result.status,
            stopped_by=stopped_by,
            usage=state.usage.model_dump(),
            seconds=time.perf_counter() - started,
            failed_calls=state.tool_errors,
            denied_calls=state.denied_calls,
        )
    )
    return result


def ended_by_error(state: RunState, exc: BaseException, seconds: float) -> RunFinishedEvent:
    """The end event of a run an exception stopped: ``cancelled`` or ``error``, naming it."""
    return RunFinishedEvent(
        run_id=state.run_id,
        step=state.step,
        status="cancelled" if isinstance(exc, RunCancelledError) else "error",
        usage=state.usage.model_dump(),
        seconds=seconds,
        error=f"{type(exc).__name__}: {exc}",
        failed_calls=state.tool_errors,
        denied_calls=state.denied_calls,
    )
