"""Sandbox latency: a cold start (new bwrap sandbox + worker, first cell) and cells in a warm one.

The same measures for bubblewrap without its seccomp filter (``unsafe_no_seccomp``) and for the worker
run without bubblewrap (``unsafe_no_sandbox``) are interleaved with them, so the ratios show what the
isolation and the filter cost on this machine regardless of its load. Warm cells: a trivial one, and
one that makes 5,000 system calls (``os.stat``), where a per-call filter would show.

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
from heron.tools.sandbox.syscall_filter import compiled_filter

OUT = Path(__file__).resolve().parent / "out" / "bench_sandbox.json"
MODES = {
    "bwrap": SandboxSettings(),
    "bwrap, no seccomp": SandboxSettings(unsafe_no_seccomp=True),
    "no sandbox": SandboxSettings(unsafe_no_sandbox=True),
}
CELLS = {"warm_cell": "x = {i}", "warm_syscall_cell": "import os\nfor _ in range(5000):\n    os.stat('/')"}


def cold_start(workspace: Path, settings: SandboxSettings) -> float:
    """Seconds from a new Sandbox to the result of its first (trivial) cell."""
    started = time.perf_counter()
    with Sandbox(workspace, settings) as box:
        result = box.run_cell("1 + 1")
        elapsed = time.perf_counter() - started
    assert result.value == "2", result.to_text()
    return elapsed


def warm_cells(box: Sandbox, count: int, template: str) -> list[float]:
    times = []
    for i in range(count):
        started = time.perf_counter()
        result = box.run_cell(template.replace("{i}", str(i)))
        times.append(time.perf_counter() - started)
        assert result.ok, result.to_text()
    return times


def median(by_mode: dict[str, list[float]], mode: str) -> float:
    return statistics.median(by_mode[mode])


def summary(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    p95 = statistics.quantiles(ms, n=20)[-1] if len(ms) >= 2 else ms[0]
    return {"median_ms": statistics.median(ms), "p95_ms": p95, "n": len(ms)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=20, help="cold starts per mode")
    parser.add_argument("--warm", type=int, default=300, help="warm cells per mode and kind")
    args = parser.parse_args(argv)
    # The unsafe mode is the baseline here, on purpose: silence its (deliberately loud) warnings.
    warnings.simplefilter("ignore", UnsafeSandboxWarning)
    logging.getLogger("heron.sandbox").setLevel(logging.ERROR)

    started = time.perf_counter()
    compiled_filter()  # once per process; the cold starts below reuse it
    compile_ms = (time.perf_counter() - started) * 1000
    times: dict[str, dict[str, list[float]]] = {
        kind: {mode: [] for mode in MODES} for kind in ("cold_start", *CELLS)
    }
    with tempfile.TemporaryDirectory(prefix="heron-bench-sandbox-") as tmp:
        workspace = Path(tmp)
        for _ in range(args.cold):  # interleaved: every mode sees the same machine load
            for mode, settings in MODES.items():
                times["cold_start"][mode].append(cold_start(workspace, settings))
        boxes = {mode: Sandbox(workspace, settings) for mode, settings in MODES.items()}
        try:
            for box in boxes.values():
                box.start()
            rounds = 10
            for _ in range(rounds):
                for kind, template in CELLS.items():
                    for mode, box in boxes.items():
                        times[kind][mode] += warm_cells(box, max(1, args.warm // rounds), template)
        finally:
            for box in boxes.values():
                box.close()

    results: dict[str, object] = {
        "machine": f"{platform.node()} {platform.machine()}, python {platform.python_version()}",
        "filter_compile_ms": compile_ms,
        **{
            kind: {mode: summary(values) for mode, values in by_mode.items()}
            for kind, by_mode in times.items()
        },
    }
    # bwrap vs no sandbox: what the isolation costs; bwrap vs bwrap, no seccomp: what the filter costs
    results["median_ratios"] = {
        f"{kind}: bwrap / {base}": median(times[kind], "bwrap") / median(times[kind], base)
        for kind in times
        for base in ("no sandbox", "bwrap, no seccomp")
    }
    print(f"{'measure':<46}{'median ms':>12}{'p95 ms':>12}{'n':>6}")
    for kind, by_mode in times.items():
        for mode, values in by_mode.items():
            row = summary(values)
            label = f"{kind.replace('_', ' ')} ({mode})"
            print(f"{label:<46}{row['median_ms']:>12.2f}{row['p95_ms']:>12.2f}{row['n']:>6}")
    print(f"seccomp filter compiled in {compile_ms:.1f} ms (once per process)")
    for kind in times:
        isolation = median(times[kind], "bwrap") / median(times[kind], "no sandbox")
        seccomp = median(times[kind], "bwrap") / median(times[kind], "bwrap, no seccomp")
        print(f"{kind.replace('_', ' ')}, median: bwrap / no sandbox x{isolation:.2f}, "
              f"with / without seccomp x{seccomp:.2f}")  # fmt: skip
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
