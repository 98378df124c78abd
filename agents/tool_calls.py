"""Making one tool call for the step loop: approval, progress, retries, errors as results, the
result's truncation and citations, and the tool message the model reads next.

The model never sees a Python exception: whatever the tool did, one ``tool`` message goes into the
history (its result, or an error it can act on), and the run goes on.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from heron.agents.approval import ApprovalCallback, ApprovalRequest
from heron.agents.config import AgentConfig
from heron.agents.state import RunState
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


class ToolCaller:
    """Runs the model's tool calls and writes their results into the run's history."""

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
        self, state: RunState, name: str, arguments: dict[str, Any], final: str, cut: Sequence[str] = ()
    ) -> None:
        """Make one call and give its result to the model; records whether it failed (checkpointed with
        the call, so a resumed plan step knows whether to try again). ``cut``: string arguments the
        grammar's length bound ended; ``final``: the action that ends the loop, named in hints."""
        errors = state.tool_errors
        self._make_call(state, name, arguments, final, cut)
        state.last_call_failed = state.tool_errors > errors

    def _make_call(
        self, state: RunState, name: str, arguments: dict[str, Any], final: str, cut: Sequence[str]
    ) -> None:
        tool = self.tools.get(name)
        if tool is None:  # the grammar admits only known names; a backend without grammars may not
            hint = f"there is no tool {name!r}; use one of: {', '.join(self.tools)}"
            self._message(
                state, render("agent_retry", tool=name, problem=hint, budget=self.budget_text()), name
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
            approved = self._approved_arguments(state, tool, arguments, call_id, final)
            if approved is None:
                return
            arguments = approved
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
            self._emit_result(state, call_id, name, ToolResult(text=str(exc), is_error=True), started)
            hint = render("agent_retry", tool=name, problem=str(exc), budget=self.budget_text())
            self._message(state, hint, name)
            return
        except (RunError, UsageError) as exc:  # the tool failed; the model sees why and goes on
            cause = f" ({type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
            result = ToolResult(text=f"{exc}{cause}", is_error=True)
        state.tool_errors += int(result.is_error)
        self._emit_result(state, call_id, name, result, started)
        self._record_citations(state, result, arguments)
        self._message(state, self._result_message(name, result, cut), name)

    def _approved_arguments(
        self, state: RunState, tool: Tool, arguments: dict[str, Any], call_id: str, final: str
    ) -> dict[str, Any] | None:
        """Ask the approval callback about a risky call: the arguments to run it with (the user may
        edit them), or None when denied (the model is told, and why)."""
        step = state.step + 1
        decision = self.approve(ApprovalRequest(tool.name, arguments, tool.risk.value, step))
        self.tracer.emit(
            ApprovalEvent(
                run_id=state.run_id,
                step=step,
                call_id=call_id,
                tool=tool.name,
                decision=decision.decision,
                arguments=decision.arguments,
                reason=decision.reason,
            )
        )
        if decision.decision != "denied":
            return decision.arguments
        denied = render(
            "agent_denied",
            tool=tool.name,
            reason=decision.reason or "denied",
            final=final,
            budget=self.budget_text(),
        )
        self._message(state, denied, tool.name)
        return None

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

    def _message(self, state: RunState, text: str, tool: str) -> None:
        state.messages.append(Message(role="tool", content=text, name=tool))
