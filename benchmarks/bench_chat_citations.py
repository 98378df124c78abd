"""Which passages a chat's answers cite: the right ones, and none where none was used.

A conversation as `heron chat` holds it (the built-in tools, `retrieve` over a fresh collection of
small notes, one ChatSession), the default model, temperature 0. Each question names the note its
answer must come from, or none (arithmetic, general knowledge, a workspace file). Per set:
- precision: cited passages from the expected note / all cited passages;
- found: questions whose expected note is cited / questions that have one;
- clean: questions without an expected note that cite nothing / such questions.

Two sets. `fit`: the six questions a newcomer asked in a trial (their notes and wording), on which
heron's citation rule was designed (session of 2026-12-06). `report`: notes and questions written
for this benchmark before any run of it, to report on.

`--citations model` restores the rule before that session for comparison: the passages holding a
number the model wrote after seeing them, anywhere in the conversation, then every passage the
model chose.

Usage:
  python benchmarks/bench_chat_citations.py [--sets fit report] [--citations traced|model]
      [--model NAME] [--scratch DIR]
Writes benchmarks/out/chat_citations_<rule>.json and prints a table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from heron.agents import result as result_module
from heron.agents.agent import Agent
from heron.agents.approval import approve_all
from heron.agents.chat import ChatSession
from heron.agents.provenance import sources_of_numbers
from heron.config import load_settings
from heron.llm import open_llm
from heron.memory import Ingester, VectorMemory
from heron.tools import builtin_tools

OUT = Path(__file__).resolve().parents[1] / "benchmarks" / "out"

SETS: dict[str, dict[str, Any]] = {
    "fit": {
        "notes": {
            "lighthouse.md": "# Lighthouses of Vellmar\n\n## Korrin Point\nThe Korrin Point lighthouse was "
            "built in 1874. Its tower is 41 metres tall and its light\ncan be seen 22 nautical miles out "
            "to sea. The keeper in 1901 was Agnes Thorvald.\n\n## Saltmere Rock\nSaltmere Rock "
            "lighthouse was built in 1902. Its tower is 28 metres tall. It was automated in 1968.\n",
            "ferry.txt": "Ferry timetable notes for the island of Vellmar.\n\nThe morning ferry leaves "
            "Port Halden at 07:15 and arrives in Vellmar at 08:40.\nA single adult ticket costs 14 "
            "euros; a bicycle costs 3 euros extra.\nThe ferry does not run on the first Monday of each "
            "month because of maintenance.\n",
            "cheese.html": "<!doctype html><html><head><title>Vellmar cheese</title></head>\n<body><h1>"
            "Vellmar blue cheese</h1><p>Vellmar blue is aged for <b>nine weeks</b> in sea caves.\nIt is "
            "made from sheep's milk and the cheesemaker cooperative has 37 members.</p></body></html>\n",
            "extra.txt": "extra note: the ferry has 120 seats.\n",
        },
        "workspace": {
            "guests.txt": "Guest list for the Saturday dinner\nMarta Lind\nOskar Berg\n"
            "Ingrid Holm\nPaavo Niemi\nLena Dahl\n"
        },
        "questions": [
            ("When was the Korrin Point lighthouse built, and how tall is its tower?", "lighthouse.md"),
            (
                "On the Vellmar ferry, how much does a single adult ticket plus a bicycle cost in total?",
                "ferry.txt",
            ),
            ("What is 348 * 27?", None),
            ("What is the capital of Canada?", None),
            ("Read the file guests.txt and tell me how many guests are listed.", None),
            ("How long is Vellmar blue cheese aged?", "cheese.html"),
        ],
    },
    "report": {
        "notes": {
            "bakery.md": "# Ostby bakery\n\n## Opening hours\nThe Ostby bakery opens at 06:30 on weekdays "
            "and at 08:00 on Saturdays. It is closed on Sundays.\n\n## Bread\nIts rye loaf weighs 800 "
            "grams and costs 4.20 euros. The sourdough starter is 46 years old.\n",
            "railway.txt": "Notes on the Tarnvik railway.\n\nThe line opened in 1911 and is 63 "
            "kilometres long. Trains run every 40 minutes between Tarnvik and Holmsund.\nThe steepest "
            "gradient is near the Kallberg tunnel, which is 1.2 kilometres long.\n",
            "museum.html": "<html><body><h1>Holmsund maritime museum</h1><p>The museum keeps the "
            "schooner <i>Aurora</i>, launched in 1887, and a collection of ship models carved by "
            "retired pilots. Entry is free on the first Sunday of the month.</p></body></html>\n",
            "garden.md": "# Allotment notes\n\nPlot 14 grows leeks, beans and dahlias. The compost is "
            "turned every three weeks. Water comes from a rain barrel of 200 litres.\n",
        },
        "workspace": {"tools.csv": "tool,count\nspade,3\nrake,2\nhose,1\nwheelbarrow,2\n"},
        "questions": [
            ("How much does the rye loaf at the Ostby bakery cost?", "bakery.md"),
            ("How long is the Tarnvik railway line, and when did it open?", "railway.txt"),
            ("What is 1250 divided by 25?", None),
            ("Who wrote the novel Pride and Prejudice?", None),
            ("Which ship does the Holmsund maritime museum keep?", "museum.html"),
            ("Read tools.csv and tell me how many spades there are.", None),
            ("How often is the compost on the allotment turned?", "garden.md"),
        ],
    },
}


def cited_as_before(state: Any, final: Any) -> list[Any]:
    """The rule before 2026-12-06 19:00 UTC: numbers traced over the whole conversation, then every
    passage the model chose."""
    traced = sources_of_numbers(state.messages, state.passages, state.goal) if state.passages else []
    return [result_module._citation(state, cid) for cid in dict.fromkeys([*traced, *final.citations])]


def run_set(name: str, spec: dict[str, Any], llm: Any, settings: Any, scratch: Path) -> list[dict[str, Any]]:
    notes, workspace = scratch / name / "notes", scratch / name / "ws"
    notes.mkdir(parents=True)
    workspace.mkdir(parents=True)
    for file, text in spec["notes"].items():
        (notes / file).write_text(text)
    for file, text in spec["workspace"].items():
        (workspace / file).write_text(text)
    memory = VectorMemory(settings, collection=f"bench-cite-{name}")
    Ingester(memory).ingest([notes])
    records = []
    with Agent(
        model=llm,
        tools=builtin_tools(),
        memory=memory,
        approve=approve_all,
        settings=settings,
        workspace=workspace,
    ) as agent:
        chat = ChatSession(agent)
        for question, expected in spec["questions"]:
            started = time.perf_counter()
            result = chat.send(question)
            cited = [Path(c.source).name for c in result.citations]
            records.append(
                {
                    "set": name,
                    "question": question,
                    "expected": expected,
                    "answer": result.answer,
                    "status": result.status,
                    "cited": cited,
                    "seconds": round(time.perf_counter() - started, 1),
                }
            )
            print(f"  {question[:60]:<60} -> {cited}  ({result.answer[:70]!r})", flush=True)
    return records


def score(records: list[dict[str, Any]]) -> dict[str, Any]:
    cited = [(r["expected"], c) for r in records for c in r["cited"]]
    with_note = [r for r in records if r["expected"]]
    without = [r for r in records if not r["expected"]]
    return {
        "precision": f"{sum(e == c for e, c in cited)}/{len(cited)}",
        "found": f"{sum(r['expected'] in r['cited'] for r in with_note)}/{len(with_note)}",
        "clean": f"{sum(not r['cited'] for r in without)}/{len(without)}",
        "seconds": round(sum(r["seconds"] for r in records), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--citations", choices=("traced", "model"), default="traced")
    parser.add_argument("--model", default=None, help="a model name or GGUF path (default: heron's)")
    parser.add_argument("--scratch", type=Path, default=Path(tempfile.gettempdir()) / "heron-bench-cite")
    args = parser.parse_args()
    if args.citations == "model":
        result_module.cited_passages = cited_as_before  # type: ignore[assignment]
    # a fixed folder, emptied first: passage ids hash the source's path, so a run is repeatable
    scratch = args.scratch
    shutil.rmtree(scratch, ignore_errors=True)
    overrides: dict[str, Any] = {"data_dir": scratch / "data"}
    if args.model:
        overrides["model"] = args.model
    settings = load_settings(**overrides)
    llm = open_llm(settings)
    records: list[dict[str, Any]] = []
    for name in args.sets:
        print(f"set {name}:", flush=True)
        records += run_set(name, SETS[name], llm, settings, scratch)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"chat_citations_{args.citations}.json").write_text(json.dumps(records, indent=1))
    print("\n| set | rule | precision | found | clean | seconds |\n|---|---|---:|---:|---:|---:|")
    for name in args.sets:
        s = score([r for r in records if r["set"] == name])
        print(
            f"| {name} | {args.citations} | {s['precision']} | {s['found']} | {s['clean']} | {s['seconds']} |"
        )


if __name__ == "__main__":
    main()
