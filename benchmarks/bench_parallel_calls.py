"""Requests that need several independent look-ups: model turns, seconds and correct answers with
several calls per turn (AgentConfig.parallel_calls=4, the default) and with one call per turn (1).

The look-up tools stand for services with latency (a weather API, an exchange-rate service, a
population registry): each call sleeps LATENCY seconds, and the tools are declared
``concurrent=True``, so a batch of them runs at the same time. An answer is correct when it holds
every value the look-ups returned. Same model file, same machine, temperature 0.

Usage: python benchmarks/bench_parallel_calls.py [--model NAME] [--latency 0.5] [--out parallel_calls.json]
Writes benchmarks/out/<out> and prints both configurations side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from heron.agents import Agent, AgentConfig
from heron.config import load_settings
from heron.llm import LocalLLM
from heron.tools import Tool, tool
from heron.tracing import ModelTurnEvent, ToolResultEvent, read_trace

OUT = Path(__file__).resolve().parent / "out"
LATENCY = 0.5

WEATHER = {"Paris": "18 C", "Oslo": "4 C", "Lima": "22 C", "Cairo": "31 C", "Tokyo": "12 C"}
RATES = {"EUR": "1.08", "GBP": "1.27", "JPY": "0.0067", "CHF": "1.13"}
POPULATION = {"Iceland": "387,000", "Malta": "535,000", "Fiji": "936,000", "Bhutan": "787,000"}

REQUESTS = [
    "What is the temperature in Paris and in Oslo right now?",
    "Give me the current temperatures in Lima, Cairo and Tokyo.",
    "What are the US dollar exchange rates of the euro and the British pound?",
    "How many people live in Iceland and in Malta?",
    "What is the population of Fiji, and the temperature in Tokyo?",
    "I need the dollar rates of the Swiss franc and the Japanese yen, and the temperature in Paris.",
    "Compare the populations of Bhutan and Iceland.",
    "Is it warmer in Cairo or in Oslo at the moment?",
]


def lookup_tools(latency: float) -> list[Tool]:
    @tool(concurrent=True)
    def get_temperature(city: str) -> str:
        """The current temperature in a city.

        Args:
            city: the city's name, e.g. Paris
        """
        time.sleep(latency)
        return WEATHER.get(city, f"no data for {city}")

    @tool(concurrent=True)
    def usd_rate(currency: str) -> str:
        """How many US dollars one unit of a currency buys today.

        Args:
            currency: the ISO code of the currency, e.g. EUR
        """
        time.sleep(latency)
        return RATES.get(currency.upper(), f"no rate for {currency}")

    @tool(concurrent=True)
    def population(country: str) -> str:
        """The number of people living in a country.

        Args:
            country: the country's name
        """
        time.sleep(latency)
        return POPULATION.get(country, f"no data for {country}")

    return [get_temperature, usd_rate, population]


def expected_values(request: str) -> list[str]:
    """The look-up results an answer to ``request`` must hold (the numbers, as the tools return them)."""
    values = []
    for table in (WEATHER, POPULATION):
        values += [v.split()[0] for k, v in table.items() if k in request]
    names = {"euro": "EUR", "pound": "GBP", "yen": "JPY", "franc": "CHF"}
    values += [RATES[code] for word, code in names.items() if word in request]
    return values


def run(llm: LocalLLM, parallel_calls: int, latency: float) -> dict[str, Any]:
    rows = []
    for request in REQUESTS:
        config = AgentConfig(parallel_calls=parallel_calls)
        with Agent(llm, tools=lookup_tools(latency), config=config) as agent:
            started = time.perf_counter()
            result = agent.run(request)
            seconds = time.perf_counter() - started
        events = read_trace(result.trace_path)
        turns = sum(isinstance(e, ModelTurnEvent) for e in events)
        calls = sum(isinstance(e, ToolResultEvent) for e in events)
        answer = result.answer.replace(",", "")
        correct = all(
            re.search(rf"\b{re.escape(v.replace(',', ''))}\b", answer) for v in expected_values(request)
        )
        rows.append(
            {
                "request": request,
                "turns": turns,
                "calls": calls,
                "seconds": round(seconds, 2),
                "correct": correct,
            }
        )
        print(
            f"  parallel_calls={parallel_calls}: {turns} turns, {calls} calls, {seconds:.1f}s, "
            f"correct={correct}"
        )
    n = len(rows)
    return {
        "turns_per_request": sum(r["turns"] for r in rows) / n,
        "calls_per_request": sum(r["calls"] for r in rows) / n,
        "seconds_per_request": sum(r["seconds"] for r in rows) / n,
        "correct": sum(r["correct"] for r in rows) / n,
        "rows": rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", default=None, help="a known model name or GGUF path (default: the configured)"
    )
    parser.add_argument("--latency", type=float, default=LATENCY, help="seconds each look-up takes")
    parser.add_argument("--out", default="parallel_calls.json")
    args = parser.parse_args()
    settings = load_settings(**({"model": args.model} if args.model else {}))
    results: dict[str, Any] = {"latency": args.latency}
    with LocalLLM.from_settings(settings) as llm:
        print(f"model: {settings.llm_model_path()}")
        for parallel_calls in (4, 1):
            results[f"parallel_calls={parallel_calls}"] = run(llm, parallel_calls, args.latency)
    OUT.mkdir(exist_ok=True)
    (OUT / args.out).write_text(json.dumps(results, indent=2))
    for key in ("parallel_calls=4", "parallel_calls=1"):
        r = results[key]
        print(
            f"{key}: {r['turns_per_request']:.2f} turns, {r['calls_per_request']:.2f} calls, "
            f"{r['seconds_per_request']:.1f} s per request, {r['correct']:.0%} correct"
        )


if __name__ == "__main__":
    main()
