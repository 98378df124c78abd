"""The first-call check's fit of ``calculator`` with its one-line description as it is and with its
operators and functions named, on twenty requests written before any run (twelve a calculator
serves, eight it does not). BENCHMARKS.md, "A calculator description that names its functions".

Usage: python benchmarks/bench_calculator_description.py
Prints, per description, how many requests the check judges right and each calibrated fit.
"""

from __future__ import annotations

import time

from heron.agents.policies.first_call_check import tool_fit
from heron.config import load_settings
from heron.llm import LocalLLM
from heron.tools.calculator import calculator

NAMED = (
    "Evaluate an arithmetic expression exactly (+ - * / ** %, sqrt, log, exp, sin, round, min, max, ...) "
    "and return its value."
)
SERVES = [
    "What is the square root of 2 to 5 places?", "What is 17 * 23?", "Compute the natural log of 50.",
    "What's 2 to the power of 20?", "Round 3.14159 to two decimals.", "What is 15% of 240?",
    "How much is 1234 divided by 7?", "What is the cube root of 729?", "What is sin(30 degrees)?",
    "Which is larger, 3^7 or 7^3?", "What is e raised to 3?", "Calculate 12 factorial.",
]  # fmt: skip
DOES_NOT = [
    "What is the capital of Australia?", "Summarise my notes on herons.", "Write hello to a.txt.",
    "Who wrote Hamlet?", "Translate 'good morning' into French.", "List the files in my workspace.",
    "What's the weather in Oslo today?", "Tell me a joke about cats.",
]  # fmt: skip


def main() -> None:
    llm = LocalLLM.from_settings(load_settings())
    for label, description in (("current", calculator.description), ("names its functions", NAMED)):
        calculator.description = description
        started = time.perf_counter()
        serves = [tool_fit(llm, request, calculator, measure_bias=True) for request in SERVES]
        does_not = [tool_fit(llm, request, calculator, measure_bias=True) for request in DOES_NOT]
        kept = sum(f is not None and f.fits >= 0.5 for f in serves)
        set_aside = sum(f is not None and f.fits < 0.5 for f in does_not)
        right = f"should call {kept}/{len(SERVES)} kept, should not {set_aside}/{len(DOES_NOT)} set aside"
        print(f"{label}: {right}")
        print("  fits:", [round(f.fits, 2) for f in serves if f], [round(f.fits, 2) for f in does_not if f])
        print(f"  {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
