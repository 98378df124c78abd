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
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heron.agents.actions import CallBatch, FinalAction, ToolCallAction
from heron.agents.approval import ApprovalCallback, deny_all
from heron.agents.budget import Budget, BudgetTracker
from heron.agents.chat import ChatSession
from heron.agents.config import AgentConfig, check_tool_choice
from heron.agents.loop import StepLoop
from heron.agents.plan_execution import PlanExecution, checked_step
from heron.agents.policies.after_error import TryAgainAfterError
from heron.agents.policies.base import TurnPolicy
from heron.agents.policies.first_call_check import FirstCallCheck, checks_first_call
from heron.agents.result import RunResult, conclude_run, ended_by_error
from heron.agents.state import PlanStep, RunState
from heron.agents.streaming import async_events_of, events_of
from heron.agents.sub_agents import sub_agent_tool
from heron.agents.turn_formats import TurnFormat, turn_format
from heron.config import Settings, load_settings
from heron.llm.base import LLM, DecodesGrammar
from heron.llm.types import Message
from heron.tools import Tool, ToolContext, Toolset
from heron.tracing import EventCallback, RunStartedEvent, Tracer, trace_path

if TYPE_CHECKING:
    from heron.memory import VectorMemory


class Agent:
    """A planner LLM with tools. One agent holds one model and one tool session (sandbox, workspace).

    ``model``: an :class:`~heron.llm.base.LLM`, a path to a GGUF file, or None for the configured one.
    ``tools``: :class:`Tool` objects or typed functions (turned into tools with ``@tool``).
    ``memory``: a :class:`~heron.memory.VectorMemory`; adds the ``retrieve`` and ``remember`` tools.
    ``approve``: decides risky tool calls (code, file writes); the default denies them.
    ``policies``: turn policies (:mod:`heron.agents.policies`), asked in order; the first-call check
    is added after them as ``config.check_first_call`` says.
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
        policies: Sequence[TurnPolicy] = (),
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
        extra: list[Tool] = []
        if memory is not None:
            from heron.memory.tools import memory_tools

            extra = memory_tools(memory)
        self.tools: list[Tool] = list(Toolset([*tools, *extra]))  # (names checked unique there)
        check_tool_choice(self.config.tool_choice, [t.name for t in self.tools])
        self._cancel = threading.Event()
        self.policies = list(policies)
        self.context: ToolContext[Any] = ToolContext(
            workspace or self.settings.data_dir / "workspace", settings=self.settings, deps=deps
        )
        if self._llm is not None:
            self.context.gpu.register(self._llm)  # a GPU-hungry tool (images) may suspend it
            self.context.llm = self._llm  # a tool may ask it a question (retrieve's relevance check)

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
            self.context.llm = self._llm
        return self._llm

    def cancel(self) -> None:
        """Stop the running ``run`` from another thread: the current model turn ends at its next token,
        a ``python`` cell running at that moment is stopped (its sandbox restarts, losing the variables
        of every earlier cell, as after a broken limit; an idle sandbox is left alone), a sub-agent's
        run stops with it (its cell too), no further call or turn starts, the stopped call stays
        pending (a resume makes it), and the run raises :class:`~heron.errors.RunCancelledError`
        (its trace says "cancelled")."""
        self._cancel.set()
        self.context.cancel_calls()  # a running cell, a sub-agent's run

    def close(self) -> None:
        """Stop the tool session (sandbox processes) and free the model if this agent loaded it."""
        self.context.close()
        if self._llm is not None:
            self.context.gpu.unregister(self._llm)
        self.context.llm = None
        if self._owns_llm and self._llm is not None:
            self._llm.close()
            self._llm = None

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- running ------------------------------------------------------------------------------------

    def turn_format(self, key: str = "") -> TurnFormat:
        """How the model writes its turns (:mod:`heron.agents.turn_formats`): ``key`` (a resumed run
        keeps the one its system prompt was written for), else ``config.tool_format`` (or the
        ``agent.tool_format`` setting) for this agent's model."""
        choice = self.config.tool_format
        if choice == "settings":
            choice = self.settings.agent.tool_format
        return turn_format(key or choice, self.llm, self.tools, parallel=self.config.parallel_calls > 1)

    def _stored_format(self, state: RunState) -> TurnFormat:
        """The format ``state``'s system prompt was written for: runs saved before turn formats existed
        are generic; a native one with a model that cannot decode it (the REPL's /model switched to a
        served model) falls back to generic."""
        key = state.tool_format or "generic"
        if key != "generic" and not isinstance(self.llm, DecodesGrammar):
            key = "generic"
        return self.turn_format(key)

    def new_state(self, goal: str, run_id: str | None = None) -> RunState:
        """A fresh run: the frozen system prompt (in the turn format's words), then the goal."""
        fmt = self.turn_format()
        return RunState(
            run_id=run_id or time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6],
            goal=goal,
            messages=[
                Message.system(fmt.system_prompt(self.tools, self.config.instructions)),
                Message.user(goal),
            ],
            tool_format=fmt.key,
        )

    def run(
        self,
        goal: str,
        *,
        plan: Sequence[PlanStep | str | dict[str, Any]] | None = None,
        budget: Budget | None = None,
        callbacks: Sequence[EventCallback] = (),
        on_step: Callable[[RunState], None] | None = None,
        run_id: str | None = None,
        parent: tuple[str, str] | None = None,
        approve: ApprovalCallback | None = None,
        caller_cancelled: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run ``goal`` to an answer. Budgets end the run with a best-effort answer, never an exception.

        ``plan``: your own steps (text, or ``PlanStep(do=..., tool=...)`` to make a step start with
        that tool); otherwise ``config.planning`` decides whether the model plans first. ``parent``
        (run id, call id), ``approve`` and ``caller_cancelled`` are for a run started by another run's
        tool call (:meth:`as_tool`): the run it nests under, the approver in place of this agent's,
        and whether that run was cancelled (this one then stops too).
        """
        state = self.new_state(goal, run_id=run_id)
        if plan:
            state.plan = [self.validate_step(p) for p in plan]
        return self.continue_run(
            state,
            budget=budget,
            callbacks=callbacks,
            on_step=on_step,
            parent=parent,
            approve=approve,
            caller_cancelled=caller_cancelled,
        )

    def as_tool(self, name: str, description: str, *, budget: Budget | None = None) -> Tool:
        """This agent as a tool another agent can call (a sub-agent, :mod:`heron.agents.sub_agents`): the
        caller writes a ``task``; this agent runs it with its own tools, memory and ``budget`` (else its
        config's); its answer, with the passages it cited, is the tool's result."""
        return sub_agent_tool(self, name, description, budget)

    def decide(self, goal: str) -> ToolCallAction | CallBatch | FinalAction:
        """One constrained turn without running anything: which tool the model would call (with
        which arguments; several independent calls come as a ``CallBatch``), or its direct answer.
        Function calling as a single decision."""
        state = self.new_state(goal)
        tracker = BudgetTracker(self.config.budget)
        with Tracer(None, self.callbacks) as tracer:
            return self._loop(tracer, tracker, state).decide(state)

    def validate_step(self, step: PlanStep | str | dict[str, Any]) -> PlanStep:
        """A plan step checked against this agent's tools (UsageError if it names what is not there)."""
        return checked_step(step, self.tools)

    def continue_run(
        self,
        state: RunState,
        *,
        budget: Budget | None = None,
        callbacks: Sequence[EventCallback] = (),
        on_step: Callable[[RunState], None] | None = None,
        checks: Callable[[RunResult], bool] | None = None,
        parent: tuple[str, str] | None = None,
        approve: ApprovalCallback | None = None,
        caller_cancelled: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run, or resume from a checkpointed ``state`` (finished tool calls are not repeated).

        ``checks``: a verdict on the answered result (a task's checks); False makes the status
        ``checks_failed`` in the result and the trace alike."""
        self._cancel.clear()  # before any event: a consumer that saw one may cancel this run
        budget = budget or self.config.budget
        tracker = BudgetTracker(
            budget, steps=state.step, tokens=state.tokens_spent, earlier_seconds=state.seconds_spent
        )
        path = trace_path(self.settings.data_dir, state.run_id)
        started = time.perf_counter()
        own = self.callbacks
        if parent is not None:  # a sub-run's events reach the caller's span exporter through its trace
            own = [c for c in own if not getattr(c, "follows_sub_runs", False)]
        with Tracer(path, [*own, *callbacks]) as tracer:
            if state.step == 0 and state.plan_index == 0 and not state.step_results:
                tracer.emit(
                    RunStartedEvent(
                        run_id=state.run_id,
                        goal=state.goal,
                        model=self._model_name(),
                        tools=[t.name for t in self.tools],
                        budget=budget.model_dump(),
                        parent_run_id=parent[0] if parent else None,
                        parent_call_id=parent[1] if parent else None,
                    )
                )
            loop = self._loop(tracer, tracker, state, on_step, approve or self.approve, caller_cancelled)
            try:
                final, stopped_by = PlanExecution(self.llm, self.tools, self.config).execute(
                    state, loop, tracer
                )
            except Exception as exc:
                tracer.emit(ended_by_error(state, exc, time.perf_counter() - started))
                raise
            state.finished = True
            if on_step is not None:
                on_step(state)
            return conclude_run(
                state,
                final,
                stopped_by,
                tracer,
                require_citations=self.config.require_citations,
                checks=checks,
                started=started,
            )

    def _loop(
        self,
        tracer: Tracer,
        tracker: BudgetTracker,
        state: RunState,
        on_step: Callable[[RunState], None] | None = None,
        approve: ApprovalCallback | None = None,
        caller_cancelled: Callable[[], bool] | None = None,
    ) -> StepLoop:
        """A step loop with this agent's tools and policies (the first-call check and the try after an
        error as configured), in the turn format ``state`` was started with."""
        policies = [*self.policies]
        if checks_first_call(self.config, self.llm):
            policies.append(FirstCallCheck())
        if self.config.tries_after_error > 0:
            policies.append(TryAgainAfterError(self.config.tries_after_error))
        return StepLoop(
            self.llm,
            self.tools,
            self.context,
            tracer,
            tracker,
            self.config,
            approve or self.approve,
            on_step,
            cancel=self._cancel,
            policies=policies,
            turn_format=self._stored_format(state),
            caller_cancelled=caller_cancelled or (lambda: False),
        )

    def _model_name(self) -> str:
        return getattr(self.llm, "name", type(self.llm).__name__)

    # -- async and streaming -------------------------------------------------------------------------

    async def arun(self, goal: str, *, budget: Budget | None = None) -> RunResult:
        """``run`` for asyncio: the model runs in a worker thread (llama.cpp calls block)."""
        return await asyncio.to_thread(self.run, goal, budget=budget)

    def stream(self, goal: str, *, budget: Budget | None = None) -> Iterator[Any]:
        """Yield trace events as they happen (model turns, tool calls, results, the answer), then the
        :class:`RunResult`. A tool call is made only once its event has been read: a stream kept in
        a variable and no longer read stops before its next call. Closing it early (``break`` out of
        ``for e in agent.stream(...)`` drops and so closes it; a stream kept in a variable needs
        ``close()``) or Ctrl-C while it waits cancels the run and waits for it: the model turn stops
        at its next token, a running ``python`` cell is stopped, any other tool call already running
        finishes first; the trace says "cancelled"."""
        return events_of(lambda callback: self.run(goal, budget=budget, callbacks=[callback]), self.cancel)

    def astream(self, goal: str, *, budget: Budget | None = None) -> AsyncIterator[Any]:
        """``stream`` for asyncio; ``aclose()`` after an early ``break``, or the reading task being
        cancelled (a timeout), cancels the run the same way."""
        return async_events_of(
            lambda callback: self.run(goal, budget=budget, callbacks=[callback]), self.cancel
        )

    def chat(self) -> ChatSession:
        """A multi-turn session: each message sees the earlier turns (and memory, if given)."""
        return ChatSession(self)
