"""Sandbox latency: a cold start (new bwrap sandbox + worker, first cell) and a trivial cell in a warm one.

The same measures for the worker run without bubblewrap (``unsafe_no_sandbox``) are interleaved with
them, so the ratio shows what the isolation costs on this machine regardless of its load.

Usage: ``.venv/bin/python benchmarks/bench_sandbox.py [--cold N] [--warm N]``; writes
benchmarks/out/bench_sandbox.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

from heron.config import SandboxSettings
from heron.tools.sandbox import Sandbox, UnsafeSandboxWarning

OUT = Path(__file__).resolve().parent / "out" / "bench_sandbox.json"
MODES = {"bwrap": False, "no sandbox": True}


def cold_start(workspace: Path, unsafe: bool) -> float:
    """Seconds from a new Sandbox to the result of its first (trivial) cell."""
    started = time.perf_counter()
    with Sandbox(workspace, SandboxSettings(unsafe_no_sandbox=unsafe)) as box:
        result = box.run_cell("1 + 1")
        elapsed = time.perf_counter() - started
    assert result.value == "2", result.to_text()
    return elapsed


def warm_cells(box: Sandbox, count: int) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        result = box.run_cell(f"x = {i}")
        times.append(time.perf_counter() - started)
        assert result.ok, result.to_text()
    return times


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 2 else ms[0]
    return {"median_ms": statistics.median(ms), "p95_ms": p95, "n": len(ms)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=20, help="cold starts per mode")
    parser.add_argument("--warm", type=int, default=300, help="warm cells per mode")
    args = parser.parse_args(argv)
    # The unsafe mode is the baseline here, on purpose: silence its (deliberately loud) warnings.
    warnings.simplefilter("ignore", UnsafeSandboxWarning)
    logging.getLogger("heron.sandbox").setLevel(logging.ERROR)

    cold: dict[str, list[float]] = {mode: [] for mode in MODES}
    warm: dict[str, list[float]] = {mode: [] for mode in MODES}
    with tempfile.TemporaryDirectory(prefix="heron-bench-sandbox-") as tmp:
        workspace = Path(tmp)
        for _ in range(args.cold):  # interleaved: both modes see the same machine load
            for mode, unsafe in MODES.items():
                cold[mode].append(cold_start(workspace, unsafe))
        boxes = {mode: Sandbox(workspace, SandboxSettings(unsafe_no_sandbox=u)) for mode, u in MODES.items()}
        try:
            for box in boxes.values():
                box.start()
            rounds = 10
            for _ in range(rounds):
                for mode, box in boxes.items():
                    warm[mode] += warm_cells(box, max(1, args.warm // rounds))
        finally:
            for box in boxes.values():
                box.close()

    results = {
        "machine": f"{platform.node()} {platform.machine()}, python {platform.python_version()}",
        "cold_start": {mode: summary(times) for mode, times in cold.items()},
        "warm_cell": {mode: summary(times) for mode, times in warm.items()},
    }
    results["cold_ratio_bwrap_vs_none"] = (
        results["cold_start"]["bwrap"]["median_ms"] / results["cold_start"]["no sandbox"]["median_ms"]
    )
    results["warm_ratio_bwrap_vs_none"] = (
        results["warm_cell"]["bwrap"]["median_ms"] / results["warm_cell"]["no sandbox"]["median_ms"]
    )
    print(f"{'measure':<34}{'median ms':>12}{'p95 ms':>12}{'n':>6}")
    for kind in ("cold_start", "warm_cell"):
        for mode, row in results[kind].items():
            label = f"{kind.replace('_', ' ')} ({mode})"
            print(f"{label:<34}{row['median_ms']:>12.2f}{row['p95_ms']:>12.2f}{row['n']:>6}")
    print(f"bwrap / no sandbox, median: cold start x{results['cold_ratio_bwrap_vs_none']:.2f}, "
          f"warm cell x{results['warm_ratio_bwrap_vs_none']:.2f}")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
