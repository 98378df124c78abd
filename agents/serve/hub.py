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
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.agents.agent import Agent
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.run_store import RunStore
from heron.agents.serve.live import LiveRun
from heron.agents.serve.runs_index import API_KIND, run_events
from heron.agents.state import RunState
from heron.config import ServeProfile, Settings
from heron.errors import HeronError, RunCancelledError, UsageError
from heron.llm.base import LLM
from heron.llm.types import Message
from heron.status import EXIT_BUDGET, EXIT_FAILED, EXIT_OK, FINISHED
from heron.tools import Tool

DEFAULT_PROFILE = "heron"


@dataclass
class ModelSlot:
    """One loaded model and the queue in front of it."""

    key: str
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
        self.live: dict[str, LiveRun] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.store = SharedStore(RunStore.in_data_dir(settings.data_dir))
        self.workspace = settings.data_dir / "serve-workspace"

    # -- profiles and models ----------------------------------------------------------------------------

    def profile(self, name: str) -> ServeProfile:
        if name not in self.profiles:
            raise UsageError(
                f"no agent profile named {name!r}",
                f"use one of: {', '.join(self.profiles)} (GET /v1/models; [serve.profiles] adds more)",
            )
        return self.profiles[name]

    def _slot(self, profile: ServeProfile) -> ModelSlot:
        key = "shared" if self._shared_llm is not None else (profile.model or self.settings.model)
        with self._guard:
            if key not in self._slots:
                self._slots[key] = ModelSlot(key, self._shared_llm, asyncio.Lock(), threading.Lock())
            return self._slots[key]

    def _load(self, slot: ModelSlot, profile: ServeProfile) -> LLM:
        """The slot's model, loaded on first use (worker thread)."""
        with slot.loading:
            if slot.llm is None:
                from heron.llm import LocalLLM, open_llm

                if profile.model is None:
                    slot.llm = open_llm(self.settings)
                else:
                    chosen = self.settings.model_copy(update={"model": profile.model, "model_path": None})
                    slot.llm = LocalLLM.from_settings(chosen)
            return slot.llm

    def _memory(self, collection: str | None) -> Any:
        if collection is None:
            return None
        with self._guard:
            if collection not in self._memories:
                from heron.memory import VectorMemory

                self._memories[collection] = VectorMemory(self.settings, collection=collection)
            return self._memories[collection]

    def _tools(self, profile: ServeProfile) -> list[Tool]:
        from heron.tools import builtin_tools
        from heron.tools.image import generate_image

        available = {t.name: t for t in [*builtin_tools(), generate_image]}
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
        run = LiveRun(
            run_id,
            profile_name,
            goal,
            asyncio.get_running_loop(),
            allow=profile.allow,
            ask=ask,
            approval_seconds=self.settings.serve.approval_seconds,
        )
        self.live[run_id] = run
        self.store.create_run(run_id, API_KIND + profile_name, "", goal)
        task = run.loop.create_task(self._execute(run, profile, list(history), instructions))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run

    async def resume(self, run_id: str) -> LiveRun:
        """Continue a served run that a crash or a cancel interrupted, from its last checkpoint."""
        record = self.store.get(run_id)
        if not record.task_name.startswith(API_KIND):
            raise UsageError(f"run {record.id} is a task run", f"resume it with `heron resume {record.id}`")
        if record.status in FINISHED or (record.id in self.live and not self.live[record.id].ended.is_set()):
            raise UsageError(f"run {record.id} is {record.status}; only an interrupted run resumes", "")
        state = self.store.latest_state(record.id)
        if state is None:
            raise UsageError(f"run {record.id} has no checkpoint to resume from", "ask the question again")
        profile_name = record.task_name[len(API_KIND) :]
        profile = self.profile(profile_name)
        loop = asyncio.get_running_loop()
        run = LiveRun(record.id, profile_name, record.goal, loop, allow=profile.allow, ask=True)
        with contextlib.suppress(HeronError):  # followers see the run from its start
            run.events = run_events(self.settings.data_dir, record.id, {})
        self.live[record.id] = run
        self.store.set_status(record.id, "running")
        self._tasks.add(loop.create_task(self._execute(run, profile, [], "", state=state)))
        return run

    async def _execute(
        self,
        run: LiveRun,
        profile: ServeProfile,
        history: list[Message],
        instructions: str,
        state: RunState | None = None,
    ) -> None:
        slot = self._slot(profile)
        status, error = "error", ""
        try:
            async with slot.lock:  # FIFO: one run at a time per model instance
                if run.cancelled.is_set():
                    status = "cancelled"
                else:
                    run.status = "running"
                    # shielded: a cancelled waiter must not release the model while its thread runs
                    work = (run, profile, slot, history, instructions, state)
                    worker = asyncio.ensure_future(asyncio.to_thread(self._run_blocking, *work))
                    status, error = await asyncio.shield(worker)
        except Exception as exc:  # (the worker reports its own errors; this is the server's)
            error = f"{type(exc).__name__}: {exc}"
        finally:
            if status in ("error", "cancelled") and run.result is None:
                with contextlib.suppress(Exception):
                    ended = "cancelled" if status == "cancelled" else "error"
                    self.store.finish(run.run_id, ended, EXIT_FAILED, error=error or None)
            run.end(status, error)

    def _run_blocking(
        self,
        run: LiveRun,
        profile: ServeProfile,
        slot: ModelSlot,
        history: list[Message],
        instructions: str,
        state: RunState | None,
    ) -> tuple[str, str]:
        """The run itself, in a worker thread: (status, error)."""
        try:
            llm = self._load(slot, profile)
            with self._agent(profile, llm, run, instructions) as agent:
                run.agent = agent
                if run.cancelled.is_set():
                    return "cancelled", ""
                if state is None:
                    state = agent.new_state(run.goal, run_id=run.run_id)
                    state.messages[1:1] = history  # earlier turns between the system prompt and the goal
                result = agent.continue_run(state, on_step=self.store.checkpoint)
            run.result = result
            code = EXIT_OK if result.succeeded else EXIT_BUDGET if result.budget_exhausted else EXIT_FAILED
            self.store.finish(run.run_id, result.status, code, answer=result.answer or None)
            return result.status, ""
        except RunCancelledError:
            return "cancelled", ""
        except HeronError as exc:
            return "error", str(exc)
        except Exception as exc:  # a tool or backend bug: the run ends, the server goes on
            return "error", f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        for run in self.live.values():
            run.cancel()
        for memory in self._memories.values():
            memory.close()
        for slot in self._slots.values():
            if slot.llm is not None and slot.llm is not self._shared_llm:
                slot.llm.close()
        self.store.close()


class SharedStore:
    """The run store for the server's threads: one connection, one call at a time (the event loop
    lists runs while workers checkpoint theirs; a connection holds one transaction at a time)."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        member = getattr(self._store, name)
        if not callable(member):
            return member

        def serialized(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return member(*args, **kwargs)

        return serialized


def workspace_file(root: Path, run_id: str, relative: str) -> Path:
    """A file a served run wrote (an image), never outside that run's workspace (UsageError)."""
    base = (root / run_id).resolve()
    target = (base / relative).resolve()
    if base not in target.parents or not target.is_file() or (base / relative).is_symlink():
        raise UsageError(f"no file {relative!r} in run {run_id}'s workspace", "")
    return target
