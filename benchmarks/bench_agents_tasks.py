"""Multi-step tasks with checkable answers, run as a user runs them (`heron run TASK`), several times
each, with the success rate, seconds and tokens per run.

At temperature 0 a run is a function of its inputs, so "3 runs out of 3" says little on its own. The
`--orders` option perturbs one input the task does not fix: the order in which `retrieve` returns
its passages (order 0 is the order heron's ranking gives; order i > 0 shuffles each result list with
seed i). A task whose success hangs on passage order shows it here.

Usage:
  python benchmarks/bench_agents_tasks.py [--tasks examples/demo.yaml benchmarks/tasks/*.yaml]
      [--orders 6] [--first-order 0] [--model qwen2.5-coder-1.5b] [--scratch DIR]
      [--set step_notes=false ...]   (--set: any AgentConfig field, the value read as JSON)
      [--note-after-chars 0]         (a plan step's note after every tool result, as before 68de785)
Writes benchmarks/out/agents_tasks.json (one record per run) and prints a table; the runs' traces stay
in the temporary folder it prints.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from heron.agents import plan_execution
from heron.agents.runner import TaskRunner
from heron.agents.tasks import load_task
from heron.config import load_settings
from heron.llm import open_llm
from heron.memory import VectorMemory
from heron.tracing import read_trace

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "out"
DEFAULT_TASKS = [REPO / "examples" / "demo.yaml", *sorted((REPO / "benchmarks" / "tasks").glob("*.yaml"))]

_search = VectorMemory.search


def shuffled_search(seed: int) -> Any:
    """``VectorMemory.search`` with its result list shuffled by ``seed`` (0: left as ranked)."""

    def search(self: VectorMemory, *args: Any, **kwargs: Any) -> Any:
        passages = _search(self, *args, **kwargs)
        if seed:
            passages = list(passages)
            random.Random(seed).shuffle(passages)
        return passages

    return search


class ConfiguredRunner(TaskRunner):
    """A TaskRunner whose agents get ``overrides`` on top of each task's AgentConfig."""

    def __init__(self, *args: Any, overrides: dict[str, Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.overrides = overrides

    def _agent(self, loaded: Any, workspace: Path, memory: Any, stack: Any) -> Any:
        agent = super()._agent(loaded, workspace, memory, stack)
        agent.config = agent.config.model_copy(update=self.overrides)
        return agent


def run_once(runner: TaskRunner, task: Path, order: int) -> dict[str, Any]:
    """One run of ``task`` (its folder is a scratch copy, shared by its runs: ingested once) from an
    empty workspace, with ``retrieve``'s passages in order ``order``."""
    shutil.rmtree(runner._workspace(load_task(task)), ignore_errors=True)  # each run starts empty
    VectorMemory.search = shuffled_search(order)  # type: ignore[method-assign]
    try:
        started = time.perf_counter()
        outcome = runner.run(task)
        seconds = time.perf_counter() - started
    finally:
        VectorMemory.search = _search  # type: ignore[method-assign]
    trace = read_trace(Path(outcome.trace_path)) if outcome.trace_path else []
    usage = trace[-1].usage if trace and hasattr(trace[-1], "usage") else {}
    return {
        "task": task.stem,
        "order": order,
        "run_id": outcome.run_id,
        "status": outcome.status,
        "answer": outcome.answer,
        "failed_checks": [c.check for c in outcome.checks if not c.passed],
        "tools": [e.tool for e in trace if e.type == "tool_call"],
        "seconds": round(seconds, 1),
        "usage": usage,
    }


def parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--tasks", nargs="*", type=Path, default=DEFAULT_TASKS)
    parser.add_argument("--orders", type=int, default=6, help="passage orders per task (0 = as ranked)")
    parser.add_argument("--first-order", type=int, default=0)
    parser.add_argument("--model", default=None, help="a model name or GGUF path (default: heron's)")
    parser.add_argument("--out", type=Path, default=OUT / "agents_tasks.json")
    parser.add_argument(
        "--scratch",
        type=Path,
        default=Path(tempfile.gettempdir()) / "heron-bench-tasks",
        help="the folder for task copies, data and traces (emptied first)",
    )
    parser.add_argument(
        "--set", action="append", default=[], metavar="FIELD=VALUE", help="an AgentConfig override"
    )
    parser.add_argument(
        "--note-after-chars",
        type=int,
        default=None,
        help="a plan step's note follows results longer than this (heron: 300; 0: every result, as before)",
    )
    args = parser.parse_args()
    if args.note_after_chars is not None:
        plan_execution.NOTE_AFTER_CHARS = args.note_after_chars

    # a fixed folder, emptied first: passage ids hash the source's path, so a run is repeatable
    scratch = args.scratch
    shutil.rmtree(scratch, ignore_errors=True)
    overrides: dict[str, Any] = {"data_dir": scratch / "data"}
    if args.model:
        overrides["model"] = args.model
    settings = load_settings(**overrides)
    config = {k: parse_value(v) for k, v in (item.split("=", 1) for item in args.set)}
    records: list[dict[str, Any]] = []
    llm = open_llm(settings)
    with ConfiguredRunner(settings, llm, save_kv_state=False, overrides=config) as runner:
        for task in args.tasks:
            folder = scratch / task.stem
            shutil.copytree(task.resolve().parent, folder / task.resolve().parent.name)
            copy = folder / task.resolve().parent.name / task.name
            for order in range(args.first_order, args.first_order + args.orders):
                record = run_once(runner, copy, order)
                records.append(record)
                print(json.dumps(record), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(records, indent=1))
    print("\n| task | runs | succeeded | median s | median tokens generated |\n|---|---:|---:|---:|---:|")
    for name in dict.fromkeys(r["task"] for r in records):
        mine = [r for r in records if r["task"] == name]
        ok = sum(r["status"] == "succeeded" for r in mine)
        generated = [r["usage"].get("completion_tokens", 0) for r in mine]
        print(
            f"| {name} | {len(mine)} | {ok} | {statistics.median(r['seconds'] for r in mine):.0f} "
            f"| {statistics.median(generated):.0f} |"
        )
    print(f"traces: heron trace RUN_ID, with HERON_DATA_DIR={scratch / 'data'}")


if __name__ == "__main__":
    main()
