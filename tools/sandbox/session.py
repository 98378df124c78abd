"""``Sandbox``: one persistent, isolated Python worker per session, like a notebook kernel."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
import warnings
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from heron.config import SandboxSettings
from heron.errors import SandboxDiedError, SandboxError
from heron.tools.sandbox.cell import CellResult
from heron.tools.sandbox.processes import descendants, pids_with_marker
from heron.tools.sandbox.worker_process import WorkerProcess
from heron.tools.sandbox.workspace_guard import changed_files, remove_new_files, snapshot

log = logging.getLogger("heron.sandbox")

UNSAFE_WARNING = (
    "UNSAFE: sandbox.unsafe_no_sandbox is on. Model-written code runs DIRECTLY ON THIS MACHINE as "
    "this user, with access to your files, network and secrets. Turn it off outside debugging."
)
UNSAFE_SECCOMP_WARNING = (
    "UNSAFE: sandbox.unsafe_no_seccomp is on. Sandboxed code may make every system call (keyctl, ptrace, "
    "bpf, ...), the way containers have been escaped through kernel bugs. Turn it off outside debugging."
)


class UnsafeSandboxWarning(RuntimeWarning):
    """Emitted whenever a worker starts without bubblewrap or without its system-call filter
    (``sandbox.unsafe_no_sandbox``, ``sandbox.unsafe_no_seccomp``)."""


class Sandbox:
    """A persistent Python worker in bubblewrap: variables survive between cells.

    >>> with Sandbox(Path("work"), settings.sandbox) as box:
    ...     box.run_cell("x = 21")
    ...     box.run_cell("x * 2").value
    '42'

    The worker starts on the first cell. A cell that passes its wall-clock or CPU limit, runs out
    of memory, fills the workspace or kills its own process stops the whole sandbox (every process
    in it); the result says the state was lost and a fresh worker takes the next cell.
    """

    def __init__(self, workspace: Path | str, settings: SandboxSettings | None = None) -> None:
        self.workspace = Path(workspace).expanduser().resolve()
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.settings = settings or SandboxSettings()
        self.session_id = uuid.uuid4().hex[:12]
        self.marker = f"heron-sandbox-{self.session_id}"
        self.restarts = 0
        self._lock = threading.RLock()  # one cell at a time; start, kill and close under it too
        self._cell_lock = threading.Lock()  # guards _cell_worker, for interrupt from another thread
        self._cell_worker: WorkerProcess | None = None  # the worker while a cell runs in it
        self._worker: WorkerProcess | None = None
        self._pending_loss: str | None = None  # a stop between cells, reported with the next cell
        self._closed = False

    @property
    def running(self) -> bool:
        return self._worker is not None and self._worker.alive()

    @property
    def sandboxed(self) -> bool:
        return not self.settings.unsafe_no_sandbox

    def start(self) -> None:
        """Start the worker now (otherwise the first cell does); raises SandboxUnavailableError."""
        with self._lock:
            if self._closed:
                raise SandboxError("this sandbox was closed; create a new one")
            if self._worker is None or not self._worker.alive():
                self._retire_worker()
                self._worker = self._launch()

    def run_cell(
        self, code: str, timeout: float | None = None, cancelled: Callable[[], bool] | None = None
    ) -> CellResult:
        """Run ``code`` in the session; ``timeout`` overrides the wall-clock limit of the settings.
        ``cancelled``: whether the run asking was cancelled; read as the cell becomes what
        ``interrupt`` stops, so a cancel just before the cell starts is not missed (the cell does not
        run) and one after it stops the cell."""
        not_run = CellResult(error="the cell did not run: the run was cancelled")
        with self._lock:
            if cancelled is not None and cancelled():  # (before a loss between cells is told)
                return not_run
            lost, removed = self._take_loss()
            self.start()
            worker = self._worker
            assert worker is not None
            wall = timeout if timeout is not None else self.settings.wall_seconds
            before = snapshot(self.workspace)
            request = {
                "op": "run",
                "code": code,
                "cpu_seconds": self.settings.cpu_seconds,
                "max_chars": self.settings.output_max_chars,
            }
            with self._cell_lock:
                if cancelled is not None and cancelled():  # (the loss is told with the next cell)
                    self._pending_loss = lost
                    return not_run.model_copy(update={"removed_files": removed})
                self._cell_worker = worker  # what ``interrupt`` may stop: only a running cell's worker
            started = time.monotonic()
            worker.set_busy(True)
            try:
                reply, failure = worker.request(request, deadline=started + wall, max_bytes=self._max_reply())
            finally:
                with self._cell_lock:
                    self._cell_worker = None
                worker.set_busy(False)
            elapsed = time.monotonic() - started
            if failure is not None:
                return self._after_failure(worker, failure, before, elapsed, wall, lost, removed)
            assert reply is not None
            worker.baseline = snapshot(self.workspace)
            return CellResult(
                stdout=_text(reply.get("stdout")),
                stderr=_text(reply.get("stderr")),
                value=reply.get("value") if isinstance(reply.get("value"), str) else None,
                error=reply.get("error") if isinstance(reply.get("error"), str) else None,
                state_lost=lost is not None,
                lost_reason=lost,
                artifacts=changed_files(before, worker.baseline),
                removed_files=removed,
                seconds=elapsed,
                sandboxed=worker.plan.sandboxed,
            )

    def interrupt(self, reason: str) -> None:
        """Stop the running cell from another thread: the whole sandbox is killed (its state is
        lost, as after any broken limit) and the cell's result says ``reason``. No-op when no cell
        runs: an idle sandbox keeps its variables."""
        with self._cell_lock:  # (not ``_lock``: the running cell holds that one)
            worker = self._cell_worker
            if worker is not None and worker.alive():
                worker.kill(reason)

    def restart(self) -> None:
        """Stop the worker (all its processes) and start a fresh one: the state is gone."""
        with self._lock:
            self._retire_worker()
            self._pending_loss = None
            self.start()

    def processes(self) -> list[int]:
        """Host pids of every process of this session still alive: bwrap, the worker, all it forked."""
        found = set(pids_with_marker(self.marker))
        worker = self._worker
        if worker is not None and worker.alive():
            found.update(descendants(worker.process.pid))
        return sorted(found)

    def memory_peak(self) -> int | None:
        """Peak memory of the running worker's sandbox (cgroup accounting), or None without one."""
        worker = self._worker
        return worker.cgroup.memory_peak() if worker is not None and worker.cgroup is not None else None

    def describe(self) -> str:
        """How code runs in this sandbox: isolation, limits in force, notes (for doctor and logs)."""
        with self._lock:
            self.start()
            assert self._worker is not None
            return self._worker.describe()

    def close(self) -> None:
        """Stop every process of the session; the workspace files stay. Safe to call twice."""
        with self._lock:
            self._retire_worker()
            self._closed = True

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __del__(self) -> None:
        # A forgotten sandbox must not outlive its object; close() is the deterministic way.
        if getattr(self, "_worker", None) is not None:
            with contextlib.suppress(Exception):  # nothing useful to do during garbage collection
                self.close()

    # -- internals ---------------------------------------------------------------------------

    def _launch(self) -> WorkerProcess:
        if self.settings.unsafe_no_sandbox or self.settings.unsafe_no_seccomp:
            message = UNSAFE_WARNING if self.settings.unsafe_no_sandbox else UNSAFE_SECCOMP_WARNING
            warnings.warn(message, UnsafeSandboxWarning, stacklevel=4)
            log.warning(message)
        try:
            return WorkerProcess.launch(self.workspace, self.settings, self.marker, on_breach=self._on_breach)
        except SandboxDiedError as exc:
            # A sandbox that dies before it is ready is started once more: under a full test run with a
            # browser and a model loaded, one start died from SIGABRT with nothing on its stderr. A
            # second failure is the error.
            log.warning("%s; starting it once more", exc)
            return WorkerProcess.launch(self.workspace, self.settings, self.marker, on_breach=self._on_breach)

    def _on_breach(self, worker: WorkerProcess, reason: str) -> None:
        # Runs on the watcher thread, maybe while a cell runs; the cell's reader sees the worker die.
        worker.workspace_breached = True
        worker.kill(reason)

    def _take_loss(self) -> tuple[str | None, list[str]]:
        """A stop that happened while no cell ran (the watcher, or a process that died idle)."""
        worker = self._worker
        removed: list[str] = []
        if worker is not None and not worker.alive():
            reason = worker.kill_reason or worker.exit_description(self.settings)
            if worker.workspace_breached:
                removed = remove_new_files(self.workspace, worker.baseline)
            self._retire_worker()
            self._pending_loss = f"between cells, {reason}"
        lost, self._pending_loss = self._pending_loss, None
        return lost, removed

    def _after_failure(
        self,
        worker: WorkerProcess,
        failure: str,
        before: dict[str, Any],
        elapsed: float,
        wall: float,
        lost: str | None,
        removed_earlier: list[str],
    ) -> CellResult:
        if failure == "timeout":
            worker.kill(f"the cell ran past the wall-clock limit of {wall:g} s")
        elif failure == "protocol":
            worker.kill("the sandbox sent a malformed or oversized reply")
        worker.wait()
        reason = worker.kill_reason or worker.exit_description(self.settings)
        removed = list(removed_earlier)
        if worker.workspace_breached:
            removed += remove_new_files(self.workspace, before)
        self._retire_worker()
        self.restarts += 1
        try:
            self._worker = self._launch()
        except SandboxError as exc:  # the next cell will try again and raise
            log.warning("could not restart the sandbox: %s", exc)
        return CellResult(
            state_lost=True,
            lost_reason=f"{lost}; then {reason}" if lost else reason,
            artifacts=changed_files(before, snapshot(self.workspace)),
            removed_files=removed,
            seconds=elapsed,
            sandboxed=worker.plan.sandboxed,
        )

    def _retire_worker(self) -> None:
        if self._worker is not None:
            self._worker.stop()
            self._worker = None

    def _max_reply(self) -> int:
        # stdout, stderr, value, error: each truncated to output_max_chars (up to 4 bytes per char).
        return 16 * self.settings.output_max_chars + 65536


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
