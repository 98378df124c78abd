"""The cluster pool's own decisions, without a cluster: which worker gets a job, when a dead one is
replaced and its job retried, what a failed task leaves in the run store, the settings a worker gets.
Ray's ``wait``/``get``/``kill`` are scripted here; tests/agents/test_cluster.py runs the real thing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import ray.exceptions

from heron.agents import cluster
from heron.agents.cluster import ClusterPool, failed_outcome
from heron.agents.cluster_worker import EventForwarder, cpu_fallback_note, worker_settings
from heron.agents.run_store import RunStore, configured_store_url, store_url
from heron.agents.state import RunState
from heron.config import load_settings
from heron.tracing import RunResumedEvent, TokenEvent


class _Ref:
    """An ObjectRef stand-in: the value a call returns, or the Ray error its ``get`` raises."""

    def __init__(self, outcome: Any) -> None:
        self.outcome = outcome


class _Remote:
    def __init__(self, call: Any) -> None:
        self.remote = call


class _Worker:
    """A scripted worker actor: ``run(job)`` answers with the next scripted outcome of that job."""

    def __init__(self, name: str, script: dict[int, list[Any]], log: list[tuple[str, str]]) -> None:
        self.name = name
        self.jobs: list[int] = []
        self.where = _Remote(lambda: _Ref((0, name, "scripted")))

        def run(job: int) -> _Ref:
            log.append(("call", name))
            self.jobs.append(job)
            return _Ref(script[job].pop(0))

        self.run = _Remote(run)


class _ScriptedRay:
    exceptions = ray.exceptions

    def __init__(self, log: list[tuple[str, str]]) -> None:
        self.log = log

    def wait(self, refs: list[_Ref], num_returns: int, timeout: float) -> tuple[list[_Ref], list[_Ref]]:
        return refs[:1], refs[1:]  # the oldest call answers first

    def get(self, ref: _Ref) -> Any:
        if isinstance(ref.outcome, BaseException):
            raise ref.outcome
        return ref.outcome

    def kill(self, actor: _Worker, no_restart: bool) -> None:
        self.log.append(("kill", actor.name))


def _died() -> ray.exceptions.RayError:
    return ray.exceptions.RayActorError()


def test_a_dead_worker_is_replaced_never_reused_and_retries_count_per_job(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[tuple[str, str]] = []
    script: dict[int, list[Any]] = {
        0: [_died(), "a"],  # its worker dies once: retried on a fresh one
        1: [_died(), "b"],  # the same again, on another worker: retries count per job
        2: [ray.exceptions.RayTaskError("run", "Traceback ...", ValueError("boom"))],
        3: [_died(), _died()],  # more deaths than cluster.retries = 1 allows
        4: ["e"],
    }
    started: list[_Worker] = []

    def new_worker() -> _Worker:
        started.append(_Worker(f"w{len(started)}", script, log))
        return started[-1]

    pool = ClusterPool.__new__(ClusterPool)  # (no Ray: only its dispatch runs, on scripted workers)
    pool.settings = load_settings(cluster={"retries": 1})
    pool._new_actor = new_worker
    pool.actors = [pool._new_actor(), pool._new_actor()]
    monkeypatch.setattr(cluster, "_ray", lambda: _ScriptedRay(log))
    results: dict[int, Any] = {}
    failures: dict[int, tuple[str, bool]] = {}

    pool._dispatch(
        len(script),
        lambda worker, job: worker.run.remote(job),
        results.__setitem__,
        lambda job, reason, died: failures.__setitem__(job, (reason, died)),
    )
    assert results == {0: "a", 1: "b", 4: "e"}
    assert failures[2] == ("ValueError: boom", False)  # the worker's own error, not "died"
    reason, died = failures[3]
    assert died and reason.startswith("its worker died 2 times (cluster.retries = 1)")
    killed = [name for kind, name in log if kind == "kill"]
    assert len(killed) == 4 and len(pool.actors) == 2
    for name in killed:  # a dead worker never gets another call
        assert ("call", name) not in log[log.index(("kill", name)) :]
    (raised_on,) = [worker for worker in started if 2 in worker.jobs]
    assert raised_on.jobs[-1] != 2  # a live worker: it took the next job


def test_a_task_whose_worker_raised_is_stored_as_error_with_its_message_and_its_name(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path / "data")
    with RunStore.from_settings(settings) as store:
        store.create_run("report-0001", "weekly report", "/tasks/report.yaml", "goal")
        store.checkpoint(RunState(run_id="report-0001", goal="goal", step=1))
        store.create_run("report-0002", "weekly report", "/tasks/report.yaml", "goal")

    raised = failed_outcome(
        settings,
        "report-0001",
        "weekly report",
        "/tasks/report.yaml",
        "ValueError: boom",
        worker_died=False,
    )
    died = failed_outcome(
        settings, "report-0002", "weekly report", "/tasks/report.yaml", "its worker died", worker_died=True
    )
    assert (raised.task, raised.status, raised.error) == ("weekly report", "error", "ValueError: boom")
    assert died.status == "interrupted"  # as the store says: its worker died, nothing raised
    assert raised.note == "resume it with `heron resume report-0001`"
    assert died.note == "it has no checkpoint: `heron resume report-0002` starts it again from the beginning"
    never = failed_outcome(
        settings, "report-0003", "weekly report", "/tasks/report.yaml", "x", worker_died=True
    )
    assert never.note == "it is not in the run store: run it again with `heron run /tasks/report.yaml`"
    with RunStore.from_settings(settings) as store:
        first, second = store.get("report-0001"), store.get("report-0002")
    assert (first.status, first.error) == ("error", "ValueError: boom")
    assert second.status == "interrupted"


def test_workers_use_the_submitters_store_and_paths_resolved_on_the_submitter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        data_dir="data",
        model="./models/tiny.gguf",
        chroma={"path": "chroma"},
        mcp={"servers": {"git": {"command": "mcp-git", "cwd": "repo"}}},
        cluster={"shared_dir": "shared"},
    )
    shared = worker_settings(settings)
    # one store for both sides: the one `heron runs/resume/trace` open here, not one under shared_dir
    assert shared.run_store == configured_store_url(settings) == store_url(tmp_path / "data" / "runs.sqlite3")
    assert configured_store_url(shared) == configured_store_url(settings)
    assert shared.data_dir == tmp_path / "shared"  # workspaces, traces, KV states
    assert shared.model == str(tmp_path / "models" / "tiny.gguf")
    assert shared.chroma.path == tmp_path / "chroma"
    assert shared.mcp.servers["git"].cwd == tmp_path / "repo"


class _GoneQueue:
    def __init__(self) -> None:
        self.puts = 0

    def put(self, item: object, timeout: float) -> None:
        self.puts += 1
        raise ray.exceptions.RayActorError()


def test_events_that_cannot_be_sent_are_dropped_and_the_run_goes_on() -> None:
    queue = _GoneQueue()
    forward = EventForwarder(queue, 0, "host/1a2b3c4d")
    event = RunResumedEvent(run_id="r", step=1, node="n", kv_cache="reused")
    forward(event)  # (raises nothing)
    forward(event)
    forward(TokenEvent(run_id="r", step=1, text="x"))
    assert (queue.puts, forward.lost) == (1, True)  # one try, then the run's events are dropped


def test_auto_gpus_say_why_the_workers_run_on_cpu_and_what_to_set() -> None:
    note = cpu_fallback_note("auto", cluster_gpus=1, workers=2, model_is_local=True)
    assert "has 1 GPUs for 2 workers" in note and "cluster.worker_gpus = 0.5" in note
    assert "cluster.worker_gpus = 0.5" in cpu_fallback_note("auto", 3, 4, True)  # two per card
    assert cpu_fallback_note("auto", 4, 4, True) == ""  # a GPU each
    assert cpu_fallback_note("auto", 0, 4, True) == ""  # no GPU at all: nothing to say
    assert cpu_fallback_note(1, 1, 2, True) == cpu_fallback_note("auto", 1, 2, False) == ""


def test_a_task_whose_tools_do_not_load_on_the_worker_is_stored_and_resumes_once_fixed(
    tmp_path: Path,
) -> None:
    """docs/scale.md: a worker-side error (a tool's module failing to import on that node) leaves the
    run `error` in the store with the reason, and `heron resume RUN_ID` runs it once the cause is
    fixed (from the beginning: it never reached a checkpoint)."""
    from heron.agents.runner import TaskRunner
    from heron.errors import TaskFileError
    from heron.llm import ScriptedLLM

    folder = tmp_path / "tasks"
    folder.mkdir()
    (folder / "node_tools.py").write_text("raise ImportError('libfoo.so missing on this node')\n")
    task = folder / "units.yaml"
    task.write_text("name: units\ngoal: Say done.\ntools: ['node_tools:shout']\n")
    settings = load_settings(data_dir=tmp_path / "data")
    with TaskRunner(settings, ScriptedLLM([])) as runner, pytest.raises(TaskFileError):
        runner.run_or_resume(task, "units-0001", task_name="units")
    with RunStore.from_settings(settings) as store:
        record = store.get("units-0001")
    assert (record.status, record.task_name) == ("error", "units") and "libfoo.so missing" in (
        record.error or ""
    )
    (folder / "node_tools.py").write_text(
        "from heron.tools import tool\n\n\n@tool\ndef shout(text: str) -> str:\n"
        '    """Shout.\n\n    Args:\n        text: what to shout\n    """\n    return text.upper()\n'
    )
    answer = {"action": "final_answer", "answer": "Done.", "citations": []}
    with TaskRunner(settings, ScriptedLLM([answer])) as runner:
        outcome = runner.resume("units-0001")
    assert (outcome.run_id, outcome.status, outcome.answer) == ("units-0001", "succeeded", "Done.")
    with RunStore.from_settings(settings) as store:
        assert store.get("units-0001").goal == "Say done."  # (recorded empty: the task did not load)
