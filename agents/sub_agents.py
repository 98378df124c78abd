"""Sub-agents: an agent offered to another agent as a tool (``Agent.as_tool``).

The caller writes a ``task``; the sub-agent runs it to an answer with its own tools, memory and
budget, and its answer (with the passages it cited) is the tool's result. Called from a run, the
sub-run nests under the caller: its events go to the caller's trace, its risky calls to the
caller's approver (those not approved count among the caller's ``denied_calls``), its tokens count
against the caller's budget, and it stops when the caller's run is cancelled.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from heron.agents.budget import Budget
from heron.tools import Artifact, Tool, ToolResult, tool
from heron.tools.context import current_call
from heron.tracing import EventCallback

if TYPE_CHECKING:
    from heron.agents.agent import Agent


def sub_agent_tool(agent: Agent, name: str, description: str, budget: Budget | None = None) -> Tool:
    """``agent`` as a tool named ``name``; see :meth:`heron.agents.agent.Agent.as_tool`."""

    def delegate(task: str) -> ToolResult:
        scope = current_call.get()
        if scope is None:  # called outside a run (tests, scripts): a run of its own
            result = agent.run(task, budget=budget)
        else:
            scope.on_cancel(agent.cancel)  # its model turn and a cell it runs stop with the caller's
            own = budget or agent.config.budget
            if scope.tokens_left is not None:  # no more than the caller has left
                own = own.model_copy(update={"max_tokens": max(64, min(own.max_tokens, scope.tokens_left))})
            run_id = f"{scope.run_id}.{name}-{scope.call_id[:6]}"
            generated = _Generated(run_id)
            try:
                result = agent.run(
                    task,
                    budget=own,
                    # (counted first: a later callback may stop the run, e.g. heron chat's Ctrl-C)
                    callbacks=[generated, functools.partial(_forward_written, scope.emit)],
                    run_id=run_id,
                    parent=(scope.run_id, scope.call_id),
                    approve=scope.approve,
                    caller_cancelled=scope.cancelled,
                )
            except BaseException:  # stopped or failed: its tokens were spent all the same, the caller pays
                scope.tokens += generated.tokens
                raise
            finally:  # (from its approval events: also when it stopped before its result could say so)
                scope.denied += generated.denied
            scope.tokens += result.usage.completion_tokens
        text = result.answer if result.answered else f"(no answer: {result.note or result.status})"
        if result.answer_cut:  # the caller's model should know the sub-agent's answer ends unfinished
            text += " [cut off at the answer's length limit]"
        citations = [
            Artifact(kind="citation", uri=c.source, metadata={"id": c.id, "text": c.text})
            for c in result.citations
        ]
        return ToolResult(text=text, is_error=not result.answered, artifacts=citations)

    delegate.__doc__ = f"""{description}

    Args:
        task: what to do, in full sentences: the sub-agent sees only this
    """
    delegate.__name__ = name
    return tool(name=name, description=description)(delegate)


def _forward_written(emit: EventCallback, event: Any) -> None:
    """A sub-run's event for its caller's trace: what trace files keep (not streamed tokens or
    progress, which belong to the sub-run's own answer and bars)."""
    if getattr(event, "type", "") not in ("token", "tool_progress"):
        emit(event)


class _Generated:
    """Counts the tokens a sub-run (and the sub-runs it starts) generates, from its model turns' events,
    and the calls their approver did not approve: what its caller pays and reports, also when the run
    is stopped before its result says so."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.tokens = 0
        self.denied = 0

    def __call__(self, event: Any) -> None:
        if not (event.run_id == self.run_id or event.run_id.startswith(self.run_id + ".")):
            return
        if event.type == "model_turn":
            self.tokens += event.completion_tokens
        elif event.type == "approval" and event.decision == "denied":
            self.denied += 1
