"""The run context a tool receives: workspace, settings, the user's deps and the session's sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from heron.config import Settings, load_settings
from heron.errors import UsageError
from heron.gpu_share import GpuShare

if TYPE_CHECKING:
    from heron.llm.base import LLM
    from heron.tools.sandbox import Sandbox

DepsT = TypeVar("DepsT")

ProgressCallback = Callable[[int, int, str], None]  # (done, total, what is being done)


@dataclass
class CallScope:
    """The run a tool call belongs to, for a tool that runs an agent of its own (``Agent.as_tool``):
    its trace events go to ``emit`` (the caller's trace), its risky calls to ``approve`` (the
    caller's approver), it generates at most ``tokens_left`` tokens, and those it generates are added
    to ``tokens`` (the caller's budget pays them), its calls not approved to ``denied`` (the
    caller's count); it stops when ``cancelled()`` says the caller's run was cancelled."""

    run_id: str
    call_id: str
    emit: Callable[[Any], None]
    approve: Callable[[Any], Any]
    tokens_left: int | None = None  # what the caller's budget has left to generate
    tokens: int = 0
    denied: int = 0  # risky calls of the agent the tool ran that the approver did not approve
    cancelled: Callable[[], bool] = lambda: False  # the caller's run was cancelled: stop with it
    _stops: list[Callable[[], None]] = field(default_factory=list, repr=False)

    def on_cancel(self, stop: Callable[[], None]) -> None:
        """Have ``stop`` called at once when the caller's run is cancelled while this call runs: a
        sub-agent stops its own run with it, a ``python`` cell it runs included."""
        self._stops.append(stop)

    def cancel(self) -> None:
        """The caller's run was cancelled: run what ``on_cancel`` registered."""
        for stop in list(self._stops):
            stop()


current_call: ContextVar[CallScope | None] = ContextVar("heron_current_call", default=None)
_on_progress: ContextVar[ProgressCallback | None] = ContextVar("heron_progress", default=None)


class ToolContext(Generic[DepsT]):
    """Everything a tool may use besides its arguments, passed explicitly (no globals).

    A tool asks for it with a parameter annotated ``ToolContext``; that parameter is filled by the
    caller and never appears in the tool's schema::

        @tool
        def read_note(name: str, ctx: ToolContext[MyDeps]) -> str:
            \"\"\"Read a note.\"\"\"
            return ctx.deps.notes[name]

    One context belongs to one session. Its sandbox starts on first use and stops on ``close()``
    (or at the end of a ``with`` block), so every process the session started ends with it.
    ``gpu`` is the session's :class:`~heron.gpu_share.GpuShare` (the agent registers its LLM there, so
    a tool running a big GPU job can make room); long tools call ``report_progress``. ``llm`` is the
    model of the agent calling the tool, once loaded (None outside an agent), for a tool that asks it
    a question of its own (``retrieve``'s relevance check, :mod:`heron.memory.relevance`).
    """

    def __init__(
        self,
        workspace: Path | str,
        settings: Settings | None = None,
        deps: DepsT = None,  # type: ignore[assignment]
        sandbox: Sandbox | None = None,
        gpu: GpuShare | None = None,
    ) -> None:
        self.workspace = Path(workspace).expanduser().resolve()
        try:
            self.workspace.mkdir(parents=True, exist_ok=True)
        except OSError as exc:  # a file in its way, no rights
            raise UsageError(
                f"the workspace {self.workspace} cannot be made: {exc.strerror or exc}",
                "give a folder you can write to (the workspace argument, --workspace, or HERON_DATA_DIR, "
                "under which the default workspace is made)",
            ) from exc
        self.settings = settings if settings is not None else load_settings()
        self.deps = deps
        self._sandbox = sandbox
        self._owns_sandbox = sandbox is None
        self.gpu = gpu if gpu is not None else GpuShare(self.settings.image.gpu_sharing)
        self.llm: LLM | None = None
        self._calls: list[CallScope] = []  # the tool calls running now (concurrent ones included)

    @contextmanager
    def calling(self, scope: CallScope) -> Iterator[None]:
        """Run one tool call inside the block: ``current_call`` gives the tool its ``scope``, and
        ``cancel_calls`` reaches it while it runs."""
        token = current_call.set(scope)
        self._calls.append(scope)
        try:
            yield
        finally:
            self._calls.remove(scope)
            current_call.reset(token)

    def cancel_calls(self) -> None:
        """The run was cancelled: stop what the running calls registered (``CallScope.on_cancel``)
        and a ``python`` cell running now (its sandbox restarts; an idle sandbox is left alone)."""
        if self._sandbox is not None:
            self._sandbox.interrupt("the run was cancelled")
        for scope in list(self._calls):
            scope.cancel()

    def report_progress(self, done: int, total: int, label: str = "") -> None:
        """Tell whoever watches (the REPL's progress bar, stream callbacks) how far a long call is."""
        callback = _on_progress.get()
        if callback is not None:
            callback(done, total, label)

    @contextmanager
    def progress_to(self, callback: ProgressCallback | None) -> Iterator[None]:
        """Send ``report_progress`` calls to ``callback`` inside the block (one tool call; per thread,
        so the concurrent calls of a turn each report to their own)."""
        token = _on_progress.set(callback)
        try:
            yield
        finally:
            _on_progress.reset(token)

    @property
    def sandbox(self) -> Sandbox:
        """The session's code sandbox; created on first access, its process started on the first cell."""
        if self._sandbox is None:
            from heron.tools.sandbox import Sandbox  # the sandbox is only paid for when used

            self._sandbox = Sandbox(self.workspace, self.settings.sandbox)
        return self._sandbox

    @property
    def started_sandbox(self) -> Sandbox | None:
        """The session's sandbox if something used it, else None (never starts one)."""
        return self._sandbox

    def close(self) -> None:
        """Stop the sandbox this context started (a sandbox passed in is left to its owner)."""
        if self._sandbox is not None and self._owns_sandbox:
            self._sandbox.close()
            self._sandbox = None

    def __enter__(self) -> ToolContext[DepsT]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        deps: Any = type(self.deps).__name__ if self.deps is not None else None
        return f"ToolContext(workspace={str(self.workspace)!r}, deps={deps})"
