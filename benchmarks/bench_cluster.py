"""What running task files on a Ray cluster costs per task (`heron run --cluster`), against the local
thread pool of `heron run --parallel`, on the same machine with the same model, two workers each.

A task's **overhead** = (its outcome reaching the submitter - its hand-over to a worker) - the agent's
own run time (the trace's ``run_finished`` seconds): what heron and the transport add around a run
(task file read, run-store rows and checkpoints, agent set-up; for Ray also the actor call, the events
queue and the way back). Median and p95 over the tasks, and the wall time of the whole batch.

1. a scripted model that answers at once (a calculator call, then the answer): only the overhead;
2. SmolLM2-135M in-process in each worker (each task: one calculator step and an answer).

Ray: a two-node cluster on this machine (``ray start --head`` + ``ray start --address``, one CPU each),
started and stopped here. Local: two threads, each with its own ``TaskRunner`` and model: the pool of
``heron run --parallel``, with in-process models (the command itself wants a model server for that).
The run store is SQLite in a temporary folder for both.

Usage: ``.venv/bin/python benchmarks/bench_cluster.py [--tasks 20]``; writes
benchmarks/out/bench_cluster.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from heron.agents.cluster import ClusterPool  # noqa: E402
from heron.agents.runner import TaskOutcome, TaskRunner  # noqa: E402
from heron.config import Settings, load_settings  # noqa: E402
from heron.llm.base import LLM  # noqa: E402
from heron.llm.fake import ScriptedLLM  # noqa: E402
from tests.ray_cluster import node_env, ray_cluster  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "bench_cluster.json"
SCRIPT = [
    {"action": "calculator", "arguments": {"expression": "17 * 23"}},
    {"action": "final_answer", "answer": "391", "citations": []},
]
TASK = """
name: product{index}
goal: What is 17 * 23? Use the calculator.
tools: [calculator]
steps:
  - {{do: "Compute 17 * 23.", tool: calculator, args: {{expression: "17 * 23"}}}}
  - {{do: "Say the result."}}
step_notes: false
budget: {{max_steps: 4, max_tokens: 2000}}
"""


class EndlessScript(ScriptedLLM):
    """The same two replies for every task the worker runs."""

    def _next(self, call: Any) -> Any:
        if not self.remaining:
            self.add(*SCRIPT)
        return super()._next(call)


def scripted(settings: Settings) -> LLM:
    return EndlessScript()


def in_process(settings: Settings) -> LLM:
    from heron.llm import open_llm

    return open_llm(settings)


def run_seconds(outcome: TaskOutcome) -> float:
    for line in Path(outcome.trace_path).read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "run_finished":
            return float(event["seconds"])
    raise RuntimeError(f"{outcome.trace_path}: no run_finished event")


def summary(
    outcomes: list[TaskOutcome], dispatched: dict[int, float], arrived: dict[int, float], wall: float
) -> dict[str, Any]:
    overhead = [arrived[i] - dispatched[i] - run_seconds(o) for i, o in enumerate(outcomes)]
    overhead.sort()
    return {
        "tasks": len(outcomes),
        "succeeded": sum(o.status == "succeeded" for o in outcomes),
        "answers": sorted({o.answer[:60] for o in outcomes}),
        "overhead_median_ms": round(1000 * statistics.median(overhead), 1),
        "overhead_p95_ms": round(1000 * overhead[max(0, int(0.95 * len(overhead)) - 1)], 1),
        "wall_seconds": round(wall, 2),
    }


def local(files: list[Path], settings: Settings, open_llm: Callable[[Settings], LLM]) -> dict[str, Any]:
    """Two threads, each with its own runner and model, taking the next file when free."""
    waiting = list(range(len(files)))
    lock = threading.Lock()
    dispatched: dict[int, float] = {}
    arrived: dict[int, float] = {}
    outcomes: dict[int, TaskOutcome] = {}
    runners = [TaskRunner(settings, open_llm(settings)) for _ in range(2)]

    def work(runner: TaskRunner) -> None:
        while True:
            with lock:
                if not waiting:
                    return
                index = waiting.pop(0)
                dispatched[index] = time.perf_counter()
            outcomes[index] = runner.run(files[index])
            arrived[index] = time.perf_counter()

    started = time.perf_counter()
    threads = [threading.Thread(target=work, args=(r,)) for r in runners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    for runner in runners:
        runner.llm.close()
        runner.close()
    return summary([outcomes[i] for i in range(len(files))], dispatched, arrived, wall)


def on_ray(
    address: str, files: list[Path], settings: Settings, open_llm: Callable[[Settings], LLM]
) -> dict[str, Any]:
    dispatched: dict[int, float] = {}
    arrived: dict[int, float] = {}
    with ClusterPool(address, settings, open_llm=open_llm, workers=2) as pool:
        started = time.perf_counter()
        outcomes = pool.run_tasks(
            files,
            on_dispatch=lambda i: dispatched.__setitem__(i, time.perf_counter()),
            on_outcome=lambda i, _: arrived.__setitem__(i, time.perf_counter()),
        )
        wall = time.perf_counter() - started
    return summary(outcomes, dispatched, arrived, wall)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=20, help="task files per run")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="heron-bench-cluster-"))
    files = []
    for index in range(args.tasks):
        path = root / "tasks" / f"product{index}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(TASK.format(index=index))
        files.append(path)
    results: dict[str, Any] = {
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "command": "python benchmarks/bench_cluster.py --tasks " + str(args.tasks),
    }
    with ray_cluster(node_env(dict(os.environ), root / "home")) as address:
        for label, open_llm, model in (
            ("scripted", scripted, "smollm2-135m"),
            ("smollm2-135m", in_process, "smollm2-135m"),
        ):
            for side in ("local", "ray"):
                settings = load_settings(data_dir=root / f"{label}-{side}", model=model, context_size=2048)
                print(f"{label} {side} ...", flush=True)
                if side == "local":
                    results[f"{label} {side}"] = local(files, settings, open_llm)
                else:
                    results[f"{label} {side}"] = on_ray(address, files, settings, open_llm)
                print(json.dumps(results[f"{label} {side}"]), flush=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
