"""The first-call check alone, offline: the model's judgement of whether a tool fits a request
(``heron.agents.policies.first_call_check.tool_fit``), without the agent loop, so a change to the
check can be judged on many requests in minutes.

- BFCL ``irrelevance``: no offered function serves the request; right when none fits (an agent
  whose model calls one of them then gets the answer alone).
- BFCL ``simple_python`` and ``multiple``: right when the ground truth's function fits (its call
  goes ahead).
- ``multi-part``: requests of several steps as a user writes them (MULTI_PART, written on
  2026-12-06), each with the built-in tool it needs first; right when that tool fits.
  ``multi-part-report``: twelve more (MULTI_PART_REPORT), written before any run on them, to report
  a change fitted on the first twelve.

``--layout request-last`` asks the question before the request (heron's asks it after).
``--question`` replaces the check's question ("Can this tool do what the request asks?") to try
another wording on the same requests; ``--bias masked`` adds a content-free request of the request's
own length to the calibration.

Usage: python benchmarks/bench_tool_check.py [--limit 30] [--offset 0] [--categories ...]
           [--question TEXT] [--out tool_check.json]
Writes benchmarks/out/<out> (every judgement) and prints the share right per category.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agents_bfcl import heron_tools
from bfcl import load

import heron.agents.policies.first_call_check as first_call_check
from heron.config import load_settings
from heron.llm import LocalLLM
from heron.llm.yes_no import calibrated
from heron.memory.tools import memory_tools
from heron.tools import Tool
from heron.tools.builtin import calculator, list_files, python_tool, read_file, write_file

OUT = Path(__file__).resolve().parent / "out"
QUESTION = "Can this tool do what the request asks?"
MULTI_PART = [
    ("Read notes.txt and write a summary of it to summary.md.", "read_file"),
    ("Load data.csv, compute the average of the price column with Python and save it to avg.txt.", "python"),
    ("Find in the notes what the grey heron eats and write it to diet.md.", "retrieve"),
    ("Compute 17% of 2,340 and write the result to result.txt.", "calculator"),
    ("List the files in the workspace and tell me which is the largest.", "list_files"),
    ("Open todo.txt, sort its lines alphabetically and save them to todo_sorted.txt.", "read_file"),
    (
        "Read a.txt and b.txt and write summary.md with the meeting's day, time and room, and the profit "
        "(revenue minus costs).",
        "read_file",
    ),
    ("Plot the numbers in series.csv as a line chart and save it as chart.png.", "python"),
    ("Search my notes for the little egret's wingspan and convert it to inches.", "retrieve"),
    ("What day of the week was 14 July 1789? Use Python.", "python"),
    ("Count the words in essay.txt.", "read_file"),
    ("Write a haiku about herons to haiku.txt.", "write_file"),
]
# written on 2026-12-06 04:20 UTC, before any run on them: the report split for a change fitted on
# MULTI_PART and BFCL irrelevance 200-219
MULTI_PART_REPORT = [
    ("Read config.json and tell me which port the server uses.", "read_file"),
    (
        "Look up in my notes when the herons return to the colony, then say how many weeks after "
        "1 January that is.",
        "retrieve",
    ),
    ("Make a file called shopping.md with a list of five vegetables.", "write_file"),
    ("Find every file in the workspace and write their names to index.txt.", "list_files"),
    (
        "Read report.txt, count how many times the word heron appears, and write the count to count.txt.",
        "read_file",
    ),
    ("Using Python, generate the first 20 prime numbers and save them to primes.txt.", "python"),
    ("Search the notes for the purple heron's habitat and summarise it in two sentences.", "retrieve"),
    ("What is 3,412 times 27, divided by 4? Then write it to calc.txt.", "calculator"),
    ("Check which files are in the workspace, then open the newest one and summarise it.", "list_files"),
    ("Translate the text in greeting.txt to French and save it as greeting_fr.txt.", "read_file"),
    ("Draw a bar chart of the monthly rainfall in rain.csv and save it to rain.png.", "python"),
    ("Save the text 'meeting moved to Friday' to memo.txt and then read it back to check it.", "write_file"),
]


def with_question(question: str) -> None:
    """The check asks ``question`` instead of its own."""
    render = first_call_check.render

    def asking(name: str, **values: Any) -> str:
        text = render(name, **values)
        return text.replace(QUESTION, question) if name == "agent_tool_check" else text

    first_call_check.render = asking  # type: ignore[assignment]


def with_request_last() -> None:
    """The check's prompt with the question before the request (heron's puts it after): the prompts
    of one tool then differ only in their last tokens, the request, which is all the KV cache has to
    evaluate anew (tried on 2026-12-06: BENCHMARKS.md, "The check's question before the request")."""
    render = first_call_check.render

    def asking(name: str, **values: Any) -> str:
        if name != "agent_tool_check":
            return render(name, **values)
        return (
            f"Tool: {values['tool']}: {values['description']}\n\n"
            "Can this tool do what the request below asks? Answer Yes or No.\n\n"
            f"Request: {values['request']}"
        )

    first_call_check.render = asking  # type: ignore[assignment]


def judge(llm: LocalLLM, request: str, tools: list[Tool], bias: str) -> dict[str, dict[str, float]]:
    """Each tool's fit for ``request``. ``bias``: "content-free" (heron's check: the mean P(Yes) of the
    three content-free requests) or "masked" (those and the request with each word as [MASK], a
    content-free request of the request's own length)."""
    fits = {}
    for tool in tools:
        fit = first_call_check.tool_fit(llm, request, tool, measure_bias=True)
        assert fit is not None
        rate = fit.bias
        if bias == "masked":
            masked = " ".join("[MASK]" for _ in request.split())
            free = first_call_check._yes_probability(llm, masked, tool)
            rate = (3 * fit.bias + free) / 4
        fitted = calibrated(fit.yes, rate)
        fits[tool.name] = {
            "yes": round(fit.yes, 3),
            "bias": round(rate, 3),
            "fits": round(fitted, 3),
            "questions": questions_asked(fit),
        }
    return fits


def questions_asked(fit: first_call_check.ToolFit) -> int:
    """How many questions heron's check asks about a tool new to it: "N/A", the request, then the other
    content-free requests only while the verdict is open."""
    for count in range(1, len(fit.free) + 1):
        if first_call_check.ToolFit(yes=fit.yes, free=fit.free[:count]).decided:
            return 1 + count
    return 1 + len(fit.free)


def _cases(
    category: str, limit: int, offset: int, builtins: list[Tool]
) -> list[tuple[str, str, list[Tool], str | None]]:
    """(id, request, offered tools, the tool that should fit or None when none should) per case."""
    if category.startswith("multi-part"):
        requests = MULTI_PART_REPORT if category == "multi-part-report" else MULTI_PART
        return [(f"{category}_{i}", r, builtins, needed) for i, (r, needed) in enumerate(requests)]
    cases = []
    for item in load(category, limit, offset):
        needed = None if item.answers is None else next(iter(item.answers[0]))
        cases.append((item.id, item.question, heron_tools(item), needed))
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--limit", type=int, default=30, help="BFCL items per category")
    parser.add_argument("--offset", type=int, default=0, help="first BFCL item")
    parser.add_argument(
        "--categories", nargs="+", default=["irrelevance", "simple_python", "multiple", "multi-part"]
    )
    parser.add_argument("--question", default=QUESTION, help="the check's question")
    parser.add_argument("--bias", choices=["content-free", "masked"], default="content-free")
    parser.add_argument(
        "--layout",
        choices=["question-last", "request-last"],
        default="question-last",
        help="where the question stands: after the request (heron's) or before it",
    )
    parser.add_argument("--out", default="tool_check.json")
    args = parser.parse_args()
    if args.question != QUESTION:
        with_question(args.question)
    if args.layout == "request-last":
        with_request_last()
    settings = load_settings()
    builtins = [memory_tools()[0], python_tool, read_file, write_file, list_files, calculator]
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with LocalLLM(settings.llm_model_path(), context_size=4096) as llm:
        for category in args.categories:
            for case_id, request, tools, needed in _cases(category, args.limit, args.offset, builtins):
                judged = tools if needed is None else [t for t in tools if t.name == needed]
                fits = judge(llm, request, judged, args.bias)
                if needed is None:
                    right = all(f["fits"] < 0.5 for f in fits.values())
                else:
                    right = fits[needed]["fits"] >= 0.5
                row = {"category": category, "id": case_id, "needed": needed, "right": right}
                rows.append({**row, "fits": fits})
    seconds = time.perf_counter() - started
    print(f"question: {args.question!r}; bias: {args.bias}; layout: {args.layout}; {seconds:.1f} s")
    for category in args.categories:
        mine = [r for r in rows if r["category"] == category]
        what = "no tool fits" if category == "irrelevance" else "the needed tool fits"
        asked = [f["questions"] for r in mine for f in r["fits"].values()]
        print(
            f"{category:15} {sum(r['right'] for r in mine)}/{len(mine)} right ({what}); "
            f"questions per new tool {sum(asked) / max(1, len(asked)):.2f} of 4"
        )
    OUT.mkdir(exist_ok=True)
    (OUT / args.out).write_text(
        json.dumps(
            {"question": args.question, "bias": args.bias, "layout": args.layout, "rows": rows}, indent=1
        )
    )


if __name__ == "__main__":
    main()
