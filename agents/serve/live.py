"""A run in progress on ``heron serve``: its events for any number of followers, its pending approvals,
and its cancellation.

The agent runs in a worker thread; :meth:`LiveRun.emit` hands each trace event to the server's event
loop, where followers (a streamed chat completion, the page's run view) read them in order.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from heron.agents.approval import ApprovalRequest, ApprovalResult

if TYPE_CHECKING:
    from heron.agents.result import RunResult

_END = object()


@dataclass
class PendingApproval:
    """A risky call waiting for a decision from the runs API (the page's approve / deny / edit)."""

    id: str
    tool: str
    arguments: dict[str, Any]
    risk: str
    decided: threading.Event = field(default_factory=threading.Event)
    result: ApprovalResult | None = None


class LiveRun:
    """One served run: queued, then running in a worker thread, then ended (``status``)."""

    def __init__(
        self,
        run_id: str,
        profile: str,
        goal: str,
        loop: asyncio.AbstractEventLoop,
        *,
        allow: Sequence[str] = (),
        ask: bool = False,
        approval_seconds: float = 300.0,
        kind: str = "api",
    ) -> None:
        self.run_id = run_id
        self.kind = kind
        self.profile = profile
        self.goal = goal
        self.created = time.time()
        self.status = "queued"
        self.loop = loop
        self.allow = frozenset(allow)
        self.ask = ask
        self.approval_seconds = approval_seconds
        self.events: list[dict[str, Any]] = []
        self.result: RunResult | None = None
        self.error = ""
        self.stop: Callable[[], None] | None = None  # stops the run's agent at its next token
        self.cancelled = threading.Event()
        self.approvals: dict[str, PendingApproval] = {}
        self._followers: list[asyncio.Queue[Any]] = []
        self.ended = asyncio.Event()

    # -- events (from the worker thread) --------------------------------------------------------------

    def emit(self, event: Any) -> None:
        """A trace event, or a plain dict of the server's own (``approval_needed``)."""
        data = event if isinstance(event, dict) else event.model_dump(mode="json")
        if self.cancelled.is_set() and self.stop is not None:
            self.stop()  # (again: a run that starts clears a cancel that came just before)
        self.loop.call_soon_threadsafe(self._publish, data)

    def _publish(self, data: dict[str, Any]) -> None:
        self.events.append(data)
        for queue in self._followers:
            queue.put_nowait(data)

    def end(self, status: str, error: str = "") -> None:
        """Called on the event loop when the worker is done: followers see the end."""
        self.status, self.error = status, error
        self.events = [e for e in self.events if e.get("type") != "token"]  # the answer holds them
        self.ended.set()
        for queue in self._followers:
            queue.put_nowait(_END)

    async def follow(self) -> AsyncIterator[dict[str, Any]]:
        """Every event so far, then each new one, until the run ends."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        backlog = list(self.events)
        self._followers.append(queue)
        try:
            for data in backlog:
                yield data
            if self.ended.is_set():
                return
            while True:
                item = await queue.get()  # (copy and subscription happen together on the loop)
                if item is _END:
                    return
                yield item
        finally:
            self._followers.remove(queue)

    # -- control ----------------------------------------------------------------------------------------

    def cancel(self) -> None:
        """Stop the run: at its next token if it is running, before it starts if it is queued; a pending
        approval is denied."""
        self.cancelled.set()
        if self.stop is not None:
            self.stop()
        for pending in list(self.approvals.values()):
            self.decide(pending.id, ApprovalResult.deny("the run was cancelled"))

    def approver(self, request: ApprovalRequest) -> ApprovalResult:
        """The run's approval callback (worker thread): the profile's allowed tools run; others wait
        for a decision through the runs API when the request asked for approvals, else are denied."""
        if self.cancelled.is_set():
            return ApprovalResult.deny("the run was cancelled")
        if request.tool in self.allow:
            return ApprovalResult.approve(request.arguments)
        if not self.ask:
            return ApprovalResult.deny(
                f"{request.tool} needs approval: this request did not ask for approvals, and the profile "
                "does not allow the tool"
            )
        pending = PendingApproval(uuid.uuid4().hex[:12], request.tool, dict(request.arguments), request.risk)
        self.approvals[pending.id] = pending
        self.emit(
            {
                "type": "approval_needed",
                "run_id": self.run_id,
                "step": request.step,
                "time": time.time(),
                "approval_id": pending.id,
                "tool": request.tool,
                "arguments": pending.arguments,
                "risk": request.risk,
            }
        )
        if self.cancelled.is_set():
            self.decide(pending.id, ApprovalResult.deny("the run was cancelled"))
        if (
            not pending.decided.wait(self.approval_seconds)
            and self.approvals.pop(pending.id, None) is not None
        ):
            return ApprovalResult.deny(f"no decision within {self.approval_seconds:g} seconds")
        pending.decided.wait()  # (a decision that landed as the wait timed out is set at once)
        assert pending.result is not None
        return pending.result

    def decide(self, approval_id: str, result: ApprovalResult) -> bool:
        """Answer a pending approval; False if there is none with that id (decided, timed out)."""
        pending = self.approvals.pop(approval_id, None)
        if pending is None:
            return False
        pending.result = result
        pending.decided.set()
        return True

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.run_id,
            "kind": self.kind,
            "name": self.profile,
            "goal": self.goal,
            "status": self.status,
            "created": self.created,
            "live": not self.ended.is_set(),
            "cancel_requested": self.cancelled.is_set(),
            "pending_approvals": [
                {"approval_id": p.id, "tool": p.tool, "arguments": p.arguments, "risk": p.risk}
                for p in list(self.approvals.values())
            ],
        }
