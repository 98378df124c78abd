"""The host's side of one running sandbox worker: the process, its pipes, cgroup and watchers."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from heron.config import SandboxSettings
from heron.errors import SandboxDiedError, SandboxError, SandboxUnavailableError
from heron.tools.sandbox.cgroups import SandboxCgroup, join_cgroups, sandbox_memory_limit
from heron.tools.sandbox.launch import LaunchPlan, plan_sandboxed, plan_unsafe
from heron.tools.sandbox.memory_guard import MemoryWatcher
from heron.tools.sandbox.processes import descendants
from heron.tools.sandbox.userns import GENERIC_HINT, userns_blocker
from heron.tools.sandbox.workspace_guard import WorkspaceWatcher, snapshot
from heron.tools.workspace_paths import workspace_usage

log = logging.getLogger("heron.sandbox")
SECCOMP_LOAD_HINT = (
    "the kernel refused the sandbox's system-call filter: heron needs a kernel built with "
    "CONFIG_SECCOMP_FILTER (every mainstream distribution's is). Only for debugging, and at your own "
    "risk, sandbox.unsafe_no_seccomp = true starts the sandbox without it"
)


class WorkerProcess:
    """One running worker process, the host's ends of its pipes, its cgroup and its watchers: the
    workspace's, and the memory's where no memory cgroup bounds the sandbox."""

    def __init__(
        self,
        plan: LaunchPlan,
        process: subprocess.Popen[bytes],
        cmd_fd: int,
        reply_fd: int,
        cgroup: SandboxCgroup | None,
        errors: IO[bytes],
        workspace: Path,
    ) -> None:
        self.plan = plan
        self.process = process
        self.cgroup = cgroup
        self.workspace = workspace
        self.kill_reason: str | None = None
        self.workspace_breached = False
        self.baseline: dict[str, Any] = {}
        self.watcher: WorkspaceWatcher | None = None
        self.memory_watcher: MemoryWatcher | None = None
        self.info: dict[str, Any] = {}
        self._cmd_fd = cmd_fd
        self._reply_fd = reply_fd
        self._errors = errors
        self._buffer = b""

    @classmethod
    def launch(
        cls,
        workspace: Path,
        settings: SandboxSettings,
        marker: str,
        on_breach: Callable[[WorkerProcess, str], None],
    ) -> WorkerProcess:
        cmd_read, cmd_write = os.pipe()
        reply_read, reply_write = os.pipe()
        for fd in (cmd_write, reply_read):
            os.set_inheritable(fd, False)
        planner = plan_unsafe if settings.unsafe_no_sandbox else plan_sandboxed
        try:
            plan = planner(workspace, settings, cmd_read, reply_write, marker)
        except BaseException:
            for fd in (cmd_read, cmd_write, reply_read, reply_write):
                os.close(fd)
            raise
        cgroup = None
        if plan.sandboxed:
            cgroup = SandboxCgroup.create(
                f"{marker}-{uuid.uuid4().hex[:6]}",
                memory_bytes=sandbox_memory_limit(settings.memory_mb, settings.tmp_mb),
                max_pids=settings.max_processes + 4,  # + bwrap's own processes
            )
        # bwrap's own messages; a file, not a pipe, so a chatty sandbox can never block on it.
        errors = tempfile.TemporaryFile(prefix="heron-sandbox-stderr-")  # noqa: SIM115 - closed by stop()
        join_fds = cgroup.procs_fds() if cgroup else []
        try:
            process = _spawn_kept(plan, errors, join_fds)
        finally:
            for fd in (cmd_read, reply_write, *plan.owned_fds, *join_fds):
                os.close(fd)
        worker = cls(plan, process, cmd_write, reply_read, cgroup, errors, workspace)
        worker._await_ready(settings)
        worker.baseline = snapshot(workspace)
        # A workspace already past its cap (files put there from outside) may shrink but not grow:
        # otherwise no cell could ever run again to clean it up.
        used, entries = workspace_usage(workspace)
        worker.watcher = WorkspaceWatcher(
            workspace,
            max_bytes=max(settings.workspace_max_mb * 2**20, used),
            max_entries=max(settings.workspace_max_files, entries),
            on_breach=lambda reason: on_breach(worker, reason),
        )
        worker.watcher.start()
        if plan.sandboxed and not (cgroup is not None and cgroup.bounds_memory):
            worker.memory_watcher = MemoryWatcher(
                sandbox_memory_limit(settings.memory_mb, settings.tmp_mb),
                processes=lambda: descendants(process.pid),
                on_breach=worker.kill,
            )
            worker.memory_watcher.start()
        return worker

    def set_busy(self, busy: bool) -> None:
        for watcher in (self.watcher, self.memory_watcher):
            if watcher is not None:
                watcher.set_busy(busy)

    def alive(self) -> bool:
        return self.process.poll() is None

    def request(
        self, message: dict[str, Any], deadline: float, max_bytes: int
    ) -> tuple[dict[str, Any] | None, str | None]:
        """Send one request, read one reply: (reply, None) or (None, "timeout" | "died" | "protocol")."""
        try:
            _write_all(self._cmd_fd, json.dumps(message).encode() + b"\n")
        except OSError:
            return None, "died"
        return self._read_reply(deadline, max_bytes)

    def kill(self, reason: str) -> None:
        """SIGKILL the whole sandbox: bwrap's process group; its pid namespace dies with it."""
        if self.kill_reason is None:
            self.kill_reason = reason
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def wait(self) -> None:
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            log.warning("sandbox process %s did not exit after SIGKILL", self.process.pid)

    def stop(self) -> None:
        """Kill (if still running), wait, and release the pipes, the cgroup and the watchers."""
        for watcher in (self.watcher, self.memory_watcher):
            if watcher is not None:
                watcher.stop()
        if self.alive():
            self.kill(self.kill_reason or "the session closed")
        self.wait()
        if self.cgroup is not None:
            self.cgroup.remove()
        for fd in (self._cmd_fd, self._reply_fd):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._errors.close()

    def exit_description(self, settings: SandboxSettings) -> str:
        """Why the worker ended, from its exit status (bwrap reports 128 + signal)."""
        code = self.process.poll()
        if code is None:
            return "the sandbox stopped answering"
        signo = -code if code < 0 else code - 128 if code > 128 else 0
        if signo == signal.SIGXCPU:
            return f"the cell used more than its {settings.cpu_seconds} s of CPU time"
        if signo == signal.SIGKILL:
            if self.cgroup is not None and self.cgroup.out_of_memory():
                return f"the sandbox ran out of memory ({settings.memory_mb} MiB)"
            return "the sandbox process was killed (SIGKILL)"
        if signo:
            return f"the sandbox process died from signal {signal.Signals(signo).name}"
        return f"the sandbox process exited (status {code})"

    def describe(self) -> str:
        limits = ", ".join(self.cgroup.limits) if self.cgroup else "none (cgroups not writable here)"
        kind = "bubblewrap" if self.plan.sandboxed else "NONE (unsafe_no_sandbox)"
        lines = [
            f"isolation: {kind}; python {self.info.get('python')} as uid {self.info.get('uid')}",
            self.plan.syscall_filter,
            f"cgroup limits: {limits}",
            *self.plan.notes,
        ]
        if self.memory_watcher is not None:
            lines.append(
                f"memory of all processes together: watched from the host (PSS, every 50 ms in a cell), "
                f"bound {self.memory_watcher.limit_bytes // 2**20} MiB"
            )
        if self.plan.sandboxed and os.geteuid() == 0 and "pids" not in limits:
            # The kernel does not apply RLIMIT_NPROC to processes that are root on the host.
            lines.append("WARNING: heron runs as root and no pids cgroup is writable: no process-count limit")
        return "\n".join(lines)

    def _await_ready(self, settings: SandboxSettings) -> None:
        deadline = time.monotonic() + settings.start_timeout_seconds
        reply, failure = self._read_reply(deadline, max_bytes=65536)
        if reply is not None and reply.get("ready"):
            self.info = reply
            return
        self.kill("it did not start")
        self.wait()
        self._errors.seek(0)
        stderr = self._errors.read(4000).decode(errors="replace").strip()
        self.stop()
        problem = (
            f"the sandbox did not start ({failure or 'no ready message'}; exit status {self.process.poll()})"
        )
        if stderr:
            problem += f": {stderr}"
        if "seccomp" in stderr.lower():
            raise SandboxUnavailableError(problem, SECCOMP_LOAD_HINT)
        if "bwrap" in stderr:
            raise SandboxUnavailableError(problem, userns_blocker() or GENERIC_HINT)
        if failure == "died" and not stderr:
            raise SandboxDiedError(problem)
        raise SandboxError(problem)

    def _read_reply(self, deadline: float, max_bytes: int) -> tuple[dict[str, Any] | None, str | None]:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None, "timeout"
            ready, _, _ = select.select([self._reply_fd], [], [], min(remaining, 0.1))
            if ready:
                chunk = os.read(self._reply_fd, 65536)
                if not chunk:
                    return None, "died"
                self._buffer += chunk
                if len(self._buffer) > max_bytes:
                    return None, "protocol"
            elif not self.alive():
                return None, "died"  # a forked child may still hold the pipe open: do not wait for EOF
        line, _, self._buffer = self._buffer.partition(b"\n")
        try:
            reply = json.loads(line)
        except ValueError:
            return None, "protocol"
        return (reply, None) if isinstance(reply, dict) else (None, "protocol")


def _spawn_kept(plan: LaunchPlan, errors: IO[bytes], join_fds: list[int]) -> subprocess.Popen[bytes]:
    """Popen from a thread that lives exactly as long as the process.

    bwrap's --die-with-parent uses PR_SET_PDEATHSIG, which fires when the *thread* that forked it
    ends; a sandbox started from a short-lived thread (asyncio.to_thread) would otherwise die with it.
    """
    box: dict[str, Any] = {}
    started = threading.Event()

    def keep() -> None:
        try:
            box["process"] = subprocess.Popen(
                plan.argv,
                env=plan.env,
                cwd=plan.cwd,
                pass_fds=plan.pass_fds,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # its own process group: one killpg stops it all
                # Joining the cgroup before exec: every process of the sandbox is counted from the start.
                preexec_fn=(lambda: join_cgroups(join_fds)) if join_fds else None,
            )
        except BaseException as exc:
            box["error"] = exc
            return
        finally:
            started.set()
        box["process"].wait()

    threading.Thread(target=keep, name="heron-sandbox-keeper", daemon=True).start()
    started.wait()
    if "error" in box:
        raise SandboxUnavailableError(
            f"cannot start the sandbox: {box['error']}", "check `heron doctor`"
        ) from box["error"]
    process: subprocess.Popen[bytes] = box["process"]
    return process


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]
