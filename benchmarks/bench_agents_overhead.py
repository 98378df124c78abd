"""Orchestration overhead per step, with scripted models so only the framework is timed:
heron's Agent with ScriptedLLM against LangGraph's prebuilt ReAct agent with an equally scripted
fake chat model; plus cold `import heron` time.

Usage: python benchmarks/bench_agents_overhead.py [--runs 30] [--steps 10]
Writes benchmarks/out/agents_overhead.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out"


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: first number
        b: second number
    """
    return a + b


def heron_seconds_per_step(runs: int, steps: int) -> float:
    from heron.agents import Agent
    from heron.config import load_settings
    from heron.llm import ScriptedLLM
    from heron.tools import tool

    add_tool = tool(add)
    script = [{"action": "add", "arguments": {"a": i, "b": 1}} for i in range(steps - 1)]
    script.append({"action": "final_answer", "answer": "done", "citations": []})
    settings = load_settings(data_dir=Path(tempfile.mkdtemp()))
    samples = []
    for _ in range(runs):
        llm = ScriptedLLM(list(script))
        with Agent(llm, tools=[add_tool], settings=settings) as agent:
            started = time.perf_counter()
            result = agent.run("add things")
            samples.append((time.perf_counter() - started) / steps)
        assert result.answer == "done"
    return statistics.median(samples)


def langgraph_seconds_per_step(runs: int, steps: int) -> float:
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool as lc_tool
    from langgraph.prebuilt import create_react_agent

    class ScriptedChatModel(GenericFakeChatModel):
        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    add_tool = lc_tool(add)
    samples = []
    for _ in range(runs):
        messages = [
            AIMessage(content="", tool_calls=[{"name": "add", "args": {"a": i, "b": 1}, "id": f"c{i}"}])
            for i in range(steps - 1)
        ]
        messages.append(AIMessage(content="done"))
        agent = create_react_agent(ScriptedChatModel(messages=iter(messages)), [add_tool])
        started = time.perf_counter()
        out = agent.invoke({"messages": [("user", "add things")]}, {"recursion_limit": 4 * steps})
        samples.append((time.perf_counter() - started) / steps)
        assert out["messages"][-1].content == "done"
    return statistics.median(samples)


def cold_import_seconds(statement: str, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        out = subprocess.run(
            [sys.executable, "-X", "importtime", "-c", statement], capture_output=True, text=True, check=True
        )
        total = 0
        for line in out.stderr.splitlines():
            parts = line.split("|")
            if len(parts) == 3 and parts[2].strip() and not parts[2].startswith("  "):
                with contextlib.suppress(ValueError):
                    total += int(parts[1])
        times.append(total / 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    # interleave the two so load changes hit both
    heron, graph = [], []
    for _ in range(3):
        heron.append(heron_seconds_per_step(args.runs, args.steps))
        graph.append(langgraph_seconds_per_step(args.runs, args.steps))
    results = {
        "heron_ms_per_step": statistics.median(heron) * 1000,
        "langgraph_ms_per_step": statistics.median(graph) * 1000,
        "ratio_heron_over_langgraph": statistics.median(heron) / statistics.median(graph),
        "cold_import_heron_s": cold_import_seconds("import heron"),
        "cold_import_heron_agent_s": cold_import_seconds("from heron import Agent"),
        "cold_import_langgraph_prebuilt_s": cold_import_seconds("import langgraph.prebuilt"),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "agents_overhead.json").write_text(json.dumps(results, indent=2))
    for key, value in results.items():
        print(f"{key:<36}{value:>10.4f}")


if __name__ == "__main__":
    main()
