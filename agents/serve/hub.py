"""What ``heron serve`` runs: agent profiles, one model instance per model with a queue in front of
it, and the runs in progress.

One in-process llama.cpp context generates for one request at a time, so each model instance has a
FIFO lock: requests for it wait their turn (a client that leaves while waiting leaves the queue),
and a running request holds it until its worker thread has finished, so no two runs ever share the
model and their tokens never mix. Every run is recorded in the run store (kind ``api``) with a
checkpoint per step, so the runs API can list it and resume it after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.agents.agent import Agent
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.run_store import SERVED_PREFIX, RunRecord, RunStore
from heron.agents.serve.live import LiveRun
from heron.agents.serve.runs_index import run_events
from heron.agents.state import RunState
from heron.config import ServeProfile, Settings
from heron.errors import HeronError, RunCancelledError, RunTakenOverError, UsageError
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.status import EXIT_BUDGET, EXIT_FAILED, EXIT_OK, FINISHED, StoredStatus
from heron.tools import Tool

DEFAULT_PROFILE = "heron"
FORGET_SECONDS = 60.0  # how long an ended run stays in memory for late followers


@dataclass
class ModelSlot:
    """One loaded model and the queue in front of it."""

    key: str
    model: str | None  # as a profile names it; None: the configured one
    llm: LLM | None
    lock: asyncio.Lock
    loading: threading.Lock


class AgentHub:
    """Profiles, model slots and live runs of one server. ``llm``: one model for every profile (tests,
    benchmarks); otherwise each profile's model is loaded on its first request."""

    def __init__(self, settings: Settings, llm: LLM | None = None) -> None:
        self.settings = settings
        self.profiles: dict[str, ServeProfile] = dict(settings.serve.profiles) or {
            DEFAULT_PROFILE: ServeProfile(memory=settings.memory.collection)
        }
        self._shared_llm = llm
        self._slots: dict[str, ModelSlot] = {}
        self._memories: dict[str, Any] = {}
        self._guard = threading.Lock()
        self._memory_guard = threading.Lock()
        self.live: dict[str, LiveRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.store = SharedStore(RunStore.from_settings(settings))
        self.workspace = settings.data_dir / "serve-workspace"

    # -- profiles and models ----------------------------------------------------------------------------

    def profile(self, name: str) -> ServeProfile:
        if name not in self.profiles:
            raise UsageError(
                f"no agent profile named {name!r}",
                f"use one of: {', '.join(self.profiles)} (GET /v1/models; [serve.profiles] adds more)",
            )
        return self.profiles[name]

    def _slot(self, model: str | None) -> ModelSlot:
        """The slot of ``model`` (a profile's; None: the configured model, which tasks use too)."""
        key = "shared" if self._shared_llm is not None else (model or self.settings.model)
        with self._guard:
            if key not in self._slots:
                self._slots[key] = ModelSlot(key, model, self._shared_llm, asyncio.Lock(), threading.Lock())
            return self._slots[key]

    def _load(self, slot: ModelSlot) -> LLM:
        """The slot's model, loaded on first use (worker thread)."""
        with slot.loading:
            if slot.llm is None:
                from heron.llm import LocalLLM, open_llm

                if slot.model is None:
                    slot.llm = open_llm(self.settings)
                else:
                    chosen = self.settings.model_copy(update={"model": slot.model, "model_path": None})
                    slot.llm = LocalLLM.from_settings(chosen)
            return slot.llm

    def _memory(self, collection: str | None) -> Any:
        if collection is None:
            return None
        with self._memory_guard:  # (not the slots' lock: loading an embedder takes seconds)
            if collection not in self._memories:
                from heron.memory import VectorMemory

                self._memories[collection] = VectorMemory(self.settings, collection=collection)
            return self._memories[collection]

    def _tools(self, profile: ServeProfile) -> list[Tool]:
        from heron.tools.builtin import tools_by_name

        available = tools_by_name()
        unknown = [name for name in profile.tools if name not in available]
        if unknown:
            raise UsageError(
                f"serve profile names unknown tools: {', '.join(unknown)}",
                f"use built-in tools: {', '.join(available)}",
            )
        return [available[name] for name in profile.tools]

    def _agent(self, profile: ServeProfile, llm: LLM, run: LiveRun, instructions: str) -> Agent:
        agent_settings = self.settings.agent
        budget = Budget(
            max_steps=profile.max_steps or agent_settings.max_steps,
            max_tokens=profile.max_tokens or agent_settings.max_tokens,
            max_seconds=profile.max_seconds or agent_settings.max_seconds,
        )
        config = AgentConfig(
            budget=budget,
            instructions="\n\n".join(t for t in (profile.instructions, instructions) if t),
            token_logprobs=profile.token_logprobs,
            require_citations=profile.require_citations,
        )
        return Agent(
            llm,
            tools=self._tools(profile),
            memory=self._memory(profile.memory),
            config=config,
            approve=run.approver,
            workspace=self.workspace / run.run_id,
            settings=self.settings,
            callbacks=[run.emit],
        )

    # -- runs -----------------------------------------------------------------------------------------

    async def start(
        self,
        profile_name: str,
        goal: str,
        history: Sequence[Message] = (),
        *,
        instructions: str = "",
        ask: bool = False,
    ) -> LiveRun:
        """Queue a run of ``goal`` (after ``history``) on the profile's model; returns at once."""
        profile = self.profile(profile_name)
        self._tools(profile)  # unknown tool names: refused before anything is queued
        run_id = time.strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
        run = self._live_run(run_id, profile_name, goal, profile, ask)
        self.store.create_run(run_id, SERVED_PREFIX + profile_name, "", goal)  # (before it is listed as live)
        job = functools.partial(self._run_agent, run, profile, list(history), instructions, None)
        self._launch(run, self._slot(profile.model), job)
        return run

    async def resume(self, run_id: str) -> LiveRun:
        """Continue a run that a crash or a cancel interrupted, from its last checkpoint: a served run
        (its risky calls then wait for a decision through the runs API, the page that resumed it) or
        a task run (its task file's approvals, as `heron resume`); finished calls are not made again."""
        record = self.store.get(run_id)
        state = self.resume_point(record)
        if record.kind == "api":
            profile_name = record.name
            profile = self.profile(profile_name)
            run = self._live_run(record.id, profile_name, record.goal, profile, ask=True)
            job = functools.partial(self._run_agent, run, profile, [], "", state)
            slot = self._slot(profile.model)
        else:
            run = LiveRun(record.id, record.task_name, record.goal, asyncio.get_running_loop(), kind="task")
            job = functools.partial(self._resume_task, run)
            slot = self._slot(None)
        with contextlib.suppress(HeronError):  # followers see the run from its start
            run.events = run_events(self.settings.data_dir, record.id, {})
        self.store.set_status(record.id, "running")
        self._launch(run, slot, job)
        return run

    def resume_point(self, record: RunRecord) -> RunState:
        """The checkpoint ``resume`` would continue ``record`` from; UsageError saying why it cannot
        (finished, still running here, or never checkpointed)."""
        running = self.live.get(record.id)
        if record.status in FINISHED or (running is not None and not running.ended.is_set()):
            raise UsageError(f"run {record.id} is {record.status}; only an interrupted run resumes", "")
        state = self.store.latest_state(record.id)
        if state is None:
            raise UsageError(f"run {record.id} has no checkpoint to resume from", "start it again")
        return state

    def _live_run(
        self, run_id: str, profile_name: str, goal: str, profile: ServeProfile, ask: bool
    ) -> LiveRun:
        return LiveRun(
            run_id,
            profile_name,
            goal,
            asyncio.get_running_loop(),
            allow=profile.allow,
            ask=ask,
            approval_seconds=self.settings.serve.approval_seconds,
        )

    def _launch(self, run: LiveRun, slot: ModelSlot, job: Callable[[LLM], tuple[str, str]]) -> None:
        self.live[run.run_id] = run
        task = run.loop.create_task(self._execute(run, slot, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, run: LiveRun, slot: ModelSlot, job: Callable[[LLM], tuple[str, str]]) -> None:
        """``job`` on the slot's model in a worker thread, when the slot's queue comes to this run."""
        status, error = "error", ""
        try:
            async with slot.lock:  # FIFO: one run at a time per model instance
                if run.cancelled.is_set():  # cancelled while it waited: it never takes the model
                    status = "cancelled"
                else:
                    run.status = "running"
                    worker = asyncio.ensure_future(asyncio.to_thread(self._on_model, slot, job))
                    try:
                        status, error = await asyncio.shield(worker)
                    except asyncio.CancelledError:  # the server is stopping: the model stays held
                        run.cancel()  # until the worker has let go of it
                        status, error = await worker
                        raise
        except Exception as exc:  # (the worker reports its own errors; this is the server's)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if status in ("error", "cancelled"):
                with contextlib.suppress(Exception):  # (the store itself may be what failed)
                    ended: StoredStatus = "cancelled" if status == "cancelled" else "error"
                    self.store.finish(run.run_id, ended, EXIT_FAILED, error=error or None)
            run.end(status, error)
            # ended runs are read back from the store and the trace: keep this one a moment for
            # the followers that are still reading it, then let it go
            run.loop.call_later(FORGET_SECONDS, self._forget, run)

    def _on_model(self, slot: ModelSlot, job: Callable[[LLM], tuple[str, str]]) -> tuple[str, str]:
        try:
            llm = self._load(slot)
        except HeronError as exc:
            return "error", str(exc)
        return job(llm)

    def _forget(self, run: LiveRun) -> None:
        if self.live.get(run.run_id) is run:
            del self.live[run.run_id]

    def _run_agent(
        self,
        run: LiveRun,
        profile: ServeProfile,
        history: list[Message],
        instructions: str,
        state: RunState | None,
        llm: LLM,
    ) -> tuple[str, str]:
        """A served run, in a worker thread: (status, error)."""
        try:
            with self._agent(profile, llm, run, instructions) as agent:
                run.stop = agent.cancel
                if run.cancelled.is_set():
                    return "cancelled", ""
                if state is None:
                    state = agent.new_state(run.goal, run_id=run.run_id)
                    state.messages[1:1] = history  # earlier turns between the system prompt and the goal
                    state.request_start = 1 + len(history)  # this request's messages: from the goal on
                result = agent.continue_run(state, on_step=self.store.checkpoint)
        except RunCancelledError:
            return "cancelled", ""
        except HeronError as exc:
            return "error", str(exc)
        except Exception as exc:  # a tool or backend bug: the run ends, the server goes on
            return "error", f"{type(exc).__name__}: {exc}"
        code = EXIT_OK if result.succeeded else EXIT_BUDGET if result.budget_exhausted else EXIT_FAILED
        try:
            self.store.finish(run.run_id, result.status, code, answer=result.answer or None)
        except Exception as exc:  # the answer stands; the store could not record it
            return "error", f"the run store could not record the result: {type(exc).__name__}: {exc}"
        run.result = result
        return result.status, ""

    def _resume_task(self, run: LiveRun, llm: LLM) -> tuple[str, str]:
        """A task run resumed as `heron resume` does it, in a worker thread: (status, error)."""
        from heron.agents.runner import TaskRunner

        runner = TaskRunner(self.settings, llm, callbacks=[run.emit])
        run.stop = lambda: runner.running.cancel() if runner.running is not None else None
        try:
            with runner:
                if run.cancelled.is_set():
                    return "cancelled", ""
                outcome = runner.resume(run.run_id)
        except RunCancelledError:
            return "cancelled", ""
        except RunTakenOverError as exc:  # another process drives it now: its record is left alone
            return "interrupted", str(exc)
        except HeronError as exc:
            return "error", str(exc)
        except Exception as exc:
            return "error", f"{type(exc).__name__}: {exc}"
        return outcome.status, outcome.error or ""

    async def aclose(self, wait_seconds: float = 30.0) -> None:
        """Cancel every run, wait for their workers (they use the models and the store), then close."""
        for run in list(self.live.values()):
            run.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=wait_seconds)
        with contextlib.ExitStack() as stack:  # every close runs, whichever fails
            stack.callback(self.store.close)
            for slot in self._slots.values():
                if slot.llm is not None and slot.llm is not self._shared_llm:
                    stack.callback(slot.llm.close)
            for memory in self._memories.values():
                stack.callback(memory.close)


class SharedStore:
    """The run store for the server's threads: one connection, one call at a time (the event loop
    lists runs while workers checkpoint theirs; a connection holds one transaction at a time)."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def create_run(self, run_id: str, task_name: str, task_path: str, goal: str) -> None:
        with self._lock:
            self._store.create_run(run_id, task_name, task_path, goal)

    def checkpoint(self, state: RunState) -> None:
        with self._lock:
            self._store.checkpoint(state)

    def finish(
        self,
        run_id: str,
        status: StoredStatus,
        exit_code: int,
        *,
        answer: str | None = None,
        error: str | None = None,
    ) -> None:
        with self._lock:
            self._store.finish(run_id, status, exit_code, answer=answer, error=error)

    def set_status(self, run_id: str, status: StoredStatus) -> None:
        with self._lock:
            self._store.set_status(run_id, status)

    def latest_state(self, run_id: str) -> RunState | None:
        with self._lock:
            return self._store.latest_state(run_id)

    def get(self, run_id: str) -> RunRecord:
        with self._lock:
            return self._store.get(run_id)

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        with self._lock:
            return self._store.list_runs(limit)

    def close(self) -> None:
        with self._lock:
            self._store.close()


def workspace_file(root: Path, run_id: str, relative: str) -> Path:
    """A file a served run wrote (an image), never outside that run's workspace (UsageError)."""
    home = root.resolve()
    base = (root / run_id).resolve()
    target = (base / relative).resolve()
    inside = base.parent == home and base in target.parents
    if not inside or not target.is_file() or (base / relative).is_symlink():
        raise UsageError(f"no file {relative!r} in run {run_id}'s workspace", "")
    return target
