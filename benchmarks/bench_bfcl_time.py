"""Where the time of one BFCL item goes: heron against llama.cpp's own server, same model file.

    python benchmarks/bench_bfcl_time.py [--category simple_python] [--offset 0] [--limit 10] \
        [--systems heron llama-server-jinja] [--draft-tokens N]

heron (the default configuration, `agent.decide`, as `bench_agents_bfcl.py` scores a non-parallel
item) is timed by phase from the outside, by wrapping its KV session's methods:

- prompt: tokens of the turn's prompt llama.cpp evaluated (the rest came from the KV cache), seconds;
- decode: the forward passes of the decode loop after the prompt (each evaluates the token just
  sampled, any text the grammar forces after it, and a prompt-lookup guess: ``decoded tokens``),
  how many (``passes``), seconds; ``guessed`` and ``kept``: tokens guessed and what the model wrote;
- check: the first-call check (short yes/no prompts in the scoring sequence), seconds;
- other: the rest (sampling, grammar probes, tokenizing, the agent's own work).

llama-server reports its own split per request (`timings`: prompt tokens and ms, generated tokens
and ms). The first item of each system is a warm-up outside the figures (model load, grammar and
template caches). Prints one row per system; no file is written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.request
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_agents_bfcl import BFCL, heron_tools, openai_tools
from bfcl import Item, load

from heron.agents import Agent
from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM
from heron.llm.kv_session import KVSession
from heron.llm.lookup_draft import LookupDraft


class PhaseClock:
    """Seconds and token counts per phase of heron's decode loop, from wrappers around KVSession."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.tokens: defaultdict[str, int] = defaultdict(int)
        self._phase: str | None = None  # set while a prefill or a check runs: their decodes are theirs

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        outer, self._phase = self._phase, self._phase or name
        started = time.perf_counter()
        try:
            yield
        finally:
            if outer is None:
                self.seconds[name] += time.perf_counter() - started
            self._phase = outer

    def install(self, llm: LocalLLM) -> None:
        clock = self
        prefill, decode, decode_one = KVSession.prefill, KVSession.decode, KVSession.decode_one
        decode_rows, settle = KVSession.decode_rows, LookupDraft.settle
        score_options = llm.score_options

        def timed_prefill(session: KVSession, prompt: Any, reserve: int = 1) -> int:
            with clock.phase("prompt"):
                reused = prefill(session, prompt, reserve)
            if clock._phase is None:
                clock.tokens["prompt"] += len(prompt) - reused
            return reused

        def timed_decode(session: KVSession, tokens: Any, logits_for_all: bool = False) -> Any:
            if clock._phase is None:
                clock.tokens["decoded"] += len(tokens)
                clock.tokens["passes"] += 1
            with clock.phase("decode"):
                return decode(session, tokens, logits_for_all)

        def timed_decode_one(session: KVSession, token: int) -> None:
            if clock._phase is None:
                clock.tokens["decoded"] += 1
                clock.tokens["passes"] += 1
            with clock.phase("decode"):
                decode_one(session, token)

        def timed_decode_rows(session: KVSession, tokens: Any, first_row: int = 0) -> None:
            if clock._phase is None:
                clock.tokens["decoded"] += len(tokens)
                clock.tokens["passes"] += 1
            with clock.phase("decode"):
                decode_rows(session, tokens, first_row)

        def counted_settle(draft: LookupDraft, guessed: int, kept: int) -> None:
            clock.tokens["guessed"] += guessed
            clock.tokens["kept"] += kept
            settle(draft, guessed, kept)

        def timed_score(*args: Any, **kwargs: Any) -> Any:
            with clock.phase("check"):
                return score_options(*args, **kwargs)

        KVSession.prefill = timed_prefill  # type: ignore[method-assign]
        KVSession.decode = timed_decode  # type: ignore[method-assign]
        KVSession.decode_one = timed_decode_one  # type: ignore[method-assign]
        KVSession.decode_rows = timed_decode_rows  # type: ignore[method-assign]
        LookupDraft.settle = counted_settle  # type: ignore[method-assign]
        llm.score_options = timed_score  # type: ignore[method-assign]

    def reset(self) -> None:
        self.seconds.clear()
        self.tokens.clear()


def set_draft_tokens(n: int) -> None:
    """Make ``n`` the default of ``GenerationOptions.draft_tokens`` for every call heron makes."""
    GenerationOptions.model_fields["draft_tokens"].default = n
    GenerationOptions.model_rebuild(force=True)


def run_heron(items: list[Item]) -> dict[str, float]:
    settings = load_settings()
    llm = LocalLLM.from_settings(settings)
    clock = PhaseClock()
    clock.install(llm)
    wall = 0.0
    for i, item in enumerate(items):
        if i == 1:  # the warm-up item's figures are dropped
            clock.reset()
            wall = 0.0
        started = time.perf_counter()
        with Agent(llm, tools=heron_tools(item, []), config=BFCL, settings=settings) as agent:
            agent.decide(item.question)
        wall += time.perf_counter() - started
    n = max(len(items) - 1, 1)
    row = {"seconds": wall / n}
    phases = ("prompt", "decode", "check")
    for name in phases:
        row[f"{name} s"] = clock.seconds[name] / n
    row["other s"] = row["seconds"] - sum(row[f"{name} s"] for name in phases)
    for name in ("prompt", "decoded", "passes", "guessed", "kept"):
        row[f"{name} tokens" if name in ("prompt", "decoded") else name] = clock.tokens[name] / n
    llm.close()
    return row


def run_llama_server(items: list[Item]) -> dict[str, float]:
    from llama_server import LlamaServer

    model_path = str(load_settings().llm_model_path())
    totals: defaultdict[str, float] = defaultdict(float)
    with LlamaServer(model_path) as server:
        for i, item in enumerate(items):
            body = {
                "model": "bfcl",
                "messages": [{"role": "user", "content": item.question}],
                "tools": openai_tools(item),
                "tool_choice": "auto",
                "temperature": 0.0,
                "max_tokens": 256,
            }
            request = urllib.request.Request(
                f"{server.base_url}/chat/completions",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
            )
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=600) as response:
                reply = json.load(response)
            if i == 0:
                continue
            totals["seconds"] += time.perf_counter() - started
            timings = reply.get("timings", {})
            totals["prompt s"] += timings.get("prompt_ms", 0.0) / 1000
            totals["prompt tokens"] += timings.get("prompt_n", 0)
            totals["decode s"] += timings.get("predicted_ms", 0.0) / 1000
            totals["decoded tokens"] += timings.get("predicted_n", 0)
            totals["passes"] += timings.get("predicted_n", 0)
    n = max(len(items) - 1, 1)
    return {key: value / n for key, value in totals.items()}


SYSTEMS: dict[str, Callable[[list[Item]], dict[str, float]]] = {
    "heron": run_heron,
    "llama-server-jinja": run_llama_server,
}
COLUMNS = (
    "seconds",
    "prompt tokens",
    "prompt s",
    "decoded tokens",
    "passes",
    "guessed",
    "kept",
    "decode s",
    "check s",
    "other s",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--category", default="simple_python")
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--limit", type=int, default=10, help="items timed (one more is the warm-up)")
    parser.add_argument("--systems", nargs="+", default=list(SYSTEMS), choices=list(SYSTEMS))
    parser.add_argument(
        "--draft-tokens", type=int, help="heron's prompt-lookup guesses per pass (default: heron's; 0: off)"
    )
    args = parser.parse_args()
    if args.draft_tokens is not None:
        set_draft_tokens(args.draft_tokens)
    items = load(args.category, limit=args.limit + 1, offset=args.offset)
    print(f"{args.category} items {args.offset + 1}-{args.offset + args.limit} (item {args.offset} warms up)")
    print("| system | " + " | ".join(COLUMNS) + " |")
    print("|---|" + "---:|" * len(COLUMNS))
    for name in args.systems:
        row = SYSTEMS[name](items)
        cells = [f"{row[c]:.2f}" if c in row else "-" for c in COLUMNS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
