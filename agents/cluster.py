"""Task runs and eval items on a Ray cluster (``heron run --cluster``, ``heron eval --cluster``).

A pool of worker actors, each with the model loaded once (an in-process GGUF, on a GPU when its node
has one, or the HTTP backend). Ray schedules them on the cluster's CPUs and GPUs, restarts a worker
that died and retries the call it was running. A task file's run has an id chosen here, before it is
sent, so a retried call finds the run in the shared run store (PostgreSQL) and resumes it from its last
checkpoint: no finished tool call runs twice. Eval items are sent in contiguous chunks and merged back
in their order, so a deterministic eval gives the figures of a local run.

Every node must see the same paths: heron installed, the model file (or use the HTTP backend), the
task files and ``cluster.shared_dir`` (workspaces, traces, KV states). See docs/scale.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import heron.llm
from heron.agents.run_store import this_node
from heron.agents.runner import TaskOutcome, TaskRunner, new_run_id
from heron.agents.tasks import load_task
from heron.config import Settings
from heron.errors import UsageError
from heron.llm.base import LLM

T = TypeVar("T")
R = TypeVar("R")
LLMFactory = Callable[[Settings], LLM]
_QUIET_EVENTS = {"token", "tool_progress"}  # too many to send over the cluster; not shown anyway


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise UsageError("--cluster needs Ray", "pip install 'heron[cluster]'") from exc
    return ray


def check_reachable(address: str, timeout: float = 3.0) -> None:
    """Raise UsageError at once when nothing listens at ``address`` (Ray itself waits a minute)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(
            f"cluster address {address!r} is not host:port",
            "give the address `ray start --head` printed, for example 10.0.0.5:6379",
        )
    try:
        socket.create_connection((host, int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UsageError(
            f"nothing answers at the Ray cluster address {address} ({exc})",
            "start the head node with `ray start --head --port PORT` and give its host:port (docs/scale.md)",
        ) from exc


def worker_settings(settings: Settings) -> Settings:
    """The settings a worker runs with: the submitter's, with ``cluster.shared_dir`` as the data dir."""
    data = settings.model_dump(mode="json")
    if settings.cluster.shared_dir is not None:
        data["data_dir"] = str(settings.cluster.shared_dir.expanduser())
    return Settings.model_validate(data)


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
        self, index: int, task_path: str, run_id: str, approve_everything: bool, events: Any
    ) -> tuple[int, str]:
        """Run (or, after a retry, resume) one task file; its events go to the submitter's queue."""

        def forward(event: Any) -> None:
            if getattr(event, "type", "") not in _QUIET_EVENTS:
                events.put((index, self.node, event.model_dump(mode="json")))

        with TaskRunner(
            self.settings,
            self.llm,
            approve_everything=approve_everything,
            callbacks=[forward],
            node=self.node,
        ) as runner:
            outcome = runner.run_or_resume(task_path, run_id)
        return index, outcome.model_dump_json()

    def map_items(self, fn: Callable[[LLM, T], R], items: Sequence[T]) -> list[R]:
        return [fn(self.llm, item) for item in items]


@dataclass(frozen=True)
class TaskEvent:
    """A run's event as it arrived from the cluster: which task file, on which node."""

    index: int
    node: str
    event: Any


class ClusterPool:
    """Worker actors on the Ray cluster at ``address``; close it (or use ``with``) to release them.

    ``open_llm``: how a worker opens its model (default: the settings' model); a benchmark passes a
    scripted one."""

    def __init__(
        self,
        address: str,
        settings: Settings,
        *,
        open_llm: LLMFactory | None = None,
        workers: int | None = None,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        ray = _ray()
        self.settings = settings
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            check_reachable(address)
            try:
                ray.init(address=address, namespace="heron", log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}",
                    "start one with `ray start --head` and give its address (host:port), see docs/scale.md",
                ) from exc
            _route_cluster_notices(on_notice or _log_notice)
        from ray.util.queue import Queue

        options = settings.cluster
        self.events = Queue()
        actor = ray.remote(HeronWorker).options(
            num_cpus=options.worker_cpus,
            num_gpus=self._gpus_per_worker(ray),
            max_restarts=options.retries,
            max_task_retries=options.retries,
        )
        count = workers or options.workers
        shared = worker_settings(settings).model_dump(mode="json")
        self.actors = [actor.remote(shared, open_llm) for _ in range(count)]
        try:
            started = ray.get([a.where.remote() for a in self.actors])
        except ray.exceptions.RayActorError as exc:
            self.close()
            raise UsageError(
                f"a cluster worker did not start: {str(exc).strip().splitlines()[-1][:300]}",
                "check that every node has heron and the model at the same paths (`heron doctor`)",
            ) from exc
        self.workers: list[tuple[int, str]] = [(pid, node) for pid, node, _ in started]
        self.model_name: str = started[0][2]  # the model's own name, as the workers loaded it

    def _gpus_per_worker(self, ray: Any) -> float:
        wanted = self.settings.cluster.worker_gpus
        if wanted != "auto":
            return float(wanted)
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        return 1.0 if has_gpus and not self.settings.llm_base_url else 0.0

    def close(self) -> None:
        ray = _ray()
        for actor in getattr(self, "actors", []):
            ray.kill(actor)
        self.actors = []
        if self._connected_here and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- task files ---------------------------------------------------------------------------------

    def run_tasks(
        self,
        task_files: Sequence[Path | str],
        *,
        approve_everything: bool = False,
        on_event: Callable[[TaskEvent], None] | None = None,
        on_outcome: Callable[[int, TaskOutcome], None] | None = None,
        on_dispatch: Callable[[int], None] | None = None,
    ) -> list[TaskOutcome]:
        """Run every task file on the pool; each goes to the next idle worker, ``on_outcome`` is called
        as each finishes, and the list returned is in the files' order. Each run gets its id here, so a
        call retried after its worker died resumes the same run. ``on_dispatch(index)``: a file was
        handed to a worker."""
        ray = _ray()
        paths = [str(Path(p).resolve()) for p in task_files]
        run_ids = [new_run_id(load_task(p).name) for p in paths]
        outcomes: dict[int, TaskOutcome] = {}
        waiting = list(range(len(paths)))
        idle = list(self.actors)
        running: dict[Any, tuple[int, Any]] = {}  # the call's ref -> (file index, its worker)
        with self._draining(on_event):
            while waiting or running:
                while waiting and idle:
                    index, actor = waiting.pop(0), idle.pop(0)
                    ref = actor.run_task.remote(
                        index, paths[index], run_ids[index], approve_everything, self.events
                    )
                    running[ref] = (index, actor)
                    if on_dispatch is not None:
                        on_dispatch(index)
                (ready,), _ = ray.wait(list(running), num_returns=1)
                index, actor = running.pop(ready)
                idle.append(actor)
                try:
                    outcome = TaskOutcome.model_validate_json(ray.get(ready)[1])
                except ray.exceptions.RayError as exc:  # its worker died more often than it may restart
                    outcome = _failed(paths[index], run_ids[index], exc)
                outcomes[index] = outcome
                if on_outcome is not None:
                    on_outcome(index, outcome)
        return [outcomes[i] for i in range(len(paths))]

    @contextmanager
    def _draining(self, on_event: Callable[[TaskEvent], None] | None) -> Iterator[None]:
        """Hand the workers' events to ``on_event`` while the block runs (a thread reads the queue)."""
        from ray.util.queue import Empty

        done = threading.Event()

        def drain() -> None:
            from heron.tracing import parse_event

            while True:
                try:
                    index, node, data = self.events.get(timeout=0.2)
                except Empty:
                    if done.is_set():
                        return
                    continue
                if on_event is not None:
                    on_event(TaskEvent(index, node, parse_event(data)))

        reader = threading.Thread(target=drain, name="heron-cluster-events", daemon=True)
        reader.start()
        try:
            yield
        finally:
            done.set()
            reader.join(timeout=30)

    # -- eval items ---------------------------------------------------------------------------------

    def map_items(
        self,
        fn: Callable[[LLM, T], R],
        items: Sequence[T],
        *,
        chunk_size: int | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> list[R]:
        """``[fn(llm, item) for item in items]``, the items in contiguous chunks over the workers and
        the results in the items' order. ``fn`` must be importable (a module-level function)."""
        from ray.util import ActorPool

        if not items:
            return []
        size = chunk_size or max(1, -(-len(items) // (len(self.actors) * 4)))
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        results: list[R] = []
        pool = ActorPool(self.actors)
        for chunk_results in pool.map(lambda actor, chunk: actor.map_items.remote(fn, chunk), chunks):
            results.extend(chunk_results)
            if on_chunk is not None:
                on_chunk(len(chunk_results))
        return results


def _log_notice(text: str) -> None:
    logging.getLogger("heron.cluster").warning(text)


def _route_cluster_notices(on_notice: Callable[[str], None]) -> None:
    """Ray's driver prints the cluster's error messages ("a worker died, its task is retried") on
    stdout, where they would corrupt ``heron run --json``; hand them to ``on_notice`` instead, one
    line each. Ray offers no switch for this, so its printer is wrapped (a no-op if Ray renames it)."""
    from ray._private import worker

    original = getattr(worker, "print_to_stdstream", None)
    if original is None or getattr(original, "heron_routed", False):
        return

    def route(data: dict[str, Any], *args: Any, **kwargs: Any) -> None:
        if data.get("pid") != "raylet":
            original(data, *args, **kwargs)
            return
        for message in data.get("lines", []):
            first = str(message).strip().splitlines()[0] if str(message).strip() else ""
            if first:
                on_notice(first[:300])

    route.heron_routed = True  # type: ignore[attr-defined]
    worker.print_to_stdstream = route


def _failed(path: str, run_id: str, exc: Exception) -> TaskOutcome:
    from heron.status import EXIT_FAILED

    return TaskOutcome(
        run_id=run_id,
        task=Path(path).stem,
        status="error",
        exit_code=EXIT_FAILED,
        error=f"its worker died and the retries ran out: {str(exc).strip().splitlines()[0][:300]}",
        note="resume it with `heron resume`",
    )
