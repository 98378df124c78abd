"""Running a run's plan step by step on the step loop; re-planning after a failed step.

A step that names a tool calls that tool (the model fills the arguments) until a call succeeds; a
step without one is a free loop that ends with ``step_done`` (the last such step: the answer).
Everything it needs is in :class:`~heron.agents.state.RunState`, so a resumed run continues at the
step it was in and never repeats a finished call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from heron.agents.actions import FINAL_ANSWER, STEP_DONE, FinalAction, ToolCallAction
from heron.agents.budget import BUDGET_NOTE
from heron.agents.config import STEP_RECORD_CHARS, AgentConfig
from heron.agents.loop import StepLoop
from heron.agents.planner import make_plan
from heron.agents.state import PlanStep, RunState
from heron.agents.templates import render
from heron.errors import OutputTruncatedError, UsageError
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.status import StoppedBy
from heron.tools import Tool
from heron.tracing import NoteSetAsideEvent, PlanEvent, Tracer

# a tool step's result up to this long is the step's result as it is; a longer one is first written
# down by the model (``AgentConfig.step_notes``): the length a step's record keeps (a benchmark may
# set it apart: ``bench_agents_tasks.py --note-after-chars``)
NOTE_AFTER_CHARS = STEP_RECORD_CHARS


class PlanExecution:
    """Runs ``state`` to its end: one free loop, or the plan's steps (made first when asked for)."""

    def __init__(self, llm: LLM, tools: Sequence[Tool], config: AgentConfig) -> None:
        self.llm = llm
        self.tools = list(tools)
        self.config = config

    def execute(self, state: RunState, loop: StepLoop, tracer: Tracer) -> tuple[FinalAction, StoppedBy]:
        loop.finish_pending(state)  # resumed in the middle of a turn's calls: the rest of them first
        if self.config.planning == "never" and not state.plan:
            return loop.run(state, FINAL_ANSWER)
        if not state.plan:
            state.plan = make_plan(self.llm, state.goal, self.tools, self.config.max_plan_steps)
            emit_plan(tracer, state)
        elif state.plan_index == 0 and state.step == 0:
            emit_plan(tracer, state, reason="given by the caller")
        while state.plan_index < len(state.plan):
            outcome = self._run_step(state, loop, tracer)
            if outcome is not None:
                return outcome
        if state.plan_stopped_at is not None:  # (resumed in the answer after a failed step)
            return loop.answer_turn(state, FINAL_ANSWER, None), "answer"
        # every step was a tool step: the model now answers from what they found
        done = render("agent_plan_done", final=loop.finish_phrase(FINAL_ANSWER))
        state.messages.append(Message.user(done))
        state.instructions.append(done)
        return loop.run(state, FINAL_ANSWER)

    def _run_step(
        self, state: RunState, loop: StepLoop, tracer: Tracer
    ) -> tuple[FinalAction, StoppedBy] | None:
        """Run the current plan step; returns the run's end (final answer or budget), else None.

        A step that names a tool calls that tool until a call succeeds, at most ``config.step_tries``
        calls; the step's result is the model's note of what a long result held (``config.step_notes``),
        else the last call's result.
        """
        index, total = state.plan_index, len(state.plan)
        current = state.plan[index]
        last = index == total - 1 and current.tool is None
        if not state.step_started:
            words = {
                "number": index + 1,
                "total": total,
                "last": last,
                "final": loop.finish_phrase(FINAL_ANSWER),
                "step_done": STEP_DONE,
                "native": loop.format.key != "generic",
                "tool": current.tool,
            }
            state.messages.append(Message.user(render("agent_step", step=current.do, **words)))
            # the step's text is the caller's, not heron's: an answer that says what the step asked
            # for ("Say that the ledger is done." -> "The ledger is done.") is the model's own
            state.instructions.append(render("agent_step", step="", **words))
            state.step_started, state.step_calls = True, 0
        if current.tool is not None:
            # a failed call is made again until one succeeds or the step's tries are spent; the
            # retry sees the error, not the failed call (see set_aside_failed_call); on resume, a
            # checkpointed call is not made again
            while state.step_calls == 0 or (
                state.last_call_failed and state.step_calls < self.config.step_tries
            ):
                if state.step_calls:
                    set_aside_failed_call(loop, state, current.tool, self.config.step_tries)
                if self._tool_step(loop, state, current.tool, current.args) is None:
                    limit = loop.tracker.exhausted() or "max_steps"
                    return loop.forced_final(state, FINAL_ANSWER, limit), limit
            if state.last_call_failed and self.config.planning != "always":
                return self._stop_plan(state, loop, current.tool)
            result = next((m.content for m in reversed(state.messages) if m.role == "tool"), "")
            # the step's note: what a long result holds that the task needs, in the model's words (not
            # on resume after the note); a short result is kept whole as the step's result
            if (
                self.config.step_notes
                and not state.last_call_failed
                and state.messages[-1].role == "tool"
                and len(result) > NOTE_AFTER_CHARS
            ):
                note = self._note_step(loop, state)
                result = note.answer if note is not None else result
        else:
            final, stopped_by = loop.run(state, FINAL_ANSWER if last else STEP_DONE)
            if last or stopped_by not in ("answer", "repeated_call"):
                return final, stopped_by
            result = final.answer
        state.step_results.append(f"{current.do} -> {result[:STEP_RECORD_CHARS]}")
        state.plan_index += 1
        state.step_started = False
        if state.last_call_failed and self.config.planning == "always":
            self._replan(state, tracer)
        return None

    def _stop_plan(self, state: RunState, loop: StepLoop, tool: str) -> tuple[FinalAction, StoppedBy]:
        """Every try of the current step failed: the steps after it were written to use its result (a
        report of a total never computed), so the plan ends here and the model answers, in a turn that
        admits only the answer, with what was done. (``planning="always"`` re-plans instead.)"""
        index, total = state.plan_index, len(state.plan)
        words = {"number": index + 1, "total": total, "tries": state.step_calls, "tool": tool}
        told = render("agent_step_failed", final=loop.finish_phrase(FINAL_ANSWER), **words)
        state.step_results.append(f"{state.plan[index].do} -> failed")
        state.plan_stopped_at, state.plan_index, state.step_started = index, total, False
        # an answer only: a model that called the next step's tool anyway would write what the failed
        # step never produced
        return loop.answer_turn(state, FINAL_ANSWER, told), "answer"

    def _tool_step(
        self, loop: StepLoop, state: RunState, tool: str, fixed_args: dict[str, Any]
    ) -> str | None:
        """One call of ``tool`` (its grammar pins ``fixed_args``; the model fills the rest).

        Returns the result text, or None when a budget ended first. Output cut by the token limit is
        retried twice.
        """
        for _attempt in range(3):
            if loop.tracker.exhausted() is not None:
                return None
            try:
                action = loop.model_turn(state, None, only_tool=tool, fixed_args=fixed_args)
            except OutputTruncatedError:
                loop.hint(state, render("agent_truncated", budget=loop.budget_text()))
                loop.finish_step(state)
                continue
            assert isinstance(action, ToolCallAction)  # the grammar admits only this tool
            phrase = loop.finish_phrase(FINAL_ANSWER)
            loop.caller.call(state, action.tool, action.arguments, phrase, action.cut, loop.on_step)
            loop.finish_step(state)
            return state.messages[-1].content
        return None

    def _note_step(self, loop: StepLoop, state: RunState) -> FinalAction | None:
        """One turn after a plan step's successful call: the model writes down what the step found
        (``step_done`` with the facts and their passages). None when a budget ended or the note ran
        past the turn's tokens or to its length limit: the raw result then stands as the step's
        result. A note that long copies the result again or loops, restating its lines with other
        numbers (the default model, in `make demo`, wrote a 90 cm wingspan no passage gives, and its
        next step's code repeated the note's numbers for a thousand tokens), so it is taken out of the
        conversation with the request for it: later turns see the tool's result, not the note."""
        if loop.tracker.exhausted() is not None:
            return None
        asked = len(state.messages)
        loop.hint(state, render("agent_step_note", step_done=STEP_DONE, native=loop.format.key != "generic"))
        try:
            action = loop.model_turn(state, STEP_DONE, tools=False)
        except OutputTruncatedError:  # ran past the turn's tokens (the trace shows it): the raw result stands
            del state.messages[asked:]
            action = None
        if isinstance(action, FinalAction) and action.cut:
            loop.tracer.emit(
                NoteSetAsideEvent(run_id=state.run_id, step=state.step + 1, chars=len(action.answer))
            )
            del state.messages[asked:]
            action = None
        elif action is not None and state.messages[-1].role == "assistant":
            state.step_notes.append(state.messages[-1].content)  # a copy of the results, not a use of them
        loop.finish_step(state)
        return action if isinstance(action, FinalAction) else None  # (None: a backend without grammars)

    def _replan(self, state: RunState, tracer: Tracer) -> None:
        """A step hit errors: plan the remaining steps again from what is known now."""
        remaining = make_plan(
            self.llm, state.goal, self.tools, self.config.max_plan_steps, progress=state.step_results
        )
        state.plan = state.plan[: state.plan_index] + remaining
        state.plan_revision += 1
        emit_plan(tracer, state, reason="a step failed")


def emit_plan(tracer: Tracer, state: RunState, reason: str = "") -> None:
    tracer.emit(
        PlanEvent(
            run_id=state.run_id,
            step=state.step,
            steps=[p.do for p in state.plan],
            tools=[p.tool for p in state.plan],
            revision=state.plan_revision,
            reason=reason,
        )
    )


def checked_step(step: PlanStep | str | dict[str, Any], tools: Sequence[Tool]) -> PlanStep:
    """A plan step checked against ``tools`` (UsageError if it names what is not there)."""
    step = PlanStep(do=step) if isinstance(step, str) else PlanStep.model_validate(step)
    by_name = {t.name: t for t in tools}
    if step.args and step.tool is None:
        raise UsageError(
            f"plan step {step.do!r} fixes arguments but names no tool", "add `tool:` to the step"
        )
    if step.tool is None:
        return step
    if step.tool not in by_name:
        raise UsageError(
            f"plan step {step.do!r} names the tool {step.tool!r}, which this agent does not have",
            f"use one of: {', '.join(by_name)}",
        )
    known = set(by_name[step.tool].json_schema().get("properties", {}))
    unknown = sorted(set(step.args) - known)
    if unknown:
        raise UsageError(
            f"plan step {step.do!r} fixes {unknown}, which {step.tool} does not take",
            f"{step.tool} takes: {', '.join(sorted(known))}",
        )
    return step


def set_aside_failed_call(loop: StepLoop, state: RunState, tool: str, tries: int) -> None:
    """Before a plan step's next try: replace the failed call and its result at the end of the
    history by a note that keeps only the error. A model that sees its own failed call copies
    it, even when sampled; a note with the error makes it write a new one."""
    call, result = state.messages[-2:]
    if call.role != "assistant" or result.role != "tool":
        return  # already set aside (a resumed run) or nothing to set aside
    error = BUDGET_NOTE.sub("", result.content).strip()
    if len(error) > loop.config.result_chars:
        error = error[: loop.config.result_chars] + " ..."
    del state.messages[-2:]
    loop.hint(
        state,
        render("agent_step_retry", tool=tool, tried=state.step_calls, tries=tries, error=error),
    )
