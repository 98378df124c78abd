"""Runs task files unattended: validate, ingest, run the agent with a checkpoint after every step,
check the outcome, and resume a killed run from its last finished step.

Exit codes, for cron and CI: 0 success, 1 the run or its checks failed, 2 invalid task file or
settings (nothing ran), 3 a budget ended the run before its checks passed.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from heron.agents.agent import Agent
from heron.agents.approval import ApprovalCallback, allow_tools, approve_all, deny_all
from heron.agents.budget import Budget
from heron.agents.config import AgentConfig
from heron.agents.result import RunResult
from heron.agents.run_store import RunRecord, RunStore, this_node
from heron.agents.state import PlanStep, RunState
from heron.agents.tasks import Check, LoadedTask, load_task, load_tool_reference
from heron.config import Settings
from heron.errors import (
    HeronError,
    MCPServerError,
    RunCancelledError,
    RunError,
    RunTakenOverError,
    TaskFileError,
    UsageError,
)
from heron.llm.base import LLM, KeepsState
from heron.status import EXIT_BUDGET, EXIT_FAILED, EXIT_OK, FINISHED, StoredStatus
from heron.tools import Tool
from heron.tracing import EventCallback, RunResumedEvent, Tracer, trace_path


class CheckResult(BaseModel):
    check: str
    passed: bool
    detail: str = ""


# what the run store keeps of an outcome besides its own columns, so a finished run reads back whole
STORED_OUTCOME = (
    "note",
    "answer_cut",
    "stopped_by",
    "citations",
    "checks",
    "artifacts",
    "failed_calls",
    "denied_calls",
    "unsourced_numbers",
)


class TaskOutcome(BaseModel):
    """The result of one task run, as printed by ``heron run --json``."""

    run_id: str
    task: str
    status: StoredStatus
    exit_code: int
    answer: str = ""
    note: str = ""  # why there is no answer, when there is none
    answer_cut: bool = False  # the answer reached its length limit (see RunResult.answer_cut)
    stopped_by: str = ""
    steps: int = 0
    citations: list[dict[str, Any]] = Field(default_factory=list)
    checks: list[CheckResult] = Field(default_factory=list)
    artifacts: list[dict[str, Any]] = Field(default_factory=list)
    workspace: str = ""
    trace_path: str = ""
    error: str = ""
    node: str = ""  # where the run ran (its last part, after a resume)
    failed_calls: int = 0  # tool calls that ended in an error (RunResult.failed_calls)
    denied_calls: int = 0  # calls the approver did not approve (RunResult.denied_calls)
    unsourced_numbers: list[str] = Field(default_factory=list)  # (RunResult.unsourced_numbers)

    @classmethod
    def from_record(cls, record: RunRecord, workspace: Path, trace: Path) -> TaskOutcome:
        """The outcome of a finished run, as the store keeps it."""
        kept = record.outcome or {}
        return cls(
            run_id=record.id,
            task=record.task_name,
            status=record.status,
            exit_code=record.exit_code if record.exit_code is not None else EXIT_FAILED,
            answer=record.answer or "",
            error=record.error or "",
            steps=record.steps,
            workspace=str(workspace),
            trace_path=str(trace),
            node=record.node or "",
            **{k: kept[k] for k in STORED_OUTCOME if k in kept},
        )


class TaskRunner:
    """Runs tasks with one model; ``approve_everything`` is ``--yes``."""

    def __init__(
        self,
        settings: Settings,
        llm: LLM | None = None,
        *,
        approve_everything: bool = False,
        callbacks: Sequence[EventCallback] = (),
        save_kv_state: bool = True,
        node: str | None = None,
    ) -> None:
        self.settings = settings
        self._llm = llm
        self._owns_llm = llm is None  # a model passed in stays open: its owner closes it
        self.running: Agent | None = None  # the agent of the run in progress (to cancel it)
        self.approve_everything = approve_everything
        self.callbacks = list(callbacks)
        self.save_kv_state = save_kv_state
        self.node = node or this_node()  # recorded with the run; a KV state file is only used there
        self.store = RunStore.from_settings(settings)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            from heron.llm import open_llm

            self._llm = open_llm(self.settings)
        return self._llm

    def close(self) -> None:
        self.store.close()
        if self._owns_llm and self._llm is not None:
            self._llm.close()

    def __enter__(self) -> TaskRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- run / resume -------------------------------------------------------------------------------

    def run(
        self,
        task_path: Path | str,
        on_ingest: Callable[[str], None] | None = None,
        *,
        run_id: str | None = None,
    ) -> TaskOutcome:
        """Run a task file from its start; ``run_id``: chosen by the caller (a cluster's submitter)."""
        loaded = load_task(task_path)
        return self._start(loaded, run_id or new_run_id(loaded.name), None, on_ingest)

    def _start(
        self,
        loaded: LoadedTask,
        run_id: str,
        attempt: int | None,
        on_ingest: Callable[[str], None] | None,
        *,
        record_failure: bool = False,
    ) -> TaskOutcome:
        """The run from its first step; ``attempt``: the claim of a run recorded (by an attempt that
        died) before its first checkpoint, else the run is recorded here. ``record_failure``: a new
        run whose agent cannot be set up is recorded as ``error`` (a cluster's, which its submitter
        resumes); a local one is the command's error, with nothing stored."""
        workspace = self._workspace(loaded)
        with contextlib.ExitStack() as stack:
            new = (loaded.name, str(loaded.path), loaded.task.goal) if record_failure else None
            with self._setup_failure_recorded(run_id, attempt, new):
                memory = self._memory(loaded, stack)
                agent = stack.enter_context(self._agent(loaded, workspace, memory, stack))
                state = agent.new_state(loaded.task.rendered_goal(), run_id=run_id)
                if loaded.task.steps:  # (before ingesting: a wrong MCP tool name is told at once)
                    state.plan = _checked_steps(agent, loaded)
                if memory is not None and loaded.task.memory and loaded.task.memory.ingest:
                    self._ingest(memory, loaded, on_ingest)
            if attempt is None:
                attempt = self.store.create_run(
                    run_id, loaded.name, str(loaded.path), state.goal, node=self.node
                )
            self.store.checkpoint(state, attempt=attempt)
            return self._drive(agent, loaded, state, workspace, attempt)

    @contextlib.contextmanager
    def _setup_failure_recorded(
        self, run_id: str, attempt: int | None, new: tuple[str, str, str] | None = None
    ) -> Iterator[None]:
        """A run this process took up (``attempt``) whose agent could not be set up is stored as
        ``error`` with the reason, not left ``running`` with nothing driving it; a ``new`` run (no
        attempt yet; its task name, file and goal) is recorded first, so that ``heron runs`` shows it
        and ``heron resume`` starts it again once the cause is fixed. The error goes on."""
        try:
            yield
        except Exception as exc:
            if (attempt is not None or new is not None) and not isinstance(exc, RunTakenOverError):
                reason = str(exc) if isinstance(exc, HeronError) else f"{type(exc).__name__}: {exc}"
                try:
                    if attempt is None and new is not None:
                        attempt = self.store.create_run(run_id, *new, node=self.node)
                    self.store.finish(run_id, "error", EXIT_FAILED, error=reason, attempt=attempt)
                except Exception:  # the store failing too: the first error is the one to see
                    logging.getLogger("heron.runner").debug("run %s: not recorded", run_id, exc_info=True)
            raise

    def run_or_resume(
        self,
        task_path: Path | str,
        run_id: str,
        on_ingest: Callable[[str], None] | None = None,
        *,
        task_name: str = "",
    ) -> TaskOutcome:
        """The run ``run_id`` of a task file, however far it got: started if the store has no
        checkpoint of it, resumed from its last one if it has, its stored outcome if it finished. A
        cluster task retried after its worker died lands here, on any node. The submitter read the
        file; when it cannot be loaded here (a tool's module failing to import on this node), the run
        is recorded as ``error`` (``task_name``: its name) so that ``heron resume`` can start it again."""
        record = self.store.find(run_id)
        if record is None:
            with self._setup_failure_recorded(
                run_id, None, (task_name or Path(task_path).stem, str(task_path), "")
            ):
                loaded = load_task(task_path)
            return self._start(loaded, run_id, None, on_ingest, record_failure=True)
        attempt = self.store.claim(run_id, node=self.node)  # first: whatever it read is now fixed
        if attempt is None:  # it finished
            return self._stored_outcome(self.store.get(run_id))
        if self.store.latest_state(run_id) is None:  # its attempt died before the first checkpoint
            with self._setup_failure_recorded(run_id, attempt):
                loaded = load_task(task_path)
            return self._start(loaded, run_id, attempt, on_ingest)
        return self._continue(run_id, attempt, record.node)

    def _stored_outcome(self, record: RunRecord) -> TaskOutcome:
        loaded = load_task(record.task_path)
        trace = trace_path(self.settings.data_dir.expanduser(), record.id)
        return TaskOutcome.from_record(record, self._workspace(loaded), trace)

    def resume(self, run_id: str) -> TaskOutcome:
        record = self.store.get(run_id, unfinished=True)
        if record.status in FINISHED:
            raise UsageError(
                f"run {record.id} already finished ({record.status})",
                f"start it again with `heron run {record.task_path}`",
            )
        if record.kind != "task" and self.store.latest_state(record.id) is None:
            raise UsageError(f"run {record.id} has no checkpoint to resume from", "start it again")
        attempt = self.store.claim(record.id, node=self.node)  # an older process still on it stops
        if attempt is None:
            raise UsageError(f"run {record.id} finished meanwhile", "see it with `heron runs`")
        if self.store.latest_state(record.id) is None:  # it failed or died before its first checkpoint
            with self._setup_failure_recorded(record.id, attempt):
                loaded = load_task(record.task_path)
            return self._start(loaded, record.id, attempt, None)
        return self._continue(record.id, attempt, record.node)

    def _continue(self, run_id: str, attempt: int, previous_node: str | None) -> TaskOutcome:
        """Drive a claimed run on from its last checkpoint (read after the claim: no other attempt can
        have written after it); ``previous_node``: where it ran before the claim."""
        with contextlib.ExitStack() as stack:
            with self._setup_failure_recorded(run_id, attempt):
                record = self.store.get(run_id)
                state = self.store.latest_state(run_id)
                assert state is not None  # (checked before the claim; checkpoints are never deleted)
                loaded = load_task(record.task_path)
                workspace = self._workspace(loaded)
                memory = self._memory(loaded, stack)
                agent = stack.enter_context(self._agent(loaded, workspace, memory, stack))
                self._restore_kv_cache(record, state, previous_node)
            return self._drive(agent, loaded, state, workspace, attempt)

    def _restore_kv_cache(self, record: RunRecord, state: RunState, previous_node: str | None) -> None:
        """Load the run's saved KV cache when it was saved on this node; otherwise the model evaluates
        the prompt again. Either way the trace says which, and why."""
        reason = ""
        if not isinstance(self.llm, KeepsState):
            reason = "this model keeps no KV state"
        elif not record.kv_state or not Path(record.kv_state).is_file():
            reason = "no KV state was saved"
        elif record.kv_node != self.node:
            reason = f"the saved KV state belongs to node {record.kv_node}"
        else:
            try:
                self.llm.load_state(Path(record.kv_state))
            except (HeronError, OSError) as exc:  # only an optimisation: the prompt is re-read
                reason = f"the KV state did not load ({exc})"
        event = RunResumedEvent(
            run_id=state.run_id,
            step=state.step,
            node=self.node,
            previous_node=previous_node,
            kv_cache="re-evaluated" if reason else "reused",
            reason=reason,
        )
        with Tracer(trace_path(self.settings.data_dir.expanduser(), state.run_id), self.callbacks) as tracer:
            tracer.emit(event)

    def _drive(
        self, agent: Agent, loaded: LoadedTask, state: RunState, workspace: Path, attempt: int
    ) -> TaskOutcome:
        """Run the agent from ``state`` to its end; every store write is fenced by ``attempt``."""
        # one file per node: nodes sharing the data dir never overwrite each other's KV state
        node_file = re.sub(r"[^A-Za-z0-9_.-]", "_", self.node)
        kv_path = self.settings.data_dir.expanduser() / "runs" / state.run_id / f"kv-{node_file}.state"

        def checkpoint(current: RunState) -> None:
            kv = None
            # a checkpoint inside a turn's batch of calls (the model has not moved) keeps the last KV dump
            if self.save_kv_state and isinstance(self.llm, KeepsState) and not current.pending_calls:
                try:
                    kv_path.parent.mkdir(parents=True, exist_ok=True)
                    self.llm.save_state(kv_path)
                    kv = str(kv_path)
                except (HeronError, OSError, NotImplementedError):
                    kv = None
            try:
                self.store.checkpoint(current, kv_state=kv, kv_node=self.node, attempt=attempt)
            except UsageError as exc:  # the store went away mid-run: the run failed, not its settings
                raise RunError(
                    f"{exc.problem}; the run stopped after step {current.step}: once the store is back, "
                    f"`heron resume {current.run_id}` continues it from its last checkpoint"
                ) from exc

        try:
            verdicts: list[CheckResult] = []

            def run_checks(result: RunResult) -> bool:
                verdicts.extend(self._checks(loaded, result, workspace))
                return all(c.passed for c in verdicts)

            self.running = agent
            result = agent.continue_run(
                state, budget=loaded.task.budget, on_step=checkpoint, checks=run_checks
            )
        except KeyboardInterrupt:
            with contextlib.suppress(RunTakenOverError):  # (Ctrl-C stays what the user sees)
                self.store.set_status(state.run_id, "interrupted", attempt=attempt)
            raise
        except RunCancelledError:  # (Agent.cancel from another thread: `heron serve`)
            self.store.set_status(state.run_id, "cancelled", attempt=attempt)
            raise
        except RunTakenOverError:  # the run is another process's now: leave its record alone
            raise
        except Exception as exc:  # a model, tool or settings error; anything else is named by its type
            if not isinstance(exc, HeronError):
                logging.getLogger("heron.runner").debug("run %s failed", state.run_id, exc_info=True)
                exc = RuntimeError(f"{type(exc).__name__}: {exc} (unexpected; -v shows where it was raised)")
            try:
                self.store.finish(state.run_id, "error", EXIT_FAILED, error=str(exc), attempt=attempt)
            except UsageError:  # the store itself failed (the error says so); its record stays `running`
                logging.getLogger("heron.runner").debug("run %s: not recorded", state.run_id, exc_info=True)
            return TaskOutcome(
                run_id=state.run_id,
                task=loaded.name,
                status="error",
                exit_code=EXIT_FAILED,
                error=str(exc),
                workspace=str(workspace),
                node=self.node,
            )
        finally:
            self.running = None
        return self._conclude(loaded, result, workspace, verdicts, attempt)

    def _checks(self, loaded: LoadedTask, result: RunResult, workspace: Path) -> list[CheckResult]:
        checks = [evaluate_check(c, result, workspace) for c in loaded.task.checks]
        return checks + [evaluate_check(Check(file_exists=f), result, workspace) for f in loaded.task.outputs]

    def _conclude(
        self, loaded: LoadedTask, result: RunResult, workspace: Path, checks: list[CheckResult], attempt: int
    ) -> TaskOutcome:
        if not checks:  # not judged during the run (it did not succeed): still report every check
            checks = self._checks(loaded, result, workspace)
        status = result.status
        code = {"succeeded": EXIT_OK, "budget_exhausted": EXIT_BUDGET}.get(status, EXIT_FAILED)
        outcome = TaskOutcome(
            run_id=result.run_id,
            task=loaded.name,
            status=status,
            exit_code=code,
            answer=result.answer,
            note=result.note,
            answer_cut=result.answer_cut,
            stopped_by=result.stopped_by,
            steps=result.steps,
            citations=[c.model_dump() for c in result.citations],
            checks=checks,
            artifacts=result.artifacts,
            workspace=str(workspace),
            trace_path=str(result.trace_path or ""),
            node=self.node,
            failed_calls=result.failed_calls,
            denied_calls=result.denied_calls,
            unsourced_numbers=result.unsourced_numbers,
        )
        try:
            self.store.finish(
                result.run_id,
                status,
                code,
                answer=result.answer,
                outcome=outcome.model_dump(include=set(STORED_OUTCOME)),
                attempt=attempt,
            )
        except UsageError as exc:  # the store went away at the very end: the answer stays the user's
            outcome.exit_code = EXIT_FAILED
            outcome.error = (
                f"the run finished ({status}), but its end was not recorded: {exc.problem}; its record still "
                "says running, and `heron resume` would take its last step again"
            )
        return outcome

    # -- pieces -------------------------------------------------------------------------------------

    def _workspace(self, loaded: LoadedTask) -> Path:
        if loaded.task.workspace:
            return (loaded.folder / loaded.task.workspace).resolve()
        return self.settings.data_dir.expanduser() / "workspaces" / loaded.name

    def _memory(self, loaded: LoadedTask, stack: contextlib.ExitStack) -> Any:
        if loaded.task.memory is None:
            return None
        from heron.memory import VectorMemory

        memory = VectorMemory(self.settings, collection=loaded.task.memory.collection)
        stack.callback(memory.close)
        return memory

    def _agent(self, loaded: LoadedTask, workspace: Path, memory: Any, stack: contextlib.ExitStack) -> Agent:
        """The task's agent; its sub-agents (``agents:``) become tools of it, closed with ``stack``."""
        task = loaded.task
        sub_agents = {}
        for spec in task.agents:
            sub = Agent(
                self.llm,
                tools=self._tools(spec.tools, memory, loaded.folder),
                config=AgentConfig(
                    budget=spec.budget or Budget.from_settings(self.settings.agent),
                    instructions=spec.instructions,
                ),
                workspace=workspace,
                settings=self.settings,
            )
            sub_agents[spec.name] = stack.enter_context(sub).as_tool(spec.name, spec.description)
        own = self._tools([n for n in task.tools if n not in sub_agents], memory, loaded.folder)
        tools = [sub_agents[name] if name in sub_agents else own.pop(0) for name in task.tools]
        tools += self._mcp_tools(loaded, {t.name for t in tools}, stack)
        config = AgentConfig(
            budget=task.budget or Budget.from_settings(self.settings.agent),
            planning=task.planning,
            instructions=task.instructions,
            require_citations=task.require_citations,
            step_notes=task.step_notes,
            check_first_call=task.check_first_call,
            tool_retries=task.retries.attempts,
            tool_retry_backoff=task.retries.backoff_seconds,
        )
        approve: ApprovalCallback = (
            approve_all if self.approve_everything else allow_tools(task.approval.allow, deny_all)
        )
        return Agent(
            self.llm,
            tools=tools,
            config=config,
            approve=approve,
            workspace=workspace,
            settings=self.settings,
            callbacks=self.callbacks,
        )

    def _mcp_tools(self, loaded: LoadedTask, taken: set[str], stack: contextlib.ExitStack) -> list[Tool]:
        """Every tool of the task's MCP servers (``mcp:``); a server that does not start stops the run
        before anything ran."""
        if not loaded.task.mcp:
            return []
        from heron.tools.mcp import MCPServers

        specs = {}
        for name, spec in loaded.task.mcp.items():
            spec = spec or self.settings.mcp.servers.get(name)
            if spec is None:
                raise TaskFileError(
                    f"{loaded.path}: mcp.{name}: no server spec, and heron.toml has no [mcp.servers.{name}]",
                    "give the server here ({command: ..., args: [...]} or {url: ...}) or in heron.toml",
                )
            specs[name] = spec
        servers = stack.enter_context(MCPServers(specs))
        tools = servers.tools(taken)
        if servers.failed:
            raise MCPServerError("; ".join(servers.failed), f"check `mcp:` in {loaded.path}")
        return list(tools)

    def _tools(self, names: Sequence[str], memory: Any, folder: Path) -> list[Tool]:
        from heron.tools.builtin import tools_by_name

        available = tools_by_name()
        if memory is not None:
            from heron.memory.tools import memory_tools

            available.update({t.name: t for t in memory_tools(memory)})
        return [available[name] if name in available else load_tool_reference(name, folder) for name in names]

    def _ingest(self, memory: Any, loaded: LoadedTask, on_ingest: Callable[[str], None] | None) -> None:
        from heron.memory.ingest import Ingester

        assert loaded.task.memory is not None
        paths = [loaded.folder / p for p in loaded.task.memory.ingest]
        report = Ingester(memory).ingest(paths)
        if on_ingest is not None:
            on_ingest(report.summary())


def _checked_steps(agent: Agent, loaded: LoadedTask) -> list[PlanStep]:
    """The task's steps checked against the agent's tools, its MCP servers' included (which only
    exist once the servers run); wrong ones are the task file's error, every one with its line."""
    plan, problems, hints = [], [], []
    for index, step in enumerate(loaded.task.steps):
        try:
            plan.append(agent.validate_step(step))
        except UsageError as exc:
            where = f"{loaded.path}:{loaded.line_of(('steps', index, 'tool'))}: steps[{index}]"
            problems.append(f"{where}: {exc.problem}")
            hints += [exc.hint] if exc.hint and exc.hint not in hints else []
    if problems:
        raise TaskFileError("\n".join(problems), "; ".join(hints))
    return plan


def new_run_id(task_name: str) -> str:
    return f"{task_name}-{uuid.uuid4().hex[:8]}"


def evaluate_check(check: Check, result: RunResult, workspace: Path) -> CheckResult:
    """Decide one success check against the run's answer and workspace."""
    if check.file_exists is not None:
        path = workspace / check.file_exists
        ok = path.is_file() and path.stat().st_size > 0
        return CheckResult(
            check=f"file_exists {check.file_exists}",
            passed=ok,
            detail="" if ok else f"{path} missing or empty",
        )
    if check.file_contains is not None:
        path = workspace / check.file_contains["path"]
        text = path.read_text(errors="replace") if path.is_file() else ""
        ok = check.file_contains["text"] in text
        return CheckResult(
            check=f"file_contains {check.file_contains['path']} {check.file_contains['text']!r}",
            passed=ok,
            detail="" if ok else f"not in {path}",
        )
    if check.file_matches is not None:
        path = workspace / check.file_matches["path"]
        text = path.read_text(errors="replace") if path.is_file() else ""
        pattern = check.file_matches["pattern"]
        ok = re.search(pattern, text, re.IGNORECASE | re.MULTILINE) is not None
        return CheckResult(
            check=f"file_matches {check.file_matches['path']} {pattern!r}",
            passed=ok,
            detail="" if ok else f"no match in {path}",
        )
    if check.answer_contains is not None:
        ok = check.answer_contains.lower() in result.answer.lower()
        return CheckResult(
            check=f"answer_contains {check.answer_contains!r}",
            passed=ok,
            detail="" if ok else f"answer was {result.answer[:120]!r}",
        )
    if check.answer_matches is not None:
        ok = re.search(check.answer_matches, result.answer, re.IGNORECASE) is not None
        return CheckResult(
            check=f"answer_matches {check.answer_matches!r}",
            passed=ok,
            detail="" if ok else f"answer was {result.answer[:120]!r}",
        )
    if check.cited_passages_contain is not None:
        cited = [c.text.lower() for c in result.citations]
        missing = [t for t in check.cited_passages_contain if not any(t.lower() in c for c in cited)]
        return CheckResult(
            check=f"cited_passages_contain {check.cited_passages_contain!r}",
            passed=not missing,
            detail=f"no cited passage holds {missing!r}" if missing else "",
        )
    ok = bool(result.citations) == bool(check.answer_cites)
    return CheckResult(
        check="answer_cites", passed=ok, detail="" if ok else f"citations: {[c.id for c in result.citations]}"
    )
