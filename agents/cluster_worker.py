"""The worker side of a Ray cluster (see :mod:`heron.agents.cluster`): the settings a worker runs
with, how many GPUs it takes, and the worker actor itself, which loads the model once and runs task
files (sending their events back) or maps eval items."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

import heron.llm
from heron.agents.run_store import configured_store_url, this_node
from heron.agents.runner import TaskOutcome, TaskRunner
from heron.config import Settings
from heron.errors import UsageError
from heron.llm.base import LLM
from heron.status import EXIT_FAILED

T = TypeVar("T")
R = TypeVar("R")
LLMFactory = Callable[[Settings], LLM]
_QUIET_EVENTS = {"token", "tool_progress"}  # too many to send over the cluster; not shown anyway


def worker_settings(settings: Settings) -> Settings:
    """The settings a worker runs with: the submitter's, with every path in them made absolute here (a
    worker starts in another directory), the submitter's own run store (the one `heron runs`, `resume`
    and `trace` read here), and ``cluster.shared_dir`` as the data dir (workspaces, traces, KV states)
    when it is set."""
    data = _absolute_paths(settings).model_dump(mode="json")
    for name in ("model", "embedding_model"):  # a name, or a path relative to this directory
        value = data.get(name)
        if isinstance(value, str) and value.startswith((".", "~")):
            data[name] = str(Path(value).expanduser().resolve())
    data["run_store"] = configured_store_url(settings)
    if settings.cluster.shared_dir is not None:
        data["data_dir"] = str(settings.cluster.shared_dir.expanduser().resolve())
    return Settings.model_validate(data)


def _absolute_paths(value: Any) -> Any:
    """``value`` with every ``Path`` in it, at any depth of the settings, made absolute here."""
    if isinstance(value, Path):
        return value.expanduser().resolve()
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: _absolute_paths(item) for name, item in value})
    if isinstance(value, dict):
        return {key: _absolute_paths(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_absolute_paths(item) for item in value]
    return value


def gpus_per_worker(wanted: float | str, cluster_gpus: float, workers: int, model_is_local: bool) -> float:
    """``cluster.worker_gpus``: a number is taken as given; ``auto`` gives each worker one GPU when the
    model runs in-process and the cluster has a GPU for every worker, else none (CPU)."""
    if wanted != "auto":
        return float(wanted)
    return 1.0 if model_is_local and cluster_gpus >= workers else 0.0


def cpu_fallback_note(wanted: float | str, cluster_gpus: float, workers: int, model_is_local: bool) -> str:
    """What to say when ``auto`` leaves the cluster's GPUs unused (fewer GPUs than workers); "" else."""
    if wanted != "auto" or not model_is_local or not cluster_gpus or cluster_gpus >= workers:
        return ""
    share = 1 / math.ceil(workers / cluster_gpus)
    return (
        f"cluster.worker_gpus = auto: the cluster has {cluster_gpus:g} GPUs for {workers} workers, so the "
        f"workers run on CPU; set cluster.worker_gpus = {share:g} to share the GPUs, or lower cluster.workers"
    )


class HeronWorker:
    """One worker actor: the model is loaded once, when the actor starts (and again after a restart)."""

    def __init__(self, settings: dict[str, Any], open_llm: LLMFactory | None) -> None:
        import ray

        self.settings = Settings.model_validate(settings)
        self.llm = (open_llm or heron.llm.open_llm)(self.settings)
        self.node = f"{this_node()}/{ray.get_runtime_context().get_node_id()[:8]}"

    def where(self) -> tuple[int, str, str]:
        return os.getpid(), self.node, self.llm.name

    def run_task(
        self, index: int, task_path: str, task_name: str, run_id: str, approve_everything: bool, events: Any
    ) -> tuple[int, str]:
        """Run (or, after a retry, resume) one task file; its events go to the submitter's queue."""
        try:
            with TaskRunner(
                self.settings,
                self.llm,
                approve_everything=approve_everything,
                callbacks=[EventForwarder(events, index, self.node)],
                node=self.node,
            ) as runner:
                outcome = runner.run_or_resume(task_path, run_id, task_name=task_name)
        except Exception as exc:  # the task file, its tools or the store failed before the run did
            outcome = TaskOutcome(
                run_id=run_id,
                task=task_name,
                status="error",
                exit_code=EXIT_FAILED,
                error=str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}",
                node=self.node,
                note=f"once the cause is fixed, `heron resume {run_id}` runs it again",
            )
        return index, outcome.model_dump_json()

    def map_items(self, fn: Callable[[LLM, T], R], items: Sequence[T]) -> list[R]:
        return [fn(self.llm, item) for item in items]


class EventForwarder:
    """A run's events, sent to the submitter's queue as long as it takes them: a ``put`` that fails
    (the queue's actor is gone, or full) drops that event and every later one of the run, which goes
    on: the run matters, not its echo."""

    def __init__(self, events: Any, index: int, node: str) -> None:
        self.events, self.index, self.node = events, index, node
        self.lost = False

    def __call__(self, event: Any) -> None:
        if self.lost or getattr(event, "type", "") in _QUIET_EVENTS:
            return
        try:
            self.events.put((self.index, self.node, event.model_dump(mode="json")), timeout=10)
        except Exception:
            self.lost = True
