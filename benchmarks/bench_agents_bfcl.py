"""Function calling on BFCL (simple_python, multiple, irrelevance) with the bundled SmolLM2-135M at
temperature 0: heron's automatic tool choice against llama-cpp-python's `chatml-function-calling`
(tool_choice="auto") and LangChain's `ChatLlamaCpp.bind_tools` forced to the one function.

Usage: python benchmarks/bench_agents_bfcl.py [--limit 50] [--peer-limit 50] [--skip-peers]
Writes benchmarks/out/agents_bfcl.json and prints the three side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bfcl import Item, call_is_correct, load, to_json_schema
from pydantic import BaseModel, ConfigDict

from heron.agents import Agent, AgentConfig
from heron.agents.actions import ToolCallAction
from heron.agents.router import ToolRouter
from heron.config import load_settings
from heron.llm import LocalLLM
from heron.tools import Tool

OUT = Path(__file__).resolve().parent / "out"


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


def heron_tools(item: Item) -> list[Tool]:
    return [
        Tool(
            name=f["name"],
            description=f.get("description", ""),
            args_model=_AnyArgs,
            function=lambda **kw: kw,
            schema=to_json_schema(f["parameters"]),
        )
        for f in item.functions
    ]


# heron's two ways of automatic tool choice: the model alone, and with the aids for small models:
# the embedding tool gate (answer only / call / call the one clearly matching tool), only the
# optional arguments the request names, copy bias towards the request's spans and numbers, and
# repeated list items dropped. Calibrated on items 50-149 of `multiple` and `simple_python`, never
# on the evaluated first 50.
VARIANTS = {
    "heron": AgentConfig(turn_max_tokens=320, answer_chars=200),
    "heron+aids": AgentConfig(
        turn_max_tokens=320,
        answer_chars=200,
        tool_gate=True,
        optional_arguments="mentioned",
        copy_bias=3.0,
        drop_repeated_items=True,
    ),
}


def _summary(n: int, correct: int, parsed: int, calls: int, seconds: float) -> dict[str, Any]:
    """One system's row: shares of the ``n`` items scored right, parsed and calling a tool; time."""
    return {
        "accuracy": correct / n,
        "parsed": parsed / n,
        "called": calls / n,
        "seconds_per_item": seconds / n,
        "n": n,
    }


def run_heron(llm: LocalLLM, items: list[Item], config: AgentConfig) -> dict[str, Any]:
    correct = parsed = calls = 0
    # one tool gate (its MiniLM embedder) for all items, loaded before the clock starts as the
    # peers' models are; the items' tools differ, so each gets its own Agent
    router = ToolRouter.from_settings(load_settings(), config) if config.tool_gate else None
    if router is not None:
        router.best_similarity("warm-up", heron_tools(items[0]))
    started = time.perf_counter()
    for item in items:
        with Agent(llm, tools=heron_tools(item), config=config, tool_router=router) as agent:
            try:
                action = agent.decide(item.question)
                parsed += 1
            except Exception as exc:  # counted as unparseable: must stay at zero
                print(f"  heron failed on {item.id}: {exc}", file=sys.stderr)
                continue
        if isinstance(action, ToolCallAction):
            calls += 1
            ok = call_is_correct(item, action.tool, action.arguments)
        else:
            ok = call_is_correct(item, None, {})
        correct += ok
    seconds = time.perf_counter() - started
    return _summary(len(items), correct, parsed, calls, seconds)


def run_llama_cpp_auto(model_path: str, items: list[Item]) -> dict[str, Any]:
    from llama_cpp import Llama

    from heron.llm.llama_compat import safe_model_params

    with safe_model_params():  # this CPU's AMX kernels crash llama.cpp; the same guard heron uses
        llm = Llama(
            model_path=model_path, chat_format="chatml-function-calling", n_ctx=4096, verbose=False, seed=0
        )
    correct = calls = parsed = 0
    started = time.perf_counter()
    for item in items:
        tools = [
            {"type": "function", "function": {**f, "parameters": to_json_schema(f["parameters"])}}
            for f in item.functions
        ]
        try:
            out = llm.create_chat_completion(
                [{"role": "user", "content": item.question}],
                tools=tools,
                tool_choice="auto",
                temperature=0.0,
                max_tokens=256,
            )
            message = out["choices"][0]["message"]
            tool_calls = message.get("tool_calls") or []
            parsed += 1
        except Exception as exc:
            print(f"  llama-cpp failed on {item.id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if tool_calls:
            calls += 1
            fn = tool_calls[0]["function"]
            try:
                arguments = json.loads(fn["arguments"])
            except json.JSONDecodeError:
                continue
            correct += call_is_correct(item, fn["name"], arguments)
        else:
            correct += call_is_correct(item, None, {})
    seconds = time.perf_counter() - started
    llm.close()
    return _summary(len(items), correct, parsed, calls, seconds)


def run_langchain_forced(model_path: str, items: list[Item]) -> dict[str, Any]:
    from langchain_community.chat_models import ChatLlamaCpp

    from heron.llm.llama_compat import safe_model_params

    with safe_model_params():
        chat = ChatLlamaCpp(
            model_path=model_path, temperature=0.0, max_tokens=256, n_ctx=4096, verbose=False, seed=0
        )
    correct = calls = parsed = 0
    started = time.perf_counter()
    for item in items:
        function = item.functions[0]
        spec = {
            "type": "function",
            "function": {**function, "parameters": to_json_schema(function["parameters"])},
        }
        bound = chat.bind_tools(
            [spec], tool_choice={"type": "function", "function": {"name": function["name"]}}
        )
        try:
            message = bound.invoke(item.question)
            parsed += 1
        except Exception as exc:
            print(f"  langchain failed on {item.id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        if message.tool_calls:
            calls += 1
            call = message.tool_calls[0]
            correct += call_is_correct(item, call["name"], call["args"])
        else:
            correct += call_is_correct(item, None, {})
    seconds = time.perf_counter() - started
    return _summary(len(items), correct, parsed, calls, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=50, help="items per category for heron")
    parser.add_argument("--peer-limit", type=int, default=50, help="items per category for the peers")
    parser.add_argument("--skip-peers", action="store_true")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    settings = load_settings()
    model_path = str(settings.llm_model_path())
    results: dict[str, dict[str, Any]] = {}
    with LocalLLM.from_settings(settings) as llm:
        for category in ("simple_python", "multiple", "irrelevance"):
            for variant in args.variants:
                key = f"{variant}/{category}"
                results[key] = run_heron(llm, load(category, args.limit), VARIANTS[variant])
                print(key, results[key], flush=True)
    if not args.skip_peers:
        for category in ("simple_python", "irrelevance"):
            items = load(category, args.peer_limit)
            results[f"llama-cpp-auto/{category}"] = run_llama_cpp_auto(model_path, items)
            print(category, "llama-cpp auto", results[f"llama-cpp-auto/{category}"], flush=True)
        items = load("simple_python", args.peer_limit)
        results["langchain-forced/simple_python"] = run_langchain_forced(model_path, items)
        print("simple_python langchain forced", results["langchain-forced/simple_python"], flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "agents_bfcl.json").write_text(json.dumps(results, indent=2))
    print(f"\n{'system / category':<36}{'accuracy':>10}{'called':>9}{'parsed':>9}{'s/item':>9}")
    for key, r in results.items():
        print(
            f"{key:<36}{r['accuracy']:>10.0%}{r['called']:>9.0%}{r['parsed']:>9.0%}{r['seconds_per_item']:>9.2f}"
        )


if __name__ == "__main__":
    main()
