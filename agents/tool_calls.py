"""Making a turn's tool calls for the step loop: approval, concurrency, progress, retries, errors as
results, the result's truncation and citations, checkpoints, and the tool messages the model reads.

The model never sees a Python exception: whatever the tool did, one ``tool`` message goes into the
history (its result, or an error it can act on), and the run goes on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Any

from heron.agents.actions import ToolCallAction
from heron.agents.approval import ApprovalCallback, ApprovalRequest, ask_together
from heron.agents.config import AgentConfig
from heron.agents.state import PendingCall, RunState
from heron.agents.templates import render
from heron.errors import ModelRetry, RunError, ToolExecutionError, UsageError
from heron.llm.types import Message
from heron.tools import Risk, Tool, ToolContext, ToolResult
from heron.tracing import (
    ApprovalEvent,
    RetrievalEvent,
    ToolCallEvent,
    ToolProgressEvent,
    ToolResultEvent,
    Tracer,
)


@dataclass
class _Outcome:
    """What one call produced, before it is written into the run's state (in the run's own thread)."""

    result: ToolResult
    seconds: float
    retry_hint: str | None = None  # the model's arguments were wrong: this hint, not the result


class ToolCaller:
    """Runs the model's tool calls and writes their results into the run's history.

    A turn's calls are one batch (:meth:`call_batch`): approvals of its risky calls are asked
    together before any runs; the calls run concurrently when every tool in the batch is
    ``concurrent`` (reads only), else in order; each finished call is checkpointed, and the results
    go to the model in the order of the calls.
    """

    def __init__(
        self,
        tools: Sequence[Tool],
        context: ToolContext,
        tracer: Tracer,
        config: AgentConfig,
        approve: ApprovalCallback,
        budget_text: Callable[[], str],
    ) -> None:
        """``budget_text``: the budget left, as the end of every result says it."""
        self.tools = {t.name: t for t in tools}
        self.context = context
        self.tracer = tracer
        self.config = config
        self.approve = approve
        self.budget_text = budget_text

    def call(
        self,
        state: RunState,
        name: str,
        arguments: dict[str, Any],
        final: str,
        cut: Sequence[str] = (),
        checkpoint: Callable[[RunState], None] | None = None,
    ) -> None:
        """One call, as a batch of one (see :meth:`call_batch`)."""
        self.call_batch(
            state, [ToolCallAction(tool=name, arguments=arguments, cut=list(cut))], final, checkpoint
        )

    def call_batch(
        self,
        state: RunState,
        calls: Sequence[ToolCallAction],
        final: str,
        checkpoint: Callable[[RunState], None] | None = None,
    ) -> None:
        """Make a turn's calls and give their results to the model; records whether any failed (so a
        resumed plan step knows whether to try again). ``final``: how hints name finishing;
        ``checkpoint``: called with the state once the batch is recorded and after each finished call."""
        state.pending_calls = [
            PendingCall(call_id=uuid.uuid4().hex[:12], tool=c.tool, arguments=c.arguments, cut=c.cut)
            for c in calls
        ]
        for pending in state.pending_calls:
            if pending.tool in self.tools:
                self.tracer.emit(
                    ToolCallEvent(
                        run_id=state.run_id,
                        step=state.step + 1,
                        call_id=pending.call_id,
                        tool=pending.tool,
                        arguments=pending.arguments,
                    )
                )
        (checkpoint or _no_checkpoint)(state)
        self.finish_pending(state, final, checkpoint)

    def finish_pending(
        self, state: RunState, final: str, checkpoint: Callable[[RunState], None] | None = None
    ) -> None:
        """Make the calls of ``state.pending_calls`` that have not finished (all of them, or on resume
        the rest), then write every call's tool message into the history, in the calls' order."""
        checkpoint = checkpoint or _no_checkpoint
        batch = state.pending_calls
        todo = [p for p in batch if p.message is None]
        for pending in todo:
            if (
                pending.tool not in self.tools
            ):  # the grammar admits only known names; a backend without one may not
                hint = f"there is no tool {pending.tool!r}; use one of: {', '.join(self.tools)}"
                pending.message = render(
                    "agent_retry", tool=pending.tool, problem=hint, budget=self.budget_text()
                )
                pending.failed = True
        self._approve(state, [p for p in todo if p.message is None], final)
        runnable = [p for p in todo if p.message is None]
        step = state.step + 1
        if len(runnable) > 1 and all(self.tools[p.tool].concurrent for p in runnable):
            with ThreadPoolExecutor(len(runnable), thread_name_prefix="heron-tool") as pool:
                futures = {pool.submit(self._run, state.run_id, step, p): p for p in runnable}
                for future in as_completed(futures):
                    self._record(state, futures[future], future.result())
                    checkpoint(state)
        else:
            for pending in runnable:
                self._record(state, pending, self._run(state.run_id, step, pending))
                checkpoint(state)
        for pending in batch:
            state.messages.append(Message(role="tool", content=pending.message or "", name=pending.tool))
        state.step_calls += sum(p.tool in self.tools for p in batch)
        state.tool_errors += sum(p.failed for p in batch)
        state.last_call_failed = any(p.failed for p in batch)
        state.pending_calls = []

    def _approve(self, state: RunState, calls: Sequence[PendingCall], final: str) -> None:
        """Ask about the batch's risky calls, all before any call runs; a denied call gets the
        model's explanation as its message, an edited one its new arguments."""
        risky = [p for p in calls if self.tools[p.tool].risk == Risk.HIGH]
        step = state.step + 1
        requests = [ApprovalRequest(p.tool, p.arguments, self.tools[p.tool].risk.value, step) for p in risky]
        for pending, decision in zip(risky, ask_together(self.approve, requests), strict=True):
            self.tracer.emit(
                ApprovalEvent(
                    run_id=state.run_id,
                    step=step,
                    call_id=pending.call_id,
                    tool=pending.tool,
                    decision=decision.decision,
                    arguments=decision.arguments,
                    reason=decision.reason,
                )
            )
            if decision.decision == "denied":
                pending.message = render(
                    "agent_denied",
                    tool=pending.tool,
                    reason=decision.reason or "denied",
                    final=final,
                    budget=self.budget_text(),
                )
            else:
                pending.arguments = decision.arguments

    def _run(self, run_id: str, step: int, pending: PendingCall) -> _Outcome:
        """Make one call (in a worker thread when the batch runs concurrently): touches no run state."""
        tool = self.tools[pending.tool]
        started = time.perf_counter()

        def progress(done: int, total: int, label: str) -> None:
            self.tracer.emit(
                ToolProgressEvent(
                    run_id=run_id,
                    step=step,
                    call_id=pending.call_id,
                    tool=tool.name,
                    done=done,
                    total=total,
                    label=label,
                )
            )

        try:
            with self.context.progress_to(progress):
                result = self._invoke_with_retries(tool, pending.arguments)
        except ModelRetry as exc:
            hint = render("agent_retry", tool=tool.name, problem=str(exc), budget=self.budget_text())
            return _Outcome(ToolResult(text=str(exc), is_error=True), time.perf_counter() - started, hint)
        except (RunError, UsageError) as exc:  # the tool failed; the model sees why and goes on
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            result = ToolResult(text=f"{exc}{cause}", is_error=True)
        return _Outcome(result, time.perf_counter() - started)

    def _record(self, state: RunState, pending: PendingCall, outcome: _Outcome) -> None:
        """A finished call into the run's state: its trace event, files, citations and tool message."""
        result = outcome.result
        artifacts = [a.model_dump(mode="json") for a in result.artifacts]
        state.artifacts.extend(a for a in artifacts if a.get("kind") in ("file", "image"))
        self.tracer.emit(
            ToolResultEvent(
                run_id=state.run_id,
                step=state.step + 1,
                call_id=pending.call_id,
                tool=pending.tool,
                text=result.text,
                is_error=result.is_error,
                artifacts=artifacts,
                seconds=round(outcome.seconds, 4),
            )
        )
        pending.failed = result.is_error
        if outcome.retry_hint is not None:
            pending.message = outcome.retry_hint
            return
        self._record_citations(state, result, pending.arguments)
        pending.message = self._result_message(pending.tool, result, pending.cut)

    def _result_message(self, name: str, result: ToolResult, cut: Sequence[str]) -> str:
        """The tool message: the result (cut to ``config.result_chars``), files it made, the budget."""
        text = result.text
        if cut:  # the grammar's length bound ended the string: say so, the result may well show it
            names = ", ".join(cut)
            text = f"(note: {names} reached its length limit and was cut off; write it shorter)\n{text}"
        limit = self.config.result_chars
        if len(text) > limit:
            text = text[:limit] + f"\n... ({len(result.text) - limit} more characters cut)"
        files = [a.path or a.uri for a in result.artifacts if a.kind in ("file", "image")]
        return render(
            "agent_tool_result",
            tool=name,
            is_error=result.is_error,
            text=text,
            artifacts=[str(f) for f in files if f],
            budget=self.budget_text(),
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


def _no_checkpoint(state: RunState) -> None:
    pass
