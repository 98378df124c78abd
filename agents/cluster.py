"""Task runs and eval items on a Ray cluster (``heron run --cluster``, ``heron eval --cluster``).

A pool of worker actors, each with the model loaded once (an in-process GGUF, on a GPU when its node
has one, or the HTTP backend), placed by Ray on the cluster's CPUs and GPUs. Each task file or chunk
of eval items goes to the next idle worker. A worker that died is replaced by a fresh one and its call
is retried there, at most ``cluster.retries`` times per file or chunk. A task file's run has an id
chosen here, before it is sent, so a retried call finds the run in the shared run store (PostgreSQL)
and resumes it from its last checkpoint: no finished tool call runs twice; the run store's attempt
number stops a worker that was only presumed dead from writing over its successor. Eval items are
merged back in their order, so a deterministic eval gives the figures of a local run.

This module is the submitter's side; the worker actor and the settings it runs with are in
:mod:`heron.agents.cluster_worker`. Every node must see the same paths: heron installed, the model
file (or use the HTTP backend), the task files and ``cluster.shared_dir`` (workspaces, traces, KV
states). See docs/scale.md.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from heron.agents.cluster_worker import (
    HeronWorker,
    LLMFactory,
    cpu_fallback_note,
    gpus_per_worker,
    worker_settings,
)
from heron.agents.run_store import RunStore, configured_store_url, describe_location
from heron.agents.runner import TaskOutcome, new_run_id
from heron.agents.tasks import load_task
from heron.config import Settings
from heron.errors import RunError, UsageError
from heron.llm.base import LLM
from heron.status import EXIT_FAILED, StoredStatus

T = TypeVar("T")
R = TypeVar("R")
START_SECONDS = 600.0  # how long a worker may take to be placed and load its model


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
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            speaks_grpc = _answers_http2(sock, timeout)
    except OSError as exc:
        raise UsageError(
            f"nothing answers at the Ray cluster address {address} ({exc})",
            "start the head node with `ray start --head --port PORT` and give its host:port (docs/scale.md)",
        ) from exc
    if not speaks_grpc and os.environ.get("RAY_USE_TLS", "0").lower() not in ("1", "true"):
        # (a head that uses TLS does not answer a plain preface; Ray connects to it itself)
        raise UsageError(
            f"something answers at {address}, but not a Ray cluster's head: it does not speak gRPC",
            "give the address `ray start --head` printed for connecting (port 6379 by default; 8265 is "
            "its dashboard, not the cluster)",
        )


def _answers_http2(sock: socket.socket, timeout: float) -> bool:
    """Whether the server answers an HTTP/2 connection preface with its SETTINGS frame, as every gRPC
    server (Ray's head, the GCS, among them) does at once."""
    sock.settimeout(timeout)
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes([0, 0, 0, 4, 0, 0, 0, 0, 0]))
    header = b""
    try:
        while len(header) < 9:  # a frame header: 3 bytes length, 1 byte type (4: SETTINGS), ...
            chunk = sock.recv(9 - len(header))
            if not chunk:
                break
            header += chunk
    except OSError:  # (a timeout: a server that waits for something else)
        return False
    return len(header) == 9 and header[3] == 4


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
        self.actors: list[Any] = []
        self.events: Any = None  # a ray.util.queue.Queue the workers put their runs' events in
        self._notice = on_notice or _log_notice
        self._connected_here = not ray.is_initialized()
        if self._connected_here:
            check_reachable(address)
            route_cluster_notices(self._notice)  # before init: its own notices too
            try:
                ray.init(address=address, namespace="heron", log_to_driver=False, logging_level=logging.ERROR)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UsageError(
                    f"cannot connect to the Ray cluster at {address}: {str(exc).splitlines()[0]}",
                    "start one with `ray start --head` and give its address (host:port), see docs/scale.md",
                ) from exc
        try:
            self._start(ray, open_llm, workers or settings.cluster.workers)
        except BaseException:
            self.close()
            raise

    def _start(self, ray: Any, open_llm: LLMFactory | None, count: int) -> None:
        from ray.util.queue import Queue
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        shared = worker_settings(self.settings)
        _refuse_sqlite_across_machines(ray, shared.run_store or "")
        # the events queue lives on the submitter's node (it reads it) and takes no CPU from the workers
        here = ray.get_runtime_context().get_node_id()
        self.events = Queue(
            actor_options={
                "num_cpus": 0,
                "scheduling_strategy": NodeAffinitySchedulingStrategy(node_id=here, soft=False),
            }
        )
        options = self.settings.cluster
        cluster_gpus = ray.cluster_resources().get("GPU", 0)
        model_is_local = not self.settings.llm_base_url
        gpus = gpus_per_worker(options.worker_gpus, cluster_gpus, count, model_is_local)
        note = cpu_fallback_note(options.worker_gpus, cluster_gpus, count, model_is_local)
        if note:
            self._notice(note)
        self._resources = f"{options.worker_cpus:g} CPU and {gpus:g} GPU per worker"
        # heron replaces a dead worker itself (see _dispatch): Ray's own restarts would count over the
        # actor's whole life, not per task
        self._new_actor = lambda: (
            ray.remote(HeronWorker)
            .options(num_cpus=options.worker_cpus, num_gpus=gpus, max_restarts=0, max_task_retries=0)
            .remote(shared.model_dump(mode="json"), open_llm)
        )
        self.actors = [self._new_actor() for _ in range(count)]
        probes = [a.where.remote() for a in self.actors]
        _, pending = ray.wait(probes, num_returns=len(probes), timeout=START_SECONDS)
        if pending:
            raise UsageError(
                f"{len(pending)} of {count} cluster workers did not start within {START_SECONDS:.0f} s "
                f"({self._resources} asked; the cluster has {_resources_text(ray.cluster_resources())})",
                "lower cluster.workers, cluster.worker_cpus or cluster.worker_gpus, or add nodes",
            )
        try:
            started = ray.get(probes)
        except ray.exceptions.RayError as exc:
            raise UsageError(
                f"a cluster worker did not start: {_cause(exc)}",
                "check that every node has heron and the model at the same paths (`heron doctor`)",
            ) from exc
        self.workers: list[tuple[int, str]] = [(pid, node) for pid, node, _ in started]
        self.model_name: str = started[0][2]  # the model's own name, as the workers loaded it

    def close(self) -> None:
        ray = _ray()
        for actor in self.actors:
            ray.kill(actor, no_restart=True)
        self.actors = []
        if self.events is not None:
            self.events.shutdown(force=True)
            self.events = None
        if self._connected_here and ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> ClusterPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- dispatch -----------------------------------------------------------------------------------

    def _dispatch(
        self,
        count: int,
        call: Callable[[Any, int], Any],
        on_result: Callable[[int, Any], None],
        on_failure: Callable[[int, str, bool], None],
        on_dispatch: Callable[[int], None] | None = None,
    ) -> None:
        """Run jobs ``0..count-1``: each goes to the next idle worker as ``call(actor, job)`` (an
        ObjectRef). A worker that dies (any Ray error but a Python exception raised in it: killed,
        out of memory, its node lost) is killed for good and a fresh one started in its place; its
        job goes back to the front of the queue, at most ``cluster.retries`` times per job. A Python
        error inside a worker fails only that job (it is not retried: it would fail again) and the
        worker goes on. ``on_failure(job, reason, worker_died)``."""
        ray = _ray()
        retries = self.settings.cluster.retries
        waiting = list(range(count))
        tries = dict.fromkeys(waiting, 0)
        idle = list(self.actors)
        # a call's ref -> (its job, or None for a new worker's first call; the worker; when sent)
        running: dict[Any, tuple[int | None, Any, float]] = {}
        while waiting or any(job is not None for job, _, _ in running.values()):
            while waiting and idle:
                job, actor = waiting.pop(0), idle.pop(0)
                running[call(actor, job)] = (job, actor, time.monotonic())
                if on_dispatch is not None:
                    on_dispatch(job)
            if not running:  # every worker is gone and none could be started in its place
                for job in waiting:
                    on_failure(job, "no cluster worker is left (each replacement failed to start)", True)
                return
            ready, _ = ray.wait(list(running), num_returns=1, timeout=1.0)
            if not ready:
                self._give_up_on_slow_starts(running, ray)
                continue
            finished, actor, _ = running.pop(ready[0])
            try:
                result = ray.get(ready[0])
            except ray.exceptions.RayTaskError as exc:  # a Python error inside a live worker
                idle.append(actor)
                if finished is not None:
                    on_failure(finished, _cause(exc), False)
                continue
            except ray.exceptions.RayError as exc:  # the worker died: killed, out of memory, node lost
                if finished is None:  # a replacement that did not start is not replaced again
                    ray.kill(actor, no_restart=True)
                    self.actors.remove(actor)
                    _log_notice(f"a replacement cluster worker did not start: {_cause(exc)}")
                    continue
                replacement = self._replace(actor, ray)
                running[replacement.where.remote()] = (None, replacement, time.monotonic())
                tries[finished] += 1
                if tries[finished] <= retries:
                    waiting.insert(0, finished)
                else:
                    on_failure(
                        finished,
                        f"its worker died {tries[finished]} time{'s' * (tries[finished] != 1)} "
                        f"(cluster.retries = {retries}): {_cause(exc)}",
                        True,
                    )
                continue
            idle.append(actor)
            if finished is not None:
                on_result(finished, result)

    def _replace(self, dead: Any, ray: Any) -> Any:
        ray.kill(dead, no_restart=True)
        self.actors.remove(dead)
        fresh = self._new_actor()
        self.actors.append(fresh)
        return fresh

    def _give_up_on_slow_starts(self, running: dict[Any, tuple[int | None, Any, float]], ray: Any) -> None:
        """A new worker not placed within START_SECONDS (its node is gone, no room) is dropped."""
        now = time.monotonic()
        for ref, (job, actor, since) in list(running.items()):
            if job is None and now - since > START_SECONDS:
                del running[ref]
                ray.kill(actor, no_restart=True)
                self.actors.remove(actor)

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
        paths = [str(Path(p).resolve()) for p in task_files]
        names = [load_task(p).name for p in paths]
        run_ids = [new_run_id(name) for name in names]
        outcomes: dict[int, TaskOutcome] = {}

        def finished(index: int, outcome: TaskOutcome) -> None:
            outcomes[index] = outcome
            if on_outcome is not None:
                on_outcome(index, outcome)

        def failed(index: int, reason: str, worker_died: bool) -> None:
            outcome = failed_outcome(
                self.settings, run_ids[index], names[index], paths[index], reason, worker_died=worker_died
            )
            finished(index, outcome)

        with self._draining(on_event):
            self._dispatch(
                len(paths),
                lambda actor, i: actor.run_task.remote(
                    i, paths[i], names[i], run_ids[i], approve_everything, self.events
                ),
                lambda i, result: finished(i, TaskOutcome.model_validate_json(result[1])),
                failed,
                on_dispatch,
            )
        return [outcomes[i] for i in range(len(paths))]

    @contextmanager
    def _draining(self, on_event: Callable[[TaskEvent], None] | None) -> Iterator[None]:
        """Hand the workers' events to ``on_event`` while the block runs (a thread reads the queue)."""
        from ray.exceptions import RayError
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
                except RayError as exc:  # the queue's actor died: the runs go on, unseen
                    _log_notice(f"the cluster's event stream stopped: {_cause(exc)}")
                    return
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
        the results in the items' order. ``fn`` must be importable (a module-level function). A chunk
        whose worker died is retried on a fresh one; one that still fails raises RunError."""
        if not items:
            return []
        size = chunk_size or max(1, -(-len(items) // (len(self.actors) * 4)))
        chunks = [list(items[i : i + size]) for i in range(0, len(items), size)]
        results: dict[int, list[R]] = {}
        problems: list[str] = []

        def got(index: int, chunk_results: list[R]) -> None:
            results[index] = chunk_results
            if on_chunk is not None:
                on_chunk(len(chunk_results))

        def failed(index: int, reason: str, worker_died: bool) -> None:
            first = index * size
            problems.append(f"items {first}-{first + len(chunks[index]) - 1}: {reason}")

        self._dispatch(len(chunks), lambda actor, i: actor.map_items.remote(fn, chunks[i]), got, failed)
        if problems:
            raise RunError(
                f"{len(problems)} of {len(chunks)} chunks failed on the cluster: {'; '.join(problems)}",
                "see `heron doctor` for the cluster's state; the eval can be run again",
            )
        return [result for index in range(len(chunks)) for result in results[index]]


def failed_outcome(
    settings: Settings, run_id: str, task: str, task_path: str, reason: str, *, worker_died: bool
) -> TaskOutcome:
    """The outcome of a task file whose call failed on the cluster, its run's record made to say so
    (if the run got as far as the store): ``interrupted`` when its workers kept dying, ``error`` with
    ``reason`` when its worker raised. Either can be resumed: from its last checkpoint, or from the
    beginning when it has none."""
    note = f"it is not in the run store: run it again with `heron run {task_path}`"
    try:
        with RunStore(configured_store_url(settings)) as store:
            record = store.find(run_id)
            if record is not None and record.status == "running":
                if worker_died:
                    store.set_status(run_id, "interrupted", attempt=record.attempt)
                else:
                    store.finish(run_id, "error", EXIT_FAILED, error=reason, attempt=record.attempt)
            if record is not None and store.latest_state(run_id) is not None:
                note = f"resume it with `heron resume {run_id}`"
            elif record is not None:
                note = f"it has no checkpoint: `heron resume {run_id}` starts it again from the beginning"
    except Exception as exc:  # the outcome already says what happened; the store is best effort
        _log_notice(f"could not record the failure of run {run_id}: {exc}")
    status: StoredStatus = "interrupted" if worker_died else "error"  # the word the store says too
    return TaskOutcome(
        run_id=run_id, task=task, status=status, exit_code=EXIT_FAILED, error=reason, note=note
    )


def _log_notice(text: str) -> None:
    logging.getLogger("heron.cluster").warning(text)


def route_cluster_notices(on_notice: Callable[[str], None]) -> None:
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


def _cause(exc: BaseException) -> str:
    """The first line of what went wrong inside Ray: the worker's own exception when there is one."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, type(exc)):
        text = f"{type(cause).__name__}: {cause}"
    else:
        text = str(exc)
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[0][:300] if lines else type(exc).__name__


def _resources_text(resources: dict[str, float]) -> str:
    return f"{resources.get('CPU', 0):g} CPU and {resources.get('GPU', 0):g} GPU in all"


def machines(ray: Any) -> set[str]:
    """The machines (addresses) of the cluster's live nodes."""
    return {n["NodeManagerAddress"] for n in ray.nodes() if n.get("Alive")}


def _refuse_sqlite_across_machines(ray: Any, url: str) -> None:
    """SQLite's locks do not hold across machines (NFS): runs could be lost or doubled."""
    count = len(machines(ray))
    if url.startswith("sqlite") and count > 1:
        raise UsageError(
            f"the run store is SQLite ({describe_location(url)}), which the workers on {count} machines "
            "cannot share safely",
            'set run_store = "postgresql://USER@HOST:PORT/DATABASE" (or HERON_RUN_STORE), see docs/scale.md',
        )
