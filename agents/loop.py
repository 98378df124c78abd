"""The step loop: one grammar-constrained model turn, then the calls it made, until an answer.

How the turn is written (heron's generic JSON action or the model's own tool-call syntax) is the
turn format's (:mod:`heron.agents.turn_formats`); a turn may hold several calls, made as one batch.
The system prompt and tool list stay frozen at the front of the history and every turn only
appends, so llama.cpp reuses its KV cache from step to step. What changes per turn (budget left,
citable passage ids) goes into the newest message or the grammar, never into the prefix.
Optional rules that shape a turn (which actions it may take, which arguments a tool offers, a
look at the call before it runs) are turn policies (:mod:`heron.agents.policies`); the calls
themselves are made by :class:`~heron.agents.tool_calls.ToolCaller`.
"""

from __future__ import annotations

import json
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
    batch_of,
    calls_of,
    cut_strings,
    pinned,
)
from heron.agents.approval import ApprovalCallback
from heron.agents.budget import BudgetTracker
from heron.agents.config import TOOL_CHOICE_MODES, AgentConfig, thought_chars
from heron.agents.policies.base import Allowed, Turn, TurnPolicy
from heron.agents.state import RunState
from heron.agents.templates import render
from heron.agents.tool_calls import ToolCaller
from heron.agents.turn_formats import GenericFormat, TurnFormat, TurnRequest
from heron.errors import OutputTruncatedError, RunCancelledError
from heron.llm.base import LLM
from heron.llm.types import GenerationOptions, Message
from heron.status import StoppedBy
from heron.tools import Tool, ToolContext
from heron.tracing import HintEvent, ModelTurnEvent, TokenEvent, Tracer

REPEAT_LIMIT = 3  # the third identical call ends the loop


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
    ) -> None:
        self.llm = llm
        self.format = turn_format or GenericFormat()
        self.tools = {t.name: t for t in tools}
        self.policies = tuple(policies)
        self.caller = ToolCaller(
            tools,
            context,
            tracer,
            config,
            approve,
            self.budget_text,
            lambda tokens: self.tracker.spend(tokens=tokens),
            lambda: max(0, self.tracker.budget.max_tokens - self.tracker.tokens),
        )
        self.tracer = tracer
        self.tracker = tracker
        self.config = config
        self.on_step = on_step or (lambda state: None)
        self.cancel_requested = cancel or threading.Event()
        self.thought_chars = thought_chars(config, llm)
        self._specs: tuple[str, list[ActionSpec]] | None = None  # the request they were made for

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
            calls = {json.dumps([c.tool, c.arguments], sort_keys=True): c for c in calls_of(action)}
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
    ) -> Any:
        """One turn: the actions it offers, the constrained decode, the parsed action; a tool call
        the policies set aside is replaced by a turn that may only answer."""
        specs, final_kind = self._offer(state, final, tools, only_tool, fixed_args or {})
        single = only_tool is not None or self.config.tool_choice not in TOOL_CHOICE_MODES
        max_calls = 1 if single else self.config.parallel_calls
        action, string_chars = self._decode(state, specs, final_kind, final, max_calls)
        if isinstance(action, FinalAction):
            return action
        offered = Allowed(answer=final_kind is not None, tools=frozenset(s.name for s in specs))
        turn = self._turn(state, offered, batch=tuple(calls_of(action)))
        reviewed_calls = []
        for call in calls_of(action):
            spec = next((s for s in specs if s.name == call.tool), None)
            if spec is not None:  # (a grammar-less backend may name none)
                call.cut = cut_strings(call.arguments, spec.parameters, string_chars)
            for policy in self.policies:
                reviewed = policy.review(call, turn)
                if reviewed is None and offered.answer:
                    # set aside (any call of the turn): the model answers as if it had not written them
                    state.messages.pop()
                    return self.model_turn(state, final, tools=False)
                call = reviewed or call
            reviewed_calls.append(call)
        return batch_of(reviewed_calls)

    def _offer(
        self,
        state: RunState,
        final: str | None,
        tools: bool,
        only_tool: str | None,
        fixed_args: dict[str, Any],
    ) -> tuple[list[ActionSpec], str | None]:
        """The tools (as action specs) and the final action this turn's grammar admits: from
        ``tool_choice`` or the step's forced tool, the policies (on a turn where the model chooses),
        and grounding first while answers must cite and nothing is citable yet."""
        if not tools:
            return [], final
        # grounding first: while answers must cite and nothing is citable, the answer waits
        must_cite_first = final == FINAL_ANSWER and self.config.require_citations and not state.passages
        final = None if must_cite_first else final
        specs = self._specs_for(state.goal)
        choice = only_tool or self.config.tool_choice
        if choice == "none":
            specs = []
        elif choice == "required":
            final = None
        elif choice != "auto":
            specs = [pinned(s, fixed_args) if fixed_args else s for s in specs if s.name == choice]
            final = None
        else:
            allowed = self._allowed(state, Allowed(answer=final is not None))
            specs = [s for s in specs if allowed.admits(s.name)]
            final = final if allowed.answer else None
        if must_cite_first and only_tool is None:  # ... and only the tools that return citations
            specs = [s for s in specs if self.tools[s.name].cites] or specs
        if not specs and final is None:  # no tool could be offered: the answer is the only way out
            final = FINAL_ANSWER
        return specs, final

    def _allowed(self, state: RunState, offered: Allowed) -> Allowed:
        """What the policies let a turn in which the model chooses take."""
        allowed = offered
        turn = self._turn(state, offered)
        for policy in self.policies:
            restriction = policy.allowed(turn)
            if restriction is not None:
                allowed = allowed.intersect(restriction)
        return allowed

    def _turn(self, state: RunState, offered: Allowed, batch: tuple[ToolCallAction, ...] = ()) -> Turn:
        return Turn(
            run_id=state.run_id,
            request=state.goal,
            step=state.step,
            first=state.step == 0 and not state.plan,
            offered=offered,
            llm=self.llm,
            tools=self.tools,
            emit=self.tracer.emit,
            batch=batch,
        )

    def _specs_for(self, request: str) -> list[ActionSpec]:
        """The tools' action specs, their argument schemas as the policies offer them for ``request``."""
        if self._specs is None or self._specs[0] != request:
            specs = []
            for tool in self.tools.values():
                schema = tool.json_schema()
                for policy in self.policies:
                    schema = policy.arguments_schema(tool, schema, request)
                specs.append(ActionSpec(tool.name, tool.description, schema, tool.think))
            self._specs = (request, specs)
        return self._specs[1]

    def _decode(
        self,
        state: RunState,
        specs: list[ActionSpec],
        final: str | None,
        answer_kind: str | None,
        max_calls: int,
    ) -> tuple[ToolCallAction | CallBatch | FinalAction, int]:
        """The model's turn in the turn format, under the grammar of ``specs`` and ``final``, appended
        to the history and traced; with the string length bound its arguments were written under.
        ``answer_kind``: the run's final action (an answer is that, offered or not)."""
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
            )

        string_chars = max(10, self.config.argument_chars)
        stream = self.format.answer_stream()
        step = state.step + 1

        def on_text(delta: str) -> None:
            # the answer streams to callbacks as it is decoded; a callback may raise to cancel the turn
            if self.cancel_requested.is_set():
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
            repetition=self.config.repetition,
        )
        started = time.perf_counter()
        try:
            turn = self.format.decode(self.llm, state.messages, request(1), options)
        except OutputTruncatedError:
            # cut off by the token limit (a rambling string): once more, with twice the tokens and
            # strings a quarter as long, which fits even at one character per token
            stream.reset()
            options = options.model_copy(update={"max_tokens": options.max_tokens * 2})
            turn = self.format.decode(self.llm, state.messages, request(4), options)
            string_chars = max(10, self.config.argument_chars // 4)
        usage = self.llm.last_usage
        state.messages.append(Message.assistant(turn.text))
        state.usage = state.usage + usage
        spent = usage.completion_tokens  # generated tokens: independent of cache hits, so runs repeat
        state.tokens_spent += spent
        self.tracker.spend(tokens=spent)
        self.tracer.emit(
            ModelTurnEvent(
                run_id=state.run_id,
                step=step,
                output=turn.text,
                prompt_tokens=usage.prompt_tokens,
                cached_prompt_tokens=usage.cached_prompt_tokens,
                completion_tokens=usage.completion_tokens,
                seconds=round(time.perf_counter() - started, 4),
            )
        )
        return turn.action, string_chars

    # -- the last turn ---------------------------------------------------------------------------

    def forced_final(self, state: RunState, final: str, limit: str) -> FinalAction:
        """The budget ended: one more turn whose grammar admits only the final action."""
        self.hint(state, render("agent_budget_end", limit=limit))
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
