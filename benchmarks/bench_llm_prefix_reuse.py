"""Prefix reuse over a 10-turn conversation: prompt tokens evaluated vs sent, and time to first token.

An agent-like chat: a long system prompt (tool descriptions), then 10 turns that each append the
assistant's reply and a new question. The same conversation runs twice, interleaved turn by turn:
once as is, once with an unrelated request between turns (another user on the same server), which
leaves only the chat template's first tokens in the KV cache: the cache-defeating baseline.

    .venv/bin/python benchmarks/bench_llm_prefix_reuse.py
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message

OUT = Path(__file__).resolve().parent / "out"
TOOLS = "\n".join(
    f"- tool_{i}(query: str, limit: int = 5): looks up records of kind {i} in the shop database and returns "
    f"matching rows as JSON; use it when the customer asks about product family number {i}."
    for i in range(24)
)
SYSTEM = f"You are the assistant of a garden shop. You can call these tools:\n{TOOLS}\nAnswer briefly."
QUESTIONS = [
    "Do you sell roses?",
    "What about tulip bulbs?",
    "Which soil is best for them?",
    "Do you deliver?",
    "How much is delivery?",
    "Can I pay by card?",
    "Are you open on Sunday?",
    "Do you have gloves?",
    "Which size fits me?",
    "Thanks, that is all.",
]
REPLY = GenerationOptions(max_tokens=16)
OTHER_USER = [Message.system("Translate to French."), Message.user("Good morning")]


def turn(llm: LocalLLM, history: list[Message]) -> dict[str, float]:
    started = time.perf_counter()
    first = None
    parts = []
    for delta in llm.stream(history, REPLY):
        first = first or time.perf_counter()
        parts.append(delta)
    usage = llm.last_usage
    history.append(Message.assistant("".join(parts)))
    return {
        "sent": usage.prompt_tokens,
        "evaluated": usage.evaluated_prompt_tokens,
        "ratio": usage.evaluated_prompt_tokens / usage.prompt_tokens,
        "ttft_s": (first or time.perf_counter()) - started,
    }


def main() -> None:
    settings = load_settings(context_size=4096)
    reused, defeated = [Message.system(SYSTEM)], [Message.system(SYSTEM)]
    rows = []
    with LocalLLM.from_settings(settings) as warm, LocalLLM.from_settings(settings) as cold:
        for i, question in enumerate(QUESTIONS, start=1):
            reused.append(Message.user(question))
            defeated.append(Message.user(question))
            a = turn(warm, reused)
            cold.chat(OTHER_USER, GenerationOptions(max_tokens=4))  # another request evicts the prefix
            b = turn(cold, defeated)
            rows.append({"turn": i, "reuse": a, "no_reuse": b})
    print(
        f"{'turn':>4} {'sent':>5} {'evaluated':>9} {'eval/sent':>9} {'TTFT s':>7} | "
        f"{'no-reuse eval':>13} {'TTFT s':>7}"
    )
    for row in rows:
        a, b = row["reuse"], row["no_reuse"]
        print(
            f"{row['turn']:>4} {a['sent']:>5} {a['evaluated']:>9} {a['ratio']:>9.3f} {a['ttft_s']:>7.3f} | "
            f"{b['evaluated']:>13} {b['ttft_s']:>7.3f}"
        )
    worst = max(r["reuse"]["ratio"] for r in rows[1:])
    speedup = rows[-1]["no_reuse"]["ttft_s"] / rows[-1]["reuse"]["ttft_s"]
    print(
        f"max eval/sent from turn 2: {worst:.3f} (target <= 0.10); "
        f"turn-10 TTFT {speedup:.1f}x lower with reuse (target >= 5x)"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_llm_prefix_reuse.json").write_text(
        json.dumps({"rows": rows, "max_ratio_from_turn_2": worst, "turn10_ttft_speedup": speedup}, indent=2)
    )


if __name__ == "__main__":
    main()
