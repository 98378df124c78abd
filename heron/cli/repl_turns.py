"""One REPL question at a time: the run works in a thread, the terminal stays with the main thread.

The main thread shows each event as the worker emits it, asks the user about risky tool calls on
the worker's behalf, and turns Ctrl-C into a cancel request. Cancelling is cooperative and real:
the worker's event callback raises :class:`~heron.errors.RunCancelledError` at its next event (a
streamed reply stops at its next token, a running ``python`` cell is stopped, another tool call
running at that moment returns first), so no further model turn or tool call starts. The main
thread waits for the worker to end before it returns, so the model is free again for the next
question.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from heron.agents import ApprovalRequest, ApprovalResult
from heron.errors import RunCancelledError
from heron.tracing import EventCallback, RunFinishedEvent

Work = Callable[[Sequence[EventCallback]], Any]
"""A question's run: called in the worker thread with the callbacks it must pass to the run."""

# How often the main thread looks for the worker's events. It sleeps between looks rather than wait in
# queue.get: a Ctrl-C that lands inside a Condition's wait can leave its lock released twice, and
# the turn then ended in "unexpected error (RuntimeError): release unlocked lock" instead of stopping
# (the risky call it should have stopped ran). A sleep is interrupted cleanly.
_POLL_SECONDS = 0.05


@dataclass
class TurnOutcome:
    """How a question ended: its result, the error it raised, or stopped by the user."""

    result: Any = None
    error: BaseException | None = None
    cancelled: bool = False


class CancelToken:
    """Set by the main thread on Ctrl-C; the worker's event callback raises once it is set, and
    ``on_cancel`` (the agent's ``cancel``) stops a model turn at its next token."""

    def __init__(self, on_cancel: Callable[[], None] | None = None) -> None:
        self._event = threading.Event()
        self._on_cancel = on_cancel

    def cancel(self) -> None:
        self._event.set()
        if self._on_cancel is not None:
            self._on_cancel()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self, event: Any) -> None:
        """An event callback: stop the run at this event if the user cancelled it."""
        # The run's own closing event is let through, so the trace records how the run ended.
        if self._event.is_set() and not isinstance(event, RunFinishedEvent):
            raise RunCancelledError("stopped by the user (Ctrl-C)")


@dataclass
class _ApprovalAsk:
    requests: list[ApprovalRequest]  # one call, or the risky calls of one turn (asked together)
    answer: queue.Queue[list[ApprovalResult]]


class _Approver:
    """The agent's approval callback, also for a whole batch (a :class:`BatchApprover`)."""

    def __init__(self, runner: TurnRunner) -> None:
        self._runner = runner

    def __call__(self, request: ApprovalRequest) -> ApprovalResult:
        return self._runner.ask([request])[0]

    def approve_batch(self, requests: Sequence[ApprovalRequest]) -> list[ApprovalResult]:
        return self._runner.ask(list(requests))


class TurnRunner:
    """Runs one question's work in a worker thread and serves its events and approval requests.

    ``show``: displays an event (main thread). ``ask_approval``: asks the user about a risky call
    (main thread; may raise KeyboardInterrupt or EOFError, which deny the call and stop the run).
    ``on_stopping``: tells the user a Ctrl-C was received and the run is winding down.
    """

    def __init__(
        self,
        show: Callable[[Any], None],
        ask_approval: Callable[[ApprovalRequest], ApprovalResult],
        on_stopping: Callable[[], None],
        ask_batch_approval: Callable[[list[ApprovalRequest]], list[ApprovalResult]] | None = None,
    ) -> None:
        self._show = show
        self._ask_approval = ask_approval
        self._ask_batch = ask_batch_approval or (lambda requests: [ask_approval(r) for r in requests])
        self.approver = _Approver(self)
        self._on_stopping = on_stopping
        self._inbox: queue.Queue[tuple[str, Any]] | None = None

    def ask(self, requests: list[ApprovalRequest]) -> list[ApprovalResult]:
        """Approval of one call or a batch (``approver``): asked in the worker, answered by the user in
        the main thread."""
        inbox = self._inbox
        if inbox is None:  # no question is running in the REPL: nobody to ask
            return [ApprovalResult.deny("no user present to approve the call") for _ in requests]
        ask = _ApprovalAsk(requests, queue.Queue(maxsize=1))
        inbox.put(("approval", ask))
        return ask.answer.get()

    def run(self, work: Work, on_cancel: Callable[[], None] | None = None) -> TurnOutcome:
        """Run ``work`` to its end; Ctrl-C meanwhile cancels it. Never raises for the work's errors."""
        inbox: queue.Queue[tuple[str, Any]] = queue.Queue()
        token = CancelToken(on_cancel)
        outcome = TurnOutcome()

        def forward(event: Any) -> None:
            inbox.put(("event", event))

        def body() -> None:
            try:
                # check first: an event that arrives after Ctrl-C stops the run and is not shown
                outcome.result = work([token.check, forward])
            except RunCancelledError:
                outcome.cancelled = True
            except BaseException as exc:  # shown to the user by the main thread; the REPL goes on
                outcome.error = exc
            finally:
                inbox.put(("done", None))

        self._inbox = inbox
        worker = threading.Thread(target=body, name="heron-chat-turn", daemon=True)
        worker.start()
        try:
            display_error = self._serve(inbox, token)
        finally:
            self._inbox = None
        worker.join()  # the model and tools are free again once the worker has ended
        if outcome.error is None and not outcome.cancelled:
            outcome.error = display_error
        return outcome

    def _serve(self, inbox: queue.Queue[tuple[str, Any]], token: CancelToken) -> Exception | None:
        """Show events and answer approvals until the worker is done; the first error in showing
        something is kept and returned, and serving goes on (the worker must never be left waiting)."""
        display_error: Exception | None = None
        while True:
            try:
                try:
                    kind, payload = inbox.get_nowait()
                except queue.Empty:
                    time.sleep(_POLL_SECONDS)
                    continue
                if kind == "done":
                    return display_error
                if kind == "event":
                    self._show(payload)
                elif kind == "approval":
                    self._decide(payload, token)
            except KeyboardInterrupt:  # again while stopping: say again what is being waited for
                token.cancel()
                self._on_stopping()
            except Exception as exc:
                display_error = display_error or exc

    def _decide(self, ask: _ApprovalAsk, token: CancelToken) -> None:
        decisions = [ApprovalResult.deny("stopped by the user") for _ in ask.requests]
        try:
            if len(ask.requests) == 1:
                decisions = [self._ask_approval(ask.requests[0])]
            else:
                decisions = self._ask_batch(ask.requests)
        except (KeyboardInterrupt, EOFError):
            token.cancel()
            self._on_stopping()
        finally:
            ask.answer.put(decisions)  # the worker waits for this, whatever happened here
