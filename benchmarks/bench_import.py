"""Cold import time: a fresh interpreter importing heron's SDK, against the peers' agent entry points.

Each import runs in a new process (nothing cached in memory; the OS file cache is warm after the
first, discarded run), interleaved so all see the same machine load; the figure is the median
wall time of the whole process minus that of an empty interpreter.

Usage: ``.venv/bin/python benchmarks/bench_import.py [--runs 7]``; writes benchmarks/out/bench_import.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "bench_import.json"
IMPORTS = {
    "python (empty)": "pass",
    "heron: from heron import Agent, tool": "from heron import Agent, tool",
    "heron: import heron": "import heron",
    "langgraph: create_react_agent": "from langgraph.prebuilt import create_react_agent",
    "langchain-community: ChatLlamaCpp": "from langchain_community.chat_models import ChatLlamaCpp",
}


def once(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    times: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for run in range(args.runs + 1):
        for name, code in IMPORTS.items():
            seconds = once(code)
            if run:  # the first round only warms the file cache
                times[name].append(seconds)
    base = statistics.median(times["python (empty)"])
    results = {
        name: round(statistics.median(t) - base, 4) for name, t in times.items() if name != "python (empty)"
    }
    results["python (empty), absolute"] = round(base, 4)
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    for name, seconds in results.items():
        print(f"{name:<45}{seconds * 1000:>8.0f} ms")


if __name__ == "__main__":
    main()
