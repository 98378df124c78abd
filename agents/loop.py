"""The step loop: one grammar-constrained model turn, then the calls it made, until an answer.

How the turn is written (heron's generic JSON action or the model's own tool-call syntax) is the
turn format's (:mod:`heron.agents.turn_formats`); a turn may hold several calls, made as one batch.
The system prompt and tool list stay frozen at the front of the history and every turn only
appends, so llama.cpp reuses its KV cache from step to step. What changes per turn (budget left,
citable passage ids) goes into the newest message or the grammar, never into the prefix.
What a turn may do (``tool_choice``, a step's forced tool, grounding first, the turn policies of
:mod:`heron.agents.policies`) is :class:`~heron.agents.turn_offer.TurnOffer`'s; the calls themselves
are made by :class:`~heron.agents.tool_calls.ToolCaller`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from heron.agents.actions import (
    FINAL_ANSWER,
    ActionSpec,
    CallBatch,
    FinalAction,
    ToolCallAction,
    argument_bounds,
    batch_of,
    call_key,
    calls_of,
)
from heron.agents.approval import ApprovalCallback
from heron.agents.budget import BudgetTracker
from heron.agents.config import TOOL_CHOICE_MODES, AgentConfig, thought_chars
from heron.agents.policies.base import Allowed, TurnPolicy
from heron.agents.state import RunState
from heron.agents.templates import render
from heron.agents.tool_calls import ToolCaller
from heron.agents.turn_formats import GenericFormat, SetAside, TurnFormat, TurnRequest
from heron.agents.turn_offer import TurnOffer
from heron.errors import OutputTruncatedError, RunCancelledError
from heron.llm.base import LLM, ReportsLogprobs
from heron.llm.types import GenerationOptions, Message, RepetitionControl, Usage
from heron.status import StoppedBy
from heron.tools import Tool, ToolContext
from heron.tracing import HintEvent, ModelTurnEvent, RepeatSetAsideEvent, TokenEvent, Tracer

REPEAT_LIMIT = 3  # the third identical call ends the loop


def made_key(call: ToolCallAction) -> str:
    """A call's identity for repeat detection: its tool and arguments (:func:`call_key`)."""
    return call_key(call.tool, call.arguments)


class StepLoop:
    """Runs turns on a :class:`RunState` until the model gives the final action or a budget ends."""

    def __init__(
        self,
        llm: LLM,
        tools: Sequence[Tool],
        context: ToolContext,
        tracer: Tracer,
        tracker: BudgetTracker,
        config: AgentConfig,
        approve: ApprovalCallback,
        on_step: Callable[[RunState], None] | None = None,
        cancel: threading.Event | None = None,
        policies: Sequence[TurnPolicy] = (),
        turn_format: TurnFormat | None = None,
        caller_cancelled: Callable[[], bool] = lambda: False,
    ) -> None:
        self.llm = llm
        self.format = turn_format or GenericFormat()
        self.offer = TurnOffer(llm, tools, config, policies, tracer.emit)
        self.caller = ToolCaller(
            tools,
            context,
            tracer,
            config,
            approve,
            self.budget_text,
            lambda tokens: self.tracker.spend(tokens=tokens),
            lambda: max(0, self.tracker.budget.max_tokens - self.tracker.tokens),
            self.cancelled,
        )
        self.tracer = tracer
        self.tracker = tracker
        self.config = config
        self.on_step = on_step or (lambda state: None)
        self.cancel_requested = cancel or threading.Event()
        self.caller_cancelled = caller_cancelled  # a sub-agent's run: its caller's run was cancelled
        self.thought_chars = thought_chars(config, llm)

    def cancelled(self) -> bool:
        """Whether this run was cancelled (``Agent.cancel``), or the run whose tool call started it."""
        return self.cancel_requested.is_set() or self.caller_cancelled()

    def run(self, state: RunState, final: str = FINAL_ANSWER) -> tuple[FinalAction, StoppedBy]:
        """Turns until ``final`` (``final_answer`` or ``step_done``); checkpoints after every step."""
        self.finish_pending(state, final)
        while True:
            limit = self.tracker.exhausted()
            if limit is not None:
                return self.forced_final(state, final, limit), limit
            try:
                action = self.model_turn(state, final)
            except OutputTruncatedError:  # cut by the turn's token limit: tell the model, go on
                self.hint(state, render("agent_truncated", budget=self.budget_text()))
                self.finish_step(state)
                continue
            if isinstance(action, FinalAction):
                return action, "answer"
            fresh: list[tuple[ToolCallAction, int]] = []
            repeated: list[tuple[ToolCallAction, int]] = []
            calls = {made_key(c): c for c in calls_of(action)}
            for key, call in calls.items():  # (the same call twice in one turn is made once)
                state.call_counts[key] = state.call_counts.get(key, 0) + 1
                (repeated if state.call_counts[key] >= 2 else fresh).append((call, state.call_counts[key]))
            if fresh:
                self.caller.call_batch(state, [c for c, _ in fresh], self.finish_phrase(final), self.on_step)
            for call, _ in repeated[:1]:  # one hint names the first repeated call
                phrase = self.finish_phrase(final)
                self.hint(
                    state, render("agent_repeat", tool=call.tool, final=phrase, budget=self.budget_text())
                )
            if any(count >= REPEAT_LIMIT for _, count in repeated):
                return self.forced_final(state, final, "repeated_call"), "repeated_call"
            self.finish_step(state)

    def finish_pending(self, state: RunState, final: str = FINAL_ANSWER) -> None:
        """A run resumed in the middle of a turn's calls: make the calls that had not finished (the
        finished ones are not made again) and end that step."""
        if state.pending_calls:
            self.caller.finish_pending(state, self.finish_phrase(final), self.on_step)
            self.finish_step(state)

    def finish_phrase(self, final: str) -> str:
        """How hints tell the model to finish, in the turn format's words."""
        return self.format.finish_phrase(final)

    def decide(self, state: RunState) -> ToolCallAction | CallBatch | FinalAction:
        """One model turn under the usual grammar; the action is returned, not executed."""
        action: ToolCallAction | CallBatch | FinalAction = self.model_turn(state, FINAL_ANSWER)
        return action

    # -- one model turn ---------------------------------------------------------------------------

    def model_turn(
        self,
        state: RunState,
        final: str | None,
        *,
        tools: bool = True,
        only_tool: str | None = None,
        fixed_args: dict[str, Any] | None = None,
        set_aside: frozenset[str] = frozenset(),
    ) -> Any:
        """One turn: the actions it offers, the constrained decode, the parsed action. A turn whose
        calls the policies set aside is taken again without their tools (``set_aside``): the model
        answers or chooses among the others, and that choice is reviewed the same way."""
        if self.cancelled():  # no turn starts after a cancel (its prompt alone takes seconds)
            raise RunCancelledError("the run was cancelled")
        specs, final_kind = self.offer.offer(state, final, tools, only_tool, fixed_args or {}, set_aside)
        single = only_tool is not None or self.config.tool_choice not in TOOL_CHOICE_MODES
        max_calls = 1 if single else self.config.parallel_calls
        offered = Allowed(answer=final_kind is not None, tools=frozenset(s.name for s in specs))
        judge = None
        if offered.answer and specs and self.offer.judges_name(state, offered):
            # a policy may end the turn at its first call's name
            judge = lambda name: self.offer.judge_name(state, name, offered)  # noqa: E731
        action, string_chars = self._decode(state, specs, final_kind, final, max_calls, judge)
        if isinstance(action, FinalAction):
            return action
        if isinstance(action, SetAside):  # ended at the name: the model chooses again without that tool
            return self._set_aside(state, final, frozenset({action.tool}), set_aside)
        calls = calls_of(action)
        if specs and final_kind is not None and all(made_key(c) in state.call_counts for c in calls):
            # Only calls already made, whose results the model has: made again they could only repeat
            # them (a model that meant to answer often writes its answer as the repeat's thought).
            # Taken again without those tools, it answers or does something new.
            self.tracer.emit(
                RepeatSetAsideEvent(
                    run_id=state.run_id, step=state.step + 1, tools=sorted({c.tool for c in calls})
                )
            )
            return self._set_aside(state, final, frozenset(c.tool for c in calls), set_aside)
        reviewed = self.offer.review(state, calls, specs, offered, string_chars)
        if reviewed is None:  # set aside: the model chooses again as if it had not written the calls
            return self._set_aside(state, final, frozenset(c.tool for c in calls), set_aside)
        return batch_of(reviewed)

    def _set_aside(
        self, state: RunState, final: str | None, tools: frozenset[str], set_aside: frozenset[str]
    ) -> Any:
        """The turn taken again as if the model had not written it, without ``tools``."""
        state.messages.pop()
        excluded = frozenset(set_aside | tools)
        if excluded == set_aside:  # (a backend that ignores the grammar named a set-aside tool again)
            return self.model_turn(state, final, tools=False)
        return self.model_turn(state, final, set_aside=excluded)

    def _decode(
        self,
        state: RunState,
        specs: list[ActionSpec],
        final: str | None,
        answer_kind: str | None,
        max_calls: int,
        judge: Callable[[str], bool] | None = None,
    ) -> tuple[ToolCallAction | CallBatch | FinalAction | SetAside, int]:
        """The model's turn in the turn format, under the grammar of ``specs`` and ``final``, appended
        to the history and traced; with the string length bound its arguments were written under.
        ``answer_kind``: the run's final action (an answer is that, offered or not). ``judge``: asked
        with the first call's tool once its name is written (False ends the turn there: SetAside)."""
        min_citations = 1 if self.config.require_citations and state.passages else 0

        def request(shrink: int) -> TurnRequest:
            return TurnRequest(
                specs=specs,
                final=final,
                answer_kind=answer_kind or final or FINAL_ANSWER,
                citable_ids=list(state.passages),
                min_citations=min_citations,
                thought_chars=self.thought_chars // shrink,
                answer_chars=max(20, self.config.answer_chars // shrink),
                argument_chars=max(10, self.config.argument_chars // shrink),
                max_calls=max_calls,
                made_calls=frozenset(state.call_counts),
                judge_name=judge,
            )

        string_chars = max(10, self.config.argument_chars)
        stream = self.format.answer_stream()
        step = state.step + 1

        def on_text(delta: str) -> None:
            # the answer streams to callbacks as it is decoded; a callback may raise to cancel the turn
            if self.cancelled():
                raise RunCancelledError("the run was cancelled")
            text = stream.feed(delta)
            if text:
                self.tracer.emit(TokenEvent(run_id=state.run_id, step=step, text=text))

        options = GenerationOptions(
            max_tokens=self.config.turn_max_tokens,
            # the turn after a failed call is sampled: greedy decoding would make the same call again
            temperature=self.config.retry_temperature if state.last_call_failed else self.config.temperature,
            seed=state.step,
            on_text=on_text,
            repetition=self.repetition(specs),
            string_bounds=argument_bounds(specs, self.config.argument_chars),
            logprobs=self.config.token_logprobs,
        )
        started = time.perf_counter()
        try:
            turn = self.format.decode(self.llm, state.messages, request(1), options)
        except OutputTruncatedError as exc:
            # cut off by the token limit (a rambling string): once more, with twice the tokens and
            # strings a quarter as long, which fits even at one character per token
            self._spend_cut(state, step, exc, started)
            started = time.perf_counter()
            stream.reset()
            string_chars = max(10, self.config.argument_chars // 4)
            options = options.model_copy(
                update={
                    "max_tokens": options.max_tokens * 2,
                    "string_bounds": argument_bounds(specs, string_chars),
                }
            )
            try:
                turn = self.format.decode(self.llm, state.messages, request(4), options)
            except OutputTruncatedError as again:
                self._spend_cut(state, step, again, started)
                raise
        usage = turn.usage or self.llm.last_usage
        logprobs = self.llm.last_logprobs if isinstance(self.llm, ReportsLogprobs) else None
        state.messages.append(Message.assistant(turn.text))
        self._record(state, step, turn.text, usage, started, logprobs=logprobs)
        return turn.action, string_chars

    def _spend_cut(self, state: RunState, step: int, exc: OutputTruncatedError, started: float) -> None:
        """A decode the token limit cut: its tokens count against the budget like any other, and the
        trace shows what it wrote (else the seconds it took would show nowhere)."""
        self._record(state, step, exc.text, self.llm.last_usage, started, cut=True)

    def _record(
        self,
        state: RunState,
        step: int,
        output: str,
        usage: Usage,
        started: float,
        logprobs: Sequence[Any] | None = None,
        cut: bool = False,
    ) -> None:
        """One decode's tokens spent (against the budget) and its model_turn event traced."""
        state.usage = state.usage + usage
        spent = usage.completion_tokens  # generated tokens: independent of cache hits, so runs repeat
        state.tokens_spent += spent
        self.tracker.spend(tokens=spent)
        self.tracer.emit(
            ModelTurnEvent(
                run_id=state.run_id,
                step=step,
                output=output,
                prompt_tokens=usage.prompt_tokens,
                cached_prompt_tokens=usage.cached_prompt_tokens,
                completion_tokens=usage.completion_tokens,
                seconds=round(time.perf_counter() - started, 4),
                logprobs=[(t.token, round(t.logprob, 4)) for t in logprobs] if logprobs else None,
                cut=cut,
            )
        )

    def repetition(self, specs: Sequence[ActionSpec]) -> RepetitionControl | None:
        """The turn's repetition control: the configured one, leaving alone the arguments that the
        offered tools declare ``repeats_allowed`` (file text, code)."""
        control = self.config.repetition
        free = {name for spec in specs for name in spec.repeats_allowed}
        if control is None or free <= set(control.free_keys):
            return control
        return control.model_copy(update={"free_keys": tuple(sorted({*control.free_keys, *free}))})

    # -- the last turn ---------------------------------------------------------------------------

    def forced_final(self, state: RunState, final: str, limit: str) -> FinalAction:
        """The budget ended: one more turn whose grammar admits only the final action."""
        return self.answer_turn(state, final, render("agent_budget_end", limit=limit))

    def answer_turn(self, state: RunState, final: str, hint: str | None) -> FinalAction:
        """heron's ``hint`` (None: already given, a resumed run), then one turn whose grammar admits
        only the final action: no tool call can follow."""
        if hint is not None:
            self.hint(state, hint)
        try:
            action = self.model_turn(state, final, tools=False)
        except OutputTruncatedError as exc:  # even the answer ran past the turn's tokens: say so
            action = FinalAction(kind=final, answer=f"(no answer: {exc})")
            state.messages.append(Message.assistant(action.answer))
        assert isinstance(action, FinalAction)  # the grammar admits nothing else
        self.finish_step(state)
        return action

    # -- history -----------------------------------------------------------------------------------

    def hint(self, state: RunState, text: str) -> None:
        """A message of heron's to the model (a user turn), kept as an instruction and traced."""
        state.messages.append(Message.user(text))
        state.instructions.append(text)
        self.tracer.emit(HintEvent(run_id=state.run_id, step=state.step + 1, text=text))

    def finish_step(self, state: RunState) -> None:
        state.step += 1
        self.tracker.spend(steps=1)
        state.seconds_spent = self.tracker.seconds
        self.on_step(state)

    def budget_text(self) -> str:
        """The budget left, as heron tells the model at the end of each result."""
        return self.tracker.remaining_text(pending_steps=1)  # the step being finished counts as spent
