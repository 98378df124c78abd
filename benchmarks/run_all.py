"""Run every ``benchmarks/bench_*.py`` in turn; each prints its table and writes benchmarks/out/<name>.json.

Usage: ``make bench`` or ``python benchmarks/run_all.py [NAME_SUBSTRING ...]``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    scripts = sorted(HERE.glob("bench_*.py"))
    if argv:
        scripts = [s for s in scripts if any(a in s.name for a in argv)]
    failed = []
    for script in scripts:
        print(f"\n=== {script.name} ===", flush=True)
        start = time.perf_counter()
        result = subprocess.run([sys.executable, str(script)], check=False)
        print(
            f"--- {script.name}: exit {result.returncode} in {time.perf_counter() - start:.0f}s", flush=True
        )
        if result.returncode != 0:
            failed.append(script.name)
    if failed:
        print("failed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
