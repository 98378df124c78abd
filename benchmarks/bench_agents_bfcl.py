"""Function calling on BFCL (simple_python, multiple, irrelevance, parallel_multiple) with the
configured model (default: Qwen2.5-Coder-1.5B-Instruct Q4_K_M) at temperature 0: heron's automatic
tool choice against llama-cpp-python's `chatml-function-calling` (tool_choice="auto"), LangChain's
`ChatLlamaCpp.bind_tools` (forced to the one function: it has no "auto") and llama.cpp's own
`llama-server --jinja` (the model's chat template; `openai` client, tool_choice="auto"), all on the
same GGUF file.

On parallel_multiple heron runs its loop (Agent.run, at most PARALLEL_STEPS turns, each tool
answering "ok"; a turn may hold several calls) and is scored on every call the run made; the peers
are scored on the tool calls of their one reply (`heron-one-turn` scores heron the same way: the
calls of its first turn only). Single-call categories score the calls of heron's first turn (several
calls where one is expected: wrong).

Usage: python benchmarks/bench_agents_bfcl.py [--limit 10] [--peer-limit 10] [--model NAME]
           [--offset 0] [--categories ...] [--systems ...] [--out agents_bfcl.json] [--merge]
Writes benchmarks/out/<out> and prints the systems side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bfcl import Item, calls_are_correct, calls_matched, load, to_json_schema
from pydantic import BaseModel, ConfigDict

from heron.agents import Agent, AgentConfig
from heron.agents.actions import CallBatch, ToolCallAction, calls_of
from heron.agents.budget import Budget
from heron.agents.policies.tool_gate import ToolGate
from heron.config import Settings, load_settings
from heron.llm import LocalLLM
from heron.tools import Tool

OUT = Path(__file__).resolve().parent / "out"
CATEGORIES = ("simple_python", "multiple", "irrelevance", "parallel_multiple")
PEERS = ("llama-cpp-auto", "langchain-forced", "llama-server-jinja")
PARALLEL_STEPS = 5  # heron's turns on a parallel item (its ground truths have 2-4 calls)


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


def heron_tools(item: Item, record: list[tuple[str, dict[str, Any]]] | None = None) -> list[Tool]:
    """The item's functions as heron tools; ``record`` collects the calls a run makes."""

    def function(name: str) -> Any:
        def call(**kw: Any) -> Any:
            if record is None:
                return kw
            record.append((name, kw))
            return "ok"

        return call

    return [
        Tool(
            name=f["name"],
            description=f.get("description", ""),
            args_model=_AnyArgs,
            function=function(f["name"]),
            schema=to_json_schema(f["parameters"]),
        )
        for f in item.functions
    ]


def openai_tools(item: Item) -> list[dict[str, Any]]:
    return [
        {"type": "function", "function": {**f, "parameters": to_json_schema(f["parameters"])}}
        for f in item.functions
    ]


def _decoded(tool_calls: list[Any]) -> list[tuple[str, dict[str, Any]]]:
    """OpenAI-style tool calls as (name, arguments); ValueError when arguments are not a JSON object."""
    calls = []
    for call in tool_calls:
        fn = call["function"] if isinstance(call, dict) else call.function
        name, raw = (fn["name"], fn["arguments"]) if isinstance(fn, dict) else (fn.name, fn.arguments)
        arguments = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(arguments, dict):
            raise ValueError(f"arguments of {name} are not an object: {raw!r}")
        calls.append((name, arguments))
    return calls


BFCL = AgentConfig(turn_max_tokens=320, answer_chars=200)  # BFCL's functions do not think


class Variant(BaseModel):
    """A heron configuration: its AgentConfig and whether the tool gate policy is added."""

    model_config = ConfigDict(frozen=True)

    config: AgentConfig = BFCL
    gate: bool = False
    one_turn: bool = False  # a parallel item gets one turn, as a server's one reply; else the loop


# the defaults: a call goes straight to its arguments; a thought comes only before a direct answer
VARIANTS = {
    "heron": Variant(),
    "heron-no-thought": Variant(config=BFCL.model_copy(update={"thought_chars": 0})),
    # without asking the model whether the tool of its first call fits the request
    # (agents/policies/first_call_check.py)
    "heron-no-check": Variant(config=BFCL.model_copy(update={"check_first_call": False})),
    # must call one of the tools, as LangChain's bind_tools with a forced tool_choice
    "heron-required": Variant(config=BFCL.model_copy(update={"tool_choice": "required"})),
    # the tool gate policy (agents/policies/tool_gate.py): answer only / call / call the one tool
    "heron+gate": Variant(gate=True),
    # one call per turn (before issue #18 heron's only way)
    "heron-single": Variant(config=BFCL.model_copy(update={"parallel_calls": 1})),
    # the model's own syntax (Qwen2.5's template: hermes <tool_call> blocks), forced; "auto" takes it
    # only for a model that writes it (agents/turn_formats.py: speaks)
    "heron-native": Variant(config=BFCL.model_copy(update={"tool_format": "hermes"})),
    # parallel items scored from the first turn's calls only, as llama-server's one reply is
    "heron-one-turn": Variant(one_turn=True),
}


def _summary(
    items: list[Item], correct: int, parsed: int, calls: int, seconds: float, matched: int
) -> dict[str, Any]:
    """One system's row: shares of the items scored right, parsed and calling a tool; time; and on
    parallel items, the share of all ground-truth calls that a call made matched."""
    n = len(items)
    row = {
        "accuracy": correct / n,
        "parsed": parsed / n,
        "called": calls / n,
        "seconds_per_item": seconds / n,
        "n": n,
    }
    truths = sum(len(item.answers or []) for item in items if item.parallel)
    if truths:
        row["calls_matched"] = matched / truths
    return row


def run_heron(llm: LocalLLM, items: list[Item], variant: Variant, settings: Settings) -> dict[str, Any]:
    correct = parsed = calls = matched = 0
    scored: list[dict[str, Any]] = []
    # one tool gate (its MiniLM embedder) for all items, loaded before the clock starts as the
    # peers' models are; the items' tools differ, so each gets its own Agent
    policies = [ToolGate.from_settings(settings)] if variant.gate else []
    for gate in policies:
        gate.similarities("warm-up", heron_tools(items[0]))
    started = time.perf_counter()
    for item in items:
        made: list[tuple[str, dict[str, Any]]] = []
        tools = heron_tools(item, made)
        with Agent(llm, tools=tools, config=variant.config, policies=policies, settings=settings) as agent:
            try:
                if item.parallel and not variant.one_turn:  # the loop: calls in one turn or several
                    agent.run(item.question, budget=Budget(max_steps=PARALLEL_STEPS))
                else:
                    action = agent.decide(item.question)
                    if isinstance(action, ToolCallAction | CallBatch):
                        made.extend((call.tool, call.arguments) for call in calls_of(action))
                parsed += 1
            except Exception as exc:  # counted as unparseable: must stay at zero
                print(f"  heron failed on {item.id}: {exc}", file=sys.stderr)
                continue
        calls += bool(made)
        correct += calls_are_correct(item, made)
        matched += calls_matched(item, made) if item.parallel else 0
        scored.append({"id": item.id, "correct": calls_are_correct(item, made), "calls": made})
    seconds = time.perf_counter() - started
    # each item's calls, to tell which items two runs (an A/B of a change) score differently
    return {**_summary(items, correct, parsed, calls, seconds, matched), "items": scored}


def _score_replies(name: str, items: list[Item], reply: Any) -> dict[str, Any]:
    """``reply(item)`` -> the reply's raw tool calls (OpenAI shape); parsed when it came back and
    every call's arguments decode as a JSON object."""
    correct = calls = parsed = matched = 0
    started = time.perf_counter()
    for item in items:
        try:
            made = _decoded(reply(item))
            parsed += 1
        except Exception as exc:
            print(f"  {name} failed on {item.id}: {type(exc).__name__}: {exc}", file=sys.stderr)
            continue
        calls += bool(made)
        correct += calls_are_correct(item, made)
        matched += calls_matched(item, made) if item.parallel else 0
    seconds = time.perf_counter() - started
    return _summary(items, correct, parsed, calls, seconds, matched)


def run_llama_cpp_auto(model_path: str, items: list[Item]) -> dict[str, Any]:
    from llama_cpp import Llama

    from heron.llm.llama_compat import safe_model_params

    with safe_model_params():  # this CPU's AMX kernels crash llama.cpp; the same guard heron uses
        llm = Llama(
            model_path=model_path, chat_format="chatml-function-calling", n_ctx=4096, verbose=False, seed=0
        )

    def reply(item: Item) -> list[Any]:
        out = llm.create_chat_completion(
            [{"role": "user", "content": item.question}],
            tools=openai_tools(item),
            tool_choice="auto",
            temperature=0.0,
            max_tokens=256,
        )
        return out["choices"][0]["message"].get("tool_calls") or []

    try:
        return _score_replies("llama-cpp", items, reply)
    finally:
        llm.close()


def run_langchain_forced(model_path: str, items: list[Item]) -> dict[str, Any]:
    """bind_tools takes no "auto": forced to the item's one function (single-function items only)."""
    from langchain_community.chat_models import ChatLlamaCpp

    from heron.llm.llama_compat import safe_model_params

    with safe_model_params():
        chat = ChatLlamaCpp(
            model_path=model_path, temperature=0.0, max_tokens=256, n_ctx=4096, verbose=False, seed=0
        )

    def reply(item: Item) -> list[Any]:
        spec = openai_tools(item)[0]
        bound = chat.bind_tools(
            [spec], tool_choice={"type": "function", "function": {"name": spec["function"]["name"]}}
        )
        message = bound.invoke(item.question)
        return [{"function": {"name": c["name"], "arguments": c["args"]}} for c in message.tool_calls]

    return _score_replies("langchain", items, reply)


def run_llama_server(model_path: str, items: list[Item]) -> dict[str, Any]:
    """llama.cpp's server with the model's own Jinja chat template (`--jinja`), tool_choice="auto"."""
    import openai
    from llama_server import LlamaServer

    with LlamaServer(model_path) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none", timeout=600, max_retries=0)

        def reply(item: Item) -> list[Any]:
            out = client.chat.completions.create(
                model="bfcl",
                messages=[{"role": "user", "content": item.question}],
                tools=openai_tools(item),  # type: ignore[arg-type]
                tool_choice="auto",
                temperature=0.0,
                max_tokens=256,
            )
            return list(out.choices[0].message.tool_calls or [])

        reply(items[0])  # warm-up outside the clock, as the in-process peers load before it
        return _score_replies("llama-server", items, reply)


PEER_RUNNERS = {
    "llama-cpp-auto": run_llama_cpp_auto,
    "langchain-forced": run_langchain_forced,
    "llama-server-jinja": run_llama_server,
}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--limit", type=int, default=10, help="items per category for heron")
    parser.add_argument("--peer-limit", type=int, default=10, help="items per category for the peers")
    parser.add_argument(
        "--model", default=None, help="a model name heron knows (default: the configured one)"
    )
    parser.add_argument("--offset", type=int, default=0, help="skip this many items of each category")
    parser.add_argument("--categories", nargs="+", default=list(CATEGORIES), choices=CATEGORIES)
    parser.add_argument("--systems", nargs="+", default=[*VARIANTS, *PEERS], choices=[*VARIANTS, *PEERS])
    parser.add_argument("--out", default="agents_bfcl.json", help="file name under benchmarks/out/")
    parser.add_argument("--merge", action="store_true", help="keep the out file's other rows")
    args = parser.parse_args()
    settings = load_settings(model=args.model) if args.model else load_settings()
    # the runs' traces and workspaces go to a scratch folder, not the user's data dir
    scratch = Path(tempfile.mkdtemp(prefix="heron-bfcl-"))
    run_settings = settings.model_copy(update={"data_dir": scratch})
    model_path = str(settings.llm_model_path())
    print(f"model: {model_path}", flush=True)
    out_file = OUT / args.out
    results: dict[str, dict[str, Any]] = {}
    if args.merge and out_file.exists():
        results = json.loads(out_file.read_text())

    def save() -> None:  # after every row: an interrupted run keeps what it measured
        OUT.mkdir(exist_ok=True)
        out_file.write_text(json.dumps(results, indent=2))

    variants = [v for v in args.systems if v in VARIANTS]
    if variants:
        with LocalLLM.from_settings(settings) as llm:
            for category in args.categories:
                for variant in variants:
                    key = f"{variant}/{category}"
                    results[key] = run_heron(
                        llm, load(category, args.limit, args.offset), VARIANTS[variant], run_settings
                    )
                    print(key, results[key], flush=True)
                    save()
    for peer in (p for p in args.systems if p in PEERS):
        for category in args.categories:
            items = load(category, args.peer_limit, args.offset)
            if peer == "langchain-forced" and (
                category == "irrelevance" or any(len(i.functions) > 1 for i in items)
            ):
                continue  # forced to one function: cannot abstain nor choose among several
            key = f"{peer}/{category}"
            try:
                results[key] = PEER_RUNNERS[peer](model_path, items)
            except FileNotFoundError as exc:  # llama-server not built: `make llama-server`
                print(f"{key}: skipped: {exc}", flush=True)
                continue
            print(key, results[key], flush=True)
            save()
    print(f"\n{'system / category':<40}{'accuracy':>10}{'called':>9}{'parsed':>9}{'s/item':>9}{'calls':>9}")
    for key, r in results.items():
        matched = f"{r['calls_matched']:>9.0%}" if "calls_matched" in r else ""
        print(
            f"{key:<40}{r['accuracy']:>10.0%}{r['called']:>9.0%}{r['parsed']:>9.0%}"
            f"{r['seconds_per_item']:>9.2f}{matched}"
        )


if __name__ == "__main__":
    main()
