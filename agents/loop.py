"""The step loop: one grammar-constrained model turn, then the chosen tool, until an answer.

The system prompt and tool list stay frozen at the front of the history and every turn only
appends, so llama.cpp reuses its KV cache from step to step. What changes per turn (budget left,
citable passage ids) goes into the newest message or the grammar, never into the prefix.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from heron.agents.actions import (
    FINAL_ANSWER,
    STEP_DONE,
    ActionSpec,
    FinalAction,
    ToolCallAction,
    action_schema,
    cut_strings,
    parse_action,
    without_repeated_items,
)
from heron.agents.approval import ApprovalCallback, ApprovalRequest
from heron.agents.budget import BudgetTracker
from heron.agents.config import THOUGHT_CHARS, THOUGHT_MIN_PARAMETERS, AgentConfig
from heron.agents.mentions import is_mentioned, is_place_argument, place_spans, takes_fraction
from heron.agents.state import RunState
from heron.agents.streaming import AnswerStream
from heron.agents.templates import render
from heron.agents.tool_check import checks_first_call, tool_fit
from heron.errors import (
    ModelRetry,
    OutputTruncatedError,
    RunCancelledError,
    RunError,
    ToolExecutionError,
    UsageError,
)
from heron.llm.base import LLM
from heron.llm.types import CopyBias, GenerationOptions, Message
from heron.status import StoppedBy
from heron.tools import Risk, Tool, ToolContext, ToolResult
from heron.tracing import (
    ApprovalEvent,
    HintEvent,
    ModelTurnEvent,
    RetrievalEvent,
    TokenEvent,
    ToolCallEvent,
    ToolCheckEvent,
    ToolProgressEvent,
    ToolResultEvent,
    Tracer,
)

REPEAT_LIMIT = 3  # the third identical call ends the loop
_BUDGET_NOTE = re.compile(r"\s*\(budget left[^)]*\)\s*$")  # the end of every result heron shows


def thought_chars(config: AgentConfig, llm: LLM) -> int:
    """The reasoning field's length for this model: the configured one, or by the model's size."""
    if config.thought_chars is not None:
        return config.thought_chars
    parameters = getattr(llm, "parameter_count", None)  # a local GGUF knows it; a server may not
    return THOUGHT_CHARS if parameters is None or parameters >= THOUGHT_MIN_PARAMETERS else 0


def tool_signature(tool: Tool) -> str:
    """``expression: string, precision?: integer`` from the tool's argument schema, for the prompt."""
    schema = tool.json_schema()
    required = set(schema.get("required", []))
    parts = []
    for name, prop in schema.get("properties", {}).items():
        kind = prop.get("type") or ("enum" if "enum" in prop else "value")
        if "enum" in prop:
            kind = "|".join(json.dumps(v) for v in prop["enum"])
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return ", ".join(parts)


def argument_notes(tool: Tool) -> str:
    """``base: the base of the triangle; unit: "cm" or "in" (default "cm")``: each described
    argument's description (from the docstring's Args section or the schema) and the default an
    optional one takes when left out, for the tool list; empty if no argument has a description."""
    properties = tool.json_schema().get("properties", {})
    notes = []
    for name, prop in properties.items():
        if not prop.get("description"):
            continue
        note = f"{name}: {' '.join(str(prop['description']).split())}"
        if prop.get("default") is not None:
            note += f" (default {json.dumps(prop['default'])})"
        notes.append(note)
    return "; ".join(notes)


def tool_listing(tool: Tool) -> dict[str, str]:
    """What the prompts show of a tool: its name, signature, description and argument notes."""
    return {
        "name": tool.name,
        "description": tool.description,
        "signature": tool_signature(tool),
        "arguments": argument_notes(tool),
    }


def _arguments_schema(tool: Tool, config: AgentConfig, request: str = "") -> dict[str, Any]:
    """The tool's argument schema for the grammar, its optional arguments kept per ``optional_arguments``."""
    schema = tool.json_schema()
    if config.optional_arguments == "offer":
        return schema
    required = set(schema.get("required", []))
    mentioned = config.optional_arguments == "mentioned"
    schema["properties"] = {
        k: v
        for k, v in schema.get("properties", {}).items()
        if k in required or (mentioned and is_mentioned(k, v, request, required))
    }
    return schema


def _pin_arguments(spec: ActionSpec, fixed: dict[str, Any]) -> ActionSpec:
    """The spec with some arguments pinned to constants: the grammar admits only those values."""
    parameters = json.loads(json.dumps(spec.parameters))
    properties = parameters.setdefault("properties", {})
    for name, value in fixed.items():
        properties[name] = {"const": value}
    parameters["required"] = list(dict.fromkeys([*parameters.get("required", []), *fixed]))
    return ActionSpec(spec.name, spec.description, parameters, spec.think)


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
        first_turn_choice: str | None = None,
    ) -> None:
        """``first_turn_choice``: what the tool gate decided for a fresh run's first turn (a tool's
        name, "none" or "required"; None: the model chooses)."""
        self.llm = llm
        self.tools = {t.name: t for t in tools}
        self.specs = [ActionSpec(t.name, t.description, _arguments_schema(t, config), t.think) for t in tools]
        self._goal_specs: tuple[str, list[ActionSpec]] | None = None
        # argument names read from the tools' schemas once: those that take "5%" as 0.05, and places
        properties = [(n, p) for t in tools for n, p in t.json_schema().get("properties", {}).items()]
        self._fraction_arguments = frozenset(n for n, p in properties if takes_fraction(n, p))
        self._place_arguments = frozenset(n for n, p in properties if is_place_argument(n, p))
        self.context = context
        self.tracer = tracer
        self.tracker = tracker
        self.config = config
        self.approve = approve
        self.on_step = on_step or (lambda state: None)
        self.cancel_requested = cancel or threading.Event()
        self.first_turn_choice = first_turn_choice
        self.thought_chars = thought_chars(config, llm)
        self.check_first_call = checks_first_call(config, llm)

    def run(self, state: RunState, final: str = FINAL_ANSWER) -> tuple[FinalAction, StoppedBy]:
        """Turns until ``final`` (``final_answer`` or ``step_done``); checkpoints after every step."""
        while True:
            limit = self.tracker.exhausted()
            if limit is not None:
                return self.forced_final(state, final, limit), limit
            try:
                action = self._free_turn(state, final)
            except OutputTruncatedError:  # cut by the turn's token limit: tell the model, go on
                self._hint(state, render("agent_truncated", budget=self._budget()))
                self._finish_step(state)
                continue
            if isinstance(action, FinalAction):
                return action, "answer"
            key = json.dumps([action.tool, action.arguments], sort_keys=True)
            state.call_counts[key] = state.call_counts.get(key, 0) + 1
            repeats = state.call_counts[key]
            if repeats >= REPEAT_LIMIT:
                self._hint(
                    state, render("agent_repeat", tool=action.tool, final=final, budget=self._budget())
                )
                return self.forced_final(state, final, "repeated_call"), "repeated_call"
            if repeats == 2:
                self._hint(
                    state, render("agent_repeat", tool=action.tool, final=final, budget=self._budget())
                )
            else:
                self._call_tool(state, action.tool, action.arguments, final, action.cut)
            self._finish_step(state)

    # -- one model turn ---------------------------------------------------------------------------

    def _free_turn(self, state: RunState, final: str) -> Any:
        """A turn where the model picks its action; a fresh request's first call is checked first
        (``AgentConfig.check_first_call``, see :mod:`heron.agents.tool_check`)."""
        action = self._model_turn(state, final)
        if not (isinstance(action, ToolCallAction) and self._checks_this_turn(state, final)):
            return action
        fit = tool_fit(self.llm, state.goal, self.tools[action.tool])
        if fit is None:
            return action
        kept = fit.fits >= 0.5
        self.tracer.emit(
            ToolCheckEvent(
                run_id=state.run_id,
                step=state.step + 1,
                tool=action.tool,
                fits=round(fit.fits, 4),
                yes=round(fit.yes, 4),
                bias=round(fit.bias, 4),
                kept=kept,
            )
        )
        if kept:
            return action
        state.messages.pop()  # the call is set aside: the model answers as if it had not written it
        return self._model_turn(state, final, tools=False)

    def _checks_this_turn(self, state: RunState, final: str) -> bool:
        """The first turn of a fresh request, the answer offered, the model free to choose."""
        must_cite_first = self.config.require_citations and not state.passages
        return (
            self.check_first_call
            and state.step == 0
            and final == FINAL_ANSWER
            and self.first_turn_choice is None
            and self.config.tool_choice == "auto"
            and not must_cite_first
        )

    def _model_turn(
        self,
        state: RunState,
        final: str | None,
        *,
        tools: bool = True,
        only_tool: str | None = None,
        fixed_args: dict[str, Any] | None = None,
    ) -> Any:
        gated = self.first_turn_choice if state.step == 0 and only_tool is None else None
        # an answer that must cite is not offered until a tool returned something citable
        must_cite_first = final == FINAL_ANSWER and self.config.require_citations and not state.passages
        specs, final_kind = self._choices(
            self._specs_for(state.goal),
            None if must_cite_first else final,
            tools,
            only_tool or gated,
            fixed_args or {},
        )
        if must_cite_first and tools and only_tool is None:
            # grounding first: while nothing is citable, only the tools that return citations
            citing = [s for s in specs if self.tools[s.name].cites]
            specs = citing or specs
        if not specs and final_kind is None:  # no tool could be offered: the answer is the only way out
            final_kind = FINAL_ANSWER
        min_citations = 1 if self.config.require_citations and state.passages else 0

        def schema_for(shrink: int) -> dict[str, Any]:
            return action_schema(
                specs,
                final=final_kind,
                citable_ids=list(state.passages),
                min_citations=min_citations,
                thought_chars=self.thought_chars // shrink if specs else 0,
                answer_chars=max(20, self.config.answer_chars // shrink),
                argument_chars=max(10, self.config.argument_chars // shrink),
            )

        schema = schema_for(1)
        schema_chars = max(10, self.config.argument_chars)
        stream = AnswerStream()
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
            copy_bias=self._copy_bias(state),
            repetition=self.config.repetition,
        )
        started = time.perf_counter()
        try:
            value = self.llm.structured_json(state.messages, schema, options)
        except OutputTruncatedError:
            # cut off by the token limit (a rambling string): once more, with twice the tokens and
            # strings a quarter as long, which fits even at one character per token
            stream.reset()
            options = options.model_copy(update={"max_tokens": options.max_tokens * 2})
            value = self.llm.structured_json(state.messages, schema_for(4), options)
            schema_chars = max(10, self.config.argument_chars // 4)
        usage = self.llm.last_usage
        output = json.dumps(value, ensure_ascii=False)
        state.messages.append(Message.assistant(output))
        state.usage = state.usage + usage
        spent = usage.completion_tokens  # generated tokens: independent of cache hits, so runs repeat
        state.tokens_spent += spent
        self.tracker.spend(tokens=spent)
        self.tracer.emit(
            ModelTurnEvent(
                run_id=state.run_id,
                step=state.step + 1,
                output=output,
                prompt_tokens=usage.prompt_tokens,
                cached_prompt_tokens=usage.cached_prompt_tokens,
                completion_tokens=usage.completion_tokens,
                seconds=round(time.perf_counter() - started, 4),
            )
        )
        action = parse_action(value, final)
        if isinstance(action, ToolCallAction) and self.config.drop_repeated_items:
            action.arguments = without_repeated_items(action.arguments)
        spec = next((s for s in specs if s.name == getattr(action, "tool", None)), None)
        if isinstance(action, ToolCallAction) and spec is not None:  # (a grammar-less backend may name none)
            action.cut = cut_strings(action.arguments, spec.parameters, schema_chars)
        return action

    def _copy_bias(self, state: RunState) -> CopyBias | None:
        """What a turn's tool arguments may copy from: the request and the latest tool result."""
        if not self.config.copy_bias:
            return None
        sources = [state.goal]
        last = state.messages[-1] if state.messages else None
        if last is not None and last.role == "tool":
            sources.append(last.content)
        return CopyBias(
            sources=tuple(sources),
            strength=self.config.copy_bias,
            under_key="arguments",
            fraction_keys=self._fraction_arguments,  # (an argument name shared by tools: if any does)
            key_sources=self._place_sources(state.goal),
        )

    def _place_sources(self, goal: str) -> dict[str, tuple[str, ...]]:
        """Place arguments copy only the places the request names (none named: the whole request)."""
        places = tuple(place_spans(goal))
        return {name: places for name in self._place_arguments} if places else {}

    def _specs_for(self, goal: str) -> list[ActionSpec]:
        """The tools' action specs; with ``optional_arguments="mentioned"`` they depend on the goal."""
        if self.config.optional_arguments != "mentioned":
            return self.specs
        if self._goal_specs is None or self._goal_specs[0] != goal:
            specs = [
                ActionSpec(t.name, t.description, _arguments_schema(t, self.config, goal), t.think)
                for t in self.tools.values()
            ]
            self._goal_specs = (goal, specs)
        return self._goal_specs[1]

    def _choices(
        self,
        specs: list[ActionSpec],
        final: str | None,
        tools: bool,
        only_tool: str | None,
        fixed_args: dict[str, Any],
    ) -> tuple[list[ActionSpec], str | None]:
        """Which actions this turn's grammar admits, from ``tool_choice`` and the step's forced tool."""
        if not tools:
            return [], final
        choice = only_tool or self.config.tool_choice
        if choice == "auto":
            return specs, final
        if choice == "none":
            return [], final
        if choice == "required":
            return specs, None
        chosen = [s for s in specs if s.name == choice]
        if fixed_args:  # pinned even when optional arguments are omitted: the value is a constant
            chosen = [_pin_arguments(spec, fixed_args) for spec in chosen]
        return chosen, None

    def decide(self, state: RunState) -> ToolCallAction | FinalAction:
        """One model turn under the usual grammar; the action is returned, not executed."""
        action: ToolCallAction | FinalAction = self._free_turn(state, FINAL_ANSWER)
        return action

    def tool_step(self, state: RunState, tool: str, fixed_args: dict[str, Any]) -> str | None:
        """One call of ``tool`` (its grammar pins ``fixed_args``; the model fills the rest).

        Returns the result text, or None when a budget ended first. Output cut by the token limit is
        retried twice.
        """
        for _attempt in range(3):
            if self.tracker.exhausted() is not None:
                return None
            try:
                action = self._model_turn(state, None, only_tool=tool, fixed_args=fixed_args)
            except OutputTruncatedError:
                self._hint(state, render("agent_truncated", budget=self._budget()))
                self._finish_step(state)
                continue
            assert isinstance(action, ToolCallAction)  # the grammar admits only this tool
            self._call_tool(state, action.tool, action.arguments, FINAL_ANSWER, action.cut)
            self._finish_step(state)
            return state.messages[-1].content
        return None

    def note_step(self, state: RunState) -> FinalAction | None:
        """One turn after a plan step's successful call: the model writes down what the step found
        (``step_done`` with the facts and their passages). None when a budget ended or the note ran
        past the turn's tokens: the raw result then stands as the step's result."""
        if self.tracker.exhausted() is not None:
            return None
        self._hint(state, render("agent_step_note", step_done=STEP_DONE))
        try:
            action = self._model_turn(state, STEP_DONE, tools=False)
        except OutputTruncatedError:  # ran past the turn's tokens: the raw result stands
            action = None
        self._finish_step(state)
        return action if isinstance(action, FinalAction) else None  # (None: a backend without grammars)

    def set_aside_failed_call(self, state: RunState, tool: str, tries: int) -> None:
        """Before a plan step's next try: replace the failed call and its result at the end of the
        history by a note that keeps only the error. A model that sees its own failed call copies
        it, even when sampled; a note with the error makes it write a new one."""
        call, result = state.messages[-2:]
        if call.role != "assistant" or result.role != "tool":
            return  # already set aside (a resumed run) or nothing to set aside
        error = _BUDGET_NOTE.sub("", result.content).strip()
        if len(error) > self.config.result_chars:
            error = error[: self.config.result_chars] + " ..."
        del state.messages[-2:]
        self._hint(
            state,
            render("agent_step_retry", tool=tool, tried=state.step_calls, tries=tries, error=error),
        )

    def forced_final(self, state: RunState, final: str, limit: str) -> FinalAction:
        """The budget ended: one more turn whose grammar admits only the final action."""
        self._hint(state, render("agent_budget_end", limit=limit))
        try:
            action = self._model_turn(state, final, tools=False)
        except OutputTruncatedError as exc:  # even the answer ran past the turn's tokens: say so
            action = FinalAction(kind=final, answer=f"(no answer: {exc})")
            state.messages.append(Message.assistant(action.model_dump_json(include={"answer"})))
        assert isinstance(action, FinalAction)  # the grammar admits nothing else
        self._finish_step(state)
        return action

    # -- tools -------------------------------------------------------------------------------------

    def _call_tool(
        self, state: RunState, name: str, arguments: dict[str, Any], final: str, cut: Sequence[str] = ()
    ) -> None:
        """Make one call and give its result to the model; records whether it failed (checkpointed with
        the call, so a resumed plan step knows whether to try again)."""
        errors = state.tool_errors
        self._make_call(state, name, arguments, final, cut)
        state.last_call_failed = state.tool_errors > errors

    def _make_call(
        self, state: RunState, name: str, arguments: dict[str, Any], final: str, cut: Sequence[str]
    ) -> None:
        tool = self.tools.get(name)
        if tool is None:  # the grammar admits only known names; a backend without grammars may not
            hint = f"there is no tool {name!r}; use one of: {', '.join(self.tools)}"
            self._tool_message(
                state, render("agent_retry", tool=name, problem=hint, budget=self._budget()), name
            )
            state.tool_errors += 1
            return
        state.step_calls += 1
        call_id = uuid.uuid4().hex[:12]
        step = state.step + 1
        self.tracer.emit(
            ToolCallEvent(run_id=state.run_id, step=step, call_id=call_id, tool=name, arguments=arguments)
        )
        if tool.risk == Risk.HIGH:
            decision = self.approve(ApprovalRequest(name, arguments, tool.risk.value, step))
            self.tracer.emit(
                ApprovalEvent(
                    run_id=state.run_id,
                    step=step,
                    call_id=call_id,
                    tool=name,
                    decision=decision.decision,
                    arguments=decision.arguments,
                    reason=decision.reason,
                )
            )
            if decision.decision == "denied":
                self._tool_message(
                    state,
                    render(
                        "agent_denied",
                        tool=name,
                        reason=decision.reason or "denied",
                        final=final,
                        budget=self._budget(),
                    ),
                    name,
                )
                return
            arguments = decision.arguments
        started = time.perf_counter()

        def progress(done: int, total: int, label: str) -> None:
            self.tracer.emit(
                ToolProgressEvent(
                    run_id=state.run_id,
                    step=step,
                    call_id=call_id,
                    tool=name,
                    done=done,
                    total=total,
                    label=label,
                )
            )

        try:
            with self.context.progress_to(progress):
                result = self._invoke_with_retries(tool, arguments)
        except ModelRetry as exc:
            state.tool_errors += 1
            result = ToolResult(text=str(exc), is_error=True)
            self._emit_result(state, call_id, name, result, started)
            hint = render("agent_retry", tool=name, problem=str(exc), budget=self._budget())
            self._tool_message(state, hint, name)
            return
        except (RunError, UsageError) as exc:  # the tool failed; the model sees why and goes on
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            result = ToolResult(text=f"{exc}{cause}", is_error=True)
        state.tool_errors += int(result.is_error)
        self._emit_result(state, call_id, name, result, started)
        self._record_citations(state, result, arguments)
        text = result.text
        if cut:  # the grammar's length bound ended the string: say so, the result may well show it
            names = ", ".join(cut)
            text = f"(note: {names} reached its length limit and was cut off; write it shorter)\n{text}"
        if len(text) > self.config.result_chars:
            text = text[: self.config.result_chars] + f"\n... ({len(result.text) - self.config.result_chars} "
            text += "more characters cut)"
        files = [a.path or a.uri for a in result.artifacts if a.kind in ("file", "image")]
        self._tool_message(
            state,
            render(
                "agent_tool_result",
                tool=name,
                is_error=result.is_error,
                text=text,
                artifacts=[str(f) for f in files if f],
                budget=self._budget(),
            ),
            name,
        )

    def _invoke_with_retries(self, tool: Tool, arguments: dict[str, Any]) -> ToolResult:
        """Run the tool; a ToolExecutionError (an unexpected exception inside it) is retried with
        exponential backoff up to ``config.tool_retries`` times before the model sees the failure."""
        attempt = 0
        while True:
            try:
                return tool.invoke(arguments, self.context)
            except ToolExecutionError:
                if attempt >= self.config.tool_retries:
                    raise
                time.sleep(self.config.tool_retry_backoff * 2**attempt)
                attempt += 1

    def _emit_result(
        self, state: RunState, call_id: str, name: str, result: ToolResult, started: float
    ) -> None:
        artifacts = [a.model_dump(mode="json") for a in result.artifacts]
        state.artifacts.extend(a for a in artifacts if a.get("kind") in ("file", "image"))
        self.tracer.emit(
            ToolResultEvent(
                run_id=state.run_id,
                step=state.step + 1,
                call_id=call_id,
                tool=name,
                text=result.text,
                is_error=result.is_error,
                artifacts=artifacts,
                seconds=round(time.perf_counter() - started, 4),
            )
        )

    def _record_citations(self, state: RunState, result: ToolResult, arguments: dict[str, Any]) -> None:
        passages = []
        for artifact in result.artifacts:
            if artifact.kind != "citation":
                continue
            # the passage id the model cites (and the grammar admits) is the one its text showed
            passage = {
                **artifact.metadata,
                "id": str(artifact.metadata.get("id") or artifact.uri),
                "source": str(artifact.uri or artifact.path or ""),
            }
            state.passages[passage["id"]] = passage
            passages.append(passage)
        if passages:
            query = str(arguments.get("query", ""))
            self.tracer.emit(
                RetrievalEvent(run_id=state.run_id, step=state.step + 1, query=query, passages=passages)
            )

    # -- history -----------------------------------------------------------------------------------

    def _tool_message(self, state: RunState, text: str, tool: str) -> None:
        state.messages.append(Message(role="tool", content=text, name=tool))

    def _hint(self, state: RunState, text: str) -> None:
        state.messages.append(Message.user(text))
        state.instructions.append(text)
        self.tracer.emit(HintEvent(run_id=state.run_id, step=state.step + 1, text=text))

    def _finish_step(self, state: RunState) -> None:
        state.step += 1
        self.tracker.spend(steps=1)
        state.seconds_spent = self.tracker.seconds
        self.on_step(state)

    def _budget(self) -> str:
        return self.tracker.remaining_text(pending_steps=1)  # the step being finished counts as spent
