"""The SDK entry point: ``Agent(model=..., tools=[...], memory=...).run(goal)``.

Example::

    from heron import Agent, tool

    @tool
    def add(a: int, b: int) -> int:
        \"\"\"Add two integers.\"\"\"
        return a + b

    with Agent(tools=[add]) as agent:
        result = agent.run("What is 2 + 40?")
        print(result.answer, result.trace_path)
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heron.agents.actions import FINAL_ANSWER, STEP_DONE, FinalAction, ToolCallAction
from heron.agents.approval import ApprovalCallback, deny_all
from heron.agents.budget import Budget, BudgetTracker
from heron.agents.config import TOOL_CHOICE_MODES, AgentConfig
from heron.agents.loop import StepLoop, tool_listing
from heron.agents.planner import make_plan
from heron.agents.provenance import sources_of_numbers
from heron.agents.result import Citation, RunResult
from heron.agents.state import PlanStep, RunState
from heron.agents.templates import render
from heron.config import Settings, load_settings
from heron.errors import RunCancelledError, ToolDeclarationError, UsageError
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.status import StoppedBy, echoes_instructions, run_status
from heron.tools import Tool, ToolContext, tool
from heron.tracing import (
    AnswerEvent,
    EventCallback,
    PlanEvent,
    RunFinishedEvent,
    RunStartedEvent,
    Tracer,
    trace_path,
)

if TYPE_CHECKING:
    from heron.agents.router import ToolRouter
    from heron.memory import VectorMemory

_DONE = object()


class Agent:
    """A planner LLM with tools. One agent holds one model and one tool session (sandbox, workspace).

    ``model``: an :class:`~heron.llm.base.LLM`, a path to a GGUF file, or None for the configured one.
    ``tools``: :class:`Tool` objects or typed functions (turned into tools with ``@tool``).
    ``memory``: a :class:`~heron.memory.VectorMemory`; adds the ``retrieve`` and ``remember`` tools.
    ``approve``: decides risky tool calls (code, file writes); the default denies them.
    ``tool_router``: a :class:`~heron.agents.router.ToolRouter` shared by several agents (tool gate).
    """

    def __init__(
        self,
        model: LLM | str | Path | None = None,
        tools: Sequence[Tool | Callable[..., Any]] = (),
        memory: VectorMemory | None = None,
        *,
        config: AgentConfig | None = None,
        approve: ApprovalCallback = deny_all,
        deps: Any = None,
        workspace: Path | str | None = None,
        settings: Settings | None = None,
        callbacks: Sequence[EventCallback] = (),
        tool_router: ToolRouter | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        self.config = config or AgentConfig(budget=Budget.from_settings(self.settings.agent))
        self.approve = approve
        self.callbacks = list(callbacks)
        if self.settings.otel:
            from heron.otel import OTelExporter, default_provider

            self.callbacks.append(OTelExporter(default_provider()))
        self.memory = memory
        self._model_arg = model
        self._llm: LLM | None = model if isinstance(model, LLM) else None
        self._owns_llm = self._llm is None
        self.tools: list[Tool] = [t if isinstance(t, Tool) else tool(t) for t in tools]
        if memory is not None:
            from heron.memory.tools import memory_tools

            self.tools.extend(memory_tools(memory))
        names = [t.name for t in self.tools]
        if len(set(names)) != len(names):
            dupes = sorted({n for n in names if names.count(n) > 1})
            raise ToolDeclarationError(f"two tools share the name(s) {dupes}", "give each tool a unique name")
        if self.config.tool_choice not in (*TOOL_CHOICE_MODES, *names):
            raise UsageError(
                f"tool_choice {self.config.tool_choice!r} is not a tool of this agent",
                f"use one of {', '.join(map(repr, TOOL_CHOICE_MODES))} or a tool: {', '.join(names)}",
            )
        self._cancel = threading.Event()
        # the tool gate (AgentConfig.tool_gate): passed in to share one embedder between agents,
        # else loaded on first use
        self._router: ToolRouter | None = tool_router
        self.context: ToolContext[Any] = ToolContext(
            workspace or self.settings.data_dir / "workspace", settings=self.settings, deps=deps
        )
        if self._llm is not None:
            self.context.gpu.register(self._llm)  # a GPU-hungry tool (images) may suspend it

    # -- resources ----------------------------------------------------------------------------------

    @property
    def llm(self) -> LLM:
        """The model, loaded on first use."""
        if self._llm is None:
            from heron.llm import LocalLLM, open_llm

            if isinstance(self._model_arg, (str, Path)):
                self._llm = LocalLLM.from_settings(
                    self.settings.model_copy(update={"model_path": Path(self._model_arg)})
                )
            else:
                self._llm = open_llm(self.settings)
            self.context.gpu.register(self._llm)
        return self._llm

    def cancel(self) -> None:
        """Stop the running ``run`` from another thread: the current model turn ends at its next token
        and the run raises :class:`~heron.errors.RunCancelledError` (its trace says "cancelled")."""
        self._cancel.set()

    def close(self) -> None:
        """Stop the tool session (sandbox processes) and free the model if this agent loaded it."""
        self.context.close()
        if self._llm is not None:
            self.context.gpu.unregister(self._llm)
        if self._owns_llm and self._llm is not None:
            self._llm.close()
            self._llm = None

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ------------------------------------------------------------------------------------

    def new_state(self, goal: str, run_id: str | None = None) -> RunState:
        """A fresh run: the frozen system prompt, then the goal."""
        system = render(
            "agent_system",
            final=FINAL_ANSWER,
            tools=[tool_listing(t) for t in self.tools],
            instructions=self.config.instructions,
        )
        return RunState(
            run_id=run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
            goal=goal,
            messages=[Message.system(system), Message.user(goal)],
        )

    def run(
        self,
        goal: str,
        *,
        plan: Sequence[PlanStep | str | dict[str, Any]] | None = None,
        budget: Budget | None = None,
        callbacks: Sequence[EventCallback] = (),
        on_step: Callable[[RunState], None] | None = None,
    ) -> RunResult:
        """Run ``goal`` to an answer. Budgets end the run with a best-effort answer, never an exception.

        ``plan``: your own steps (text, or ``PlanStep(do=..., tool=...)`` to make a step start with
        that tool); otherwise ``config.planning`` decides whether the model plans first.
        """
        state = self.new_state(goal)
        if plan:
            state.plan = [self.validate_step(p) for p in plan]
        return self.continue_run(state, budget=budget, callbacks=callbacks, on_step=on_step)

    def decide(self, goal: str) -> ToolCallAction | FinalAction:
        """One constrained turn without running anything: which tool the model would call (with
        which arguments), or its direct answer. Function calling as a single decision."""
        state = self.new_state(goal)
        tracker = BudgetTracker(self.config.budget)
        with Tracer(None, self.callbacks) as tracer:
            return self._loop(state, tracer, tracker).decide(state)

    def validate_step(self, step: PlanStep | str | dict[str, Any]) -> PlanStep:
        """A plan step checked against this agent's tools (UsageError if it names what is not there)."""
        step = PlanStep(do=step) if isinstance(step, str) else PlanStep.model_validate(step)
        tools = {t.name: t for t in self.tools}
        if step.args and step.tool is None:
            raise UsageError(
                f"plan step {step.do!r} fixes arguments but names no tool", "add `tool:` to the step"
            )
        if step.tool is None:
            return step
        if step.tool not in tools:
            raise UsageError(
                f"plan step {step.do!r} names the tool {step.tool!r}, which this agent does not have",
                f"use one of: {', '.join(tools)}",
            )
        known = set(tools[step.tool].json_schema().get("properties", {}))
        unknown = sorted(set(step.args) - known)
        if unknown:
            raise UsageError(
                f"plan step {step.do!r} fixes {unknown}, which {step.tool} does not take",
                f"{step.tool} takes: {', '.join(sorted(known))}",
            )
        return step

    def continue_run(
        self,
        state: RunState,
        *,
        budget: Budget | None = None,
        callbacks: Sequence[EventCallback] = (),
        on_step: Callable[[RunState], None] | None = None,
        checks: Callable[[RunResult], bool] | None = None,
    ) -> RunResult:
        """Run, or resume from a checkpointed ``state`` (finished tool calls are not repeated).

        ``checks``: a verdict on the answered result (a task's checks); False makes the status
        ``checks_failed`` in the result and the trace alike."""
        budget = budget or self.config.budget
        tracker = BudgetTracker(
            budget, steps=state.step, tokens=state.tokens_spent, earlier_seconds=state.seconds_spent
        )
        path = trace_path(self.settings.data_dir, state.run_id)
        started = time.perf_counter()
        with Tracer(path, [*self.callbacks, *callbacks]) as tracer:
            if state.step == 0 and state.plan_index == 0 and not state.step_results:
                tracer.emit(
                    RunStartedEvent(
                        run_id=state.run_id,
                        goal=state.goal,
                        model=self._model_name(),
                        tools=[t.name for t in self.tools],
                        budget=budget.model_dump(),
                    )
                )
            self._cancel.clear()
            loop = self._loop(state, tracer, tracker, on_step)
            try:
                final, stopped_by = self._execute(state, loop, tracer)
            except Exception as exc:
                tracer.emit(
                    RunFinishedEvent(
                        run_id=state.run_id,
                        step=state.step,
                        status="cancelled" if isinstance(exc, RunCancelledError) else "error",
                        usage=state.usage.model_dump(),
                        seconds=time.perf_counter() - started,
                        error=f"{type(exc).__name__}: {exc}",
                    )
                )
                raise
            state.finished = True
            if on_step is not None:
                on_step(state)
            answered, note = self._answered(state, final)
            cited = self._cited(state, final) if answered else []
            result = RunResult(
                run_id=state.run_id,
                answer=final.answer if answered else "",
                answered=answered,
                note=note,
                status=run_status(stopped_by, answered),
                citations=[self._citation(state, cid) for cid in cited],
                steps=state.step,
                usage=state.usage,
                trace_path=path,
                stopped_by=stopped_by,
                artifacts=state.artifacts,
                plan=state.plan,
            )
            tracer.emit(
                AnswerEvent(
                    run_id=state.run_id,
                    step=state.step,
                    text=result.answer,
                    citations=cited,
                    stopped_by=stopped_by,
                    answered=answered,
                    note=note,
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
                )
            )
        return result

    def _answered(self, state: RunState, final: FinalAction) -> tuple[bool, str]:
        """Whether the final text is an answer of the model's own, and if not, why."""
        if echoes_instructions(final.answer, [state.messages[0].content, *state.instructions]):
            return False, "the model only repeated heron's instructions"
        if self.config.require_citations and not final.citations:
            return False, "nothing citable was retrieved, and answers must cite (require_citations)"
        return True, ""

    def _execute(self, state: RunState, loop: StepLoop, tracer: Tracer) -> tuple[FinalAction, StoppedBy]:
        if self.config.planning == "never" and not state.plan:
            return loop.run(state, FINAL_ANSWER)
        if not state.plan:
            state.plan = make_plan(self.llm, state.goal, self.tools, self.config.max_plan_steps)
            _emit_plan(tracer, state)
        elif state.plan_index == 0 and state.step == 0:
            _emit_plan(tracer, state, reason="given by the caller")
        while state.plan_index < len(state.plan):
            outcome = self._run_plan_step(state, loop, tracer)
            if outcome is not None:
                return outcome
        # every step was a tool step: the model now answers from what they found
        done = render("agent_plan_done", final=FINAL_ANSWER)
        state.messages.append(Message.user(done))
        state.instructions.append(done)
        return loop.run(state, FINAL_ANSWER)

    def _run_plan_step(
        self, state: RunState, loop: StepLoop, tracer: Tracer
    ) -> tuple[FinalAction, StoppedBy] | None:
        """Run the current plan step; returns the run's end (final answer or budget), else None.

        A step that names a tool calls that tool (the model fills the arguments) until a call succeeds,
        at most ``config.step_tries`` calls; the step's result is the model's note of what the call
        found (``config.step_notes``), else the last call's result. A step
        without a tool is a free loop until ``step_done``; the last such step ends with the final
        answer.
        """
        index, total = state.plan_index, len(state.plan)
        current = state.plan[index]
        last = index == total - 1 and current.tool is None
        if not state.step_started:
            instruction = render(
                "agent_step",
                number=index + 1,
                total=total,
                step=current.do,
                last=last,
                final=FINAL_ANSWER,
                step_done=STEP_DONE,
                tool=current.tool,
            )
            state.messages.append(Message.user(instruction))
            state.instructions.append(instruction)
            state.step_started, state.step_calls = True, 0
        if current.tool is not None:
            # a failed call is made again until one succeeds or the step's tries are spent; the
            # retry sees the error, not the failed call (see set_aside_failed_call); on resume, a
            # checkpointed call is not made again
            while state.step_calls == 0 or (
                state.last_call_failed and state.step_calls < self.config.step_tries
            ):
                if state.step_calls:
                    loop.set_aside_failed_call(state, current.tool, self.config.step_tries)
                if loop.tool_step(state, current.tool, current.args) is None:
                    limit = loop.tracker.exhausted() or "max_steps"
                    return loop.forced_final(state, FINAL_ANSWER, limit), limit
            result = next((m.content for m in reversed(state.messages) if m.role == "tool"), "")
            # the step's note: what it found, in the model's words (not on resume after the note)
            if self.config.step_notes and not state.last_call_failed and state.messages[-1].role == "tool":
                note = loop.note_step(state)
                result = note.answer if note is not None else result
        else:
            final, stopped_by = loop.run(state, FINAL_ANSWER if last else STEP_DONE)
            if last or stopped_by not in ("answer", "repeated_call"):
                return final, stopped_by
            result = final.answer
        state.step_results.append(f"{current.do} -> {result[:300]}")
        state.plan_index += 1
        state.step_started = False
        if state.last_call_failed and self.config.planning == "always":
            self._replan(state, tracer)
        return None

    def _replan(self, state: RunState, tracer: Tracer) -> None:
        """A step hit errors: plan the remaining steps again from what is known now."""
        remaining = make_plan(
            self.llm, state.goal, self.tools, self.config.max_plan_steps, progress=state.step_results
        )
        state.plan = state.plan[: state.plan_index] + remaining
        state.plan_revision += 1
        _emit_plan(tracer, state, reason="a step failed")

    def _loop(
        self,
        state: RunState,
        tracer: Tracer,
        tracker: BudgetTracker,
        on_step: Callable[[RunState], None] | None = None,
    ) -> StepLoop:
        """The step loop for ``state``, its first turn as the tool gate decides."""
        return StepLoop(
            self.llm,
            self.tools,
            self.context,
            tracer,
            tracker,
            self.config,
            self.approve,
            on_step,
            cancel=self._cancel,
            first_turn_choice=self._gate(state),
        )

    def _gate(self, state: RunState) -> str | None:
        """The tool gate's choice for a fresh run without a plan (None: no gate)."""
        if not (self.config.tool_gate and self.tools and self.config.tool_choice == "auto"):
            return None
        if state.step or state.plan:
            return None
        if self._router is None:
            from heron.agents.router import ToolRouter

            self._router = ToolRouter.from_settings(self.settings, self.config)
        return self._router.choose(state.goal, self.tools)

    def _cited(self, state: RunState, final: FinalAction) -> list[str]:
        """The answer's citations, each once: the passages the run's numbers came from (see
        heron.agents.provenance), then the ones the model chose."""
        traced = sources_of_numbers(state.messages, state.passages, state.goal) if state.passages else []
        return list(dict.fromkeys([*traced, *final.citations]))

    def _citation(self, state: RunState, cid: str) -> Citation:
        passage = state.passages.get(cid, {})
        location = {k: v for k, v in passage.items() if k not in ("id", "source", "text")}
        return Citation(
            id=cid,
            source=str(passage.get("source", "")),
            text=str(passage.get("text", "")),
            location=location,
        )

    def _model_name(self) -> str:
        return getattr(self.llm, "name", type(self.llm).__name__)

    # -- async and streaming -------------------------------------------------------------------------

    async def arun(self, goal: str, *, budget: Budget | None = None) -> RunResult:
        """``run`` for asyncio: the model runs in a worker thread (llama.cpp calls block)."""
        return await asyncio.to_thread(self.run, goal, budget=budget)

    def stream(self, goal: str, *, budget: Budget | None = None) -> Iterator[Any]:
        """Yield trace events as they happen (model turns, tool calls, results, the answer), then the
        :class:`RunResult`."""
        events: queue.Queue[Any] = queue.Queue()
        outcome: dict[str, Any] = {}

        def work() -> None:
            try:
                outcome["result"] = self.run(goal, budget=budget, callbacks=[events.put])
            except BaseException as exc:  # handed to the consumer below
                outcome["error"] = exc
            finally:
                events.put(_DONE)

        thread = threading.Thread(target=work, name="heron-agent-run", daemon=True)
        thread.start()
        while (event := events.get()) is not _DONE:
            yield event
        thread.join()
        if "error" in outcome:
            raise outcome["error"]
        yield outcome["result"]

    async def astream(self, goal: str, *, budget: Budget | None = None) -> AsyncIterator[Any]:
        iterator = self.stream(goal, budget=budget)
        while True:
            item = await asyncio.to_thread(next, iterator, _DONE)
            if item is _DONE:
                return
            yield item

    def chat(self) -> ChatSession:
        """A multi-turn session: each message sees the earlier turns (and memory, if given)."""
        return ChatSession(self)


def _emit_plan(tracer: Tracer, state: RunState, reason: str = "") -> None:
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


class ChatSession:
    """Turns that share one history; the system prompt stays first so the KV cache carries over."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.state: RunState | None = None
        self.results: list[RunResult] = []

    def send(self, text: str, *, callbacks: Sequence[EventCallback] = ()) -> RunResult:
        if self.state is None:
            self.state = self.agent.new_state(text)
        else:
            self.state.messages.append(Message.user(text))
            self.state.goal = text
            self.state.finished = False
        # each turn gets the full budget again; the history carries over
        self.state.step, self.state.tokens_spent, self.state.seconds_spent = 0, 0, 0.0
        self.state.call_counts.clear()
        result = self.agent.continue_run(self.state, callbacks=callbacks)
        self.results.append(result)
        return result

    def reset(self) -> None:
        self.state = None
