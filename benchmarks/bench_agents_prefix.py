"""Prefix reuse over a 10-step agent run with the real bundled model: prompt tokens llama.cpp had to
evaluate / prompt tokens sent, from the second model turn on (target <= 0.10).

Usage: python benchmarks/bench_agents_prefix.py    Writes benchmarks/out/agents_prefix.json.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from heron.agents import Agent, AgentConfig, Budget, PlanStep
from heron.config import load_settings
from heron.llm import LocalLLM
from heron.tools import calculator
from heron.tracing import read_trace

OUT = Path(__file__).resolve().parent / "out"


def main() -> None:
    settings = load_settings(data_dir=Path(tempfile.mkdtemp()))
    plan = [PlanStep(do=f"Compute {i} * 7 with the calculator", tool="calculator") for i in range(1, 10)]
    plan.append(PlanStep(do="Answer with the last product"))
    with (
        LocalLLM.from_settings(settings) as llm,
        Agent(
            llm, tools=[calculator], settings=settings, config=AgentConfig(budget=Budget(max_steps=14))
        ) as agent,
    ):
        result = agent.run("Multiply 1 to 9 by 7, one at a time, then answer.", plan=plan)
    turns = [e for e in read_trace(result.trace_path) if e.type == "model_turn"]
    later = turns[1:]
    sent = sum(t.prompt_tokens for t in later)
    evaluated = sum(t.prompt_tokens - t.cached_prompt_tokens for t in later)
    report = {
        "turns": len(turns),
        "steps": result.steps,
        "prompt_tokens_sent_from_turn_2": sent,
        "prompt_tokens_evaluated_from_turn_2": evaluated,
        "evaluated_over_sent": evaluated / sent,
        "per_turn": [(t.prompt_tokens, t.cached_prompt_tokens) for t in turns],
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "agents_prefix.json").write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "per_turn"}, indent=2))


if __name__ == "__main__":
    main()
