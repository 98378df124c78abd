"""Constrained decoding cost: tokens/s under a tool-call schema grammar against unconstrained decoding.

Three ways, interleaved per round, same model, prompt and greedy settings:
- ``unconstrained``: heron's decode loop, no grammar;
- ``heron grammar``: heron's loop with the schema's grammar (checks the sampled token, and filters
  the whole vocabulary only when the grammar rejects it);
- ``naive grammar``: llama-cpp-python's own ``create_completion(grammar=...)``, which runs the
  grammar over every candidate token at every step (the usual way, for reference).
Decode tokens/s excludes the prompt: completion tokens over (total time - time to first token),
using the calling thread's CPU time (decoding runs there; other processes do not skew it) and wall time.

    .venv/bin/python benchmarks/bench_llm_grammar.py [--rounds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path
from typing import Annotated, Literal

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from llama_cpp import Llama, LlamaGrammar
from pydantic import BaseModel, Field, RootModel

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.devices import cpu_threads
from heron.llm.llama_compat import safe_model_params
from heron.llm.sampling import TokenSampler
from heron.llm.schema import grammar_for

OUT = Path(__file__).resolve().parent / "out"


class SearchWeb(BaseModel):
    tool: Literal["search_web"]
    query: str = Field(max_length=60)
    max_results: int


class ReadFile(BaseModel):
    tool: Literal["read_file"]
    path: str = Field(max_length=60)


class FinalAnswer(BaseModel):
    tool: Literal["final_answer"]
    answer: str = Field(max_length=120)


class ToolCall(RootModel[Annotated[SearchWeb | ReadFile | FinalAnswer, Field(discriminator="tool")]]):
    pass


MESSAGES = [
    Message.system(
        "You are an agent. Reply with one JSON tool call: search_web {query, max_results}, "
        "read_file {path}, or final_answer {answer}."
    ),
    Message.user("Find recent articles about herons nesting in cities."),
]


def timed(deltas) -> tuple[float, float, int]:  # type: ignore[no-untyped-def]
    """(wall s, thread CPU s) spent after the first delta, and the number of deltas."""
    first = None
    n = 0
    for _ in deltas:
        n += 1
        first = first or (time.perf_counter(), time.thread_time())
    assert first is not None
    return time.perf_counter() - first[0], time.thread_time() - first[1], n


class FullGrammarPasses:
    """Counts the sampling steps where the grammar had to filter the whole vocabulary (the token the
    model liked best was not admitted), by wrapping heron's sampler while the block runs."""

    def __init__(self) -> None:
        self.count = 0

    def __enter__(self) -> FullGrammarPasses:
        original = self._original = TokenSampler._sample_under_grammar

        def counted(sampler: TokenSampler, ctx: object) -> int:
            self.count += 1
            return original(sampler, ctx)

        TokenSampler._sample_under_grammar = counted  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        TokenSampler._sample_under_grammar = self._original  # type: ignore[method-assign]


def heron_run(llm: LocalLLM, grammar: bool, tokens: int) -> dict[str, float]:
    options = GenerationOptions(max_tokens=tokens)
    if grammar:
        # structured() decodes all at once; time it, and take time-to-first-token from the same prompt
        started = (time.perf_counter(), time.thread_time())
        with FullGrammarPasses() as passes:
            llm.structured(MESSAGES, ToolCall, options)
        usage = llm.last_usage
        wall, cpu = time.perf_counter() - started[0], time.thread_time() - started[1]
        ttft_wall, ttft_cpu = prompt_time(llm)
        n = usage.completion_tokens
        return {
            "tokens": n,
            "wall_tok_s": (n - 1) / (wall - ttft_wall),
            "cpu_tok_s": (n - 1) / (cpu - ttft_cpu),
            "full_passes": passes.count,
        }
    wall, cpu, _ = timed(llm.stream(MESSAGES, options))
    n = llm.last_usage.completion_tokens
    return {"tokens": n, "wall_tok_s": (n - 1) / wall, "cpu_tok_s": (n - 1) / cpu}


def prompt_time(llm: LocalLLM) -> tuple[float, float]:
    """Wall and CPU time to the first token for MESSAGES (prefix cached as in the timed call)."""
    started = (time.perf_counter(), time.thread_time())
    stream = llm.stream(MESSAGES, GenerationOptions(max_tokens=1))
    next(stream)
    result = time.perf_counter() - started[0], time.thread_time() - started[1]
    stream.close()
    return result


def naive_run(llama: Llama, prompt: str, grammar: LlamaGrammar, tokens: int) -> dict[str, float]:
    chunks = llama.create_completion(
        prompt, max_tokens=tokens, temperature=0.0, repeat_penalty=1.0, grammar=grammar, stream=True
    )
    wall, cpu, n = timed(chunks)
    return {"tokens": n, "wall_tok_s": (n - 1) / wall, "cpu_tok_s": (n - 1) / cpu}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--tokens", type=int, default=120)
    args = parser.parse_args()
    path = load_settings().llm_model_path()
    threads, threads_batch = cpu_threads()  # heron's defaults
    llm = LocalLLM(path, context_size=1024)
    with safe_model_params():
        llama = Llama(
            str(path),
            n_ctx=1024,
            n_threads=threads,
            n_threads_batch=threads_batch,
            n_gpu_layers=llm.gpu_layers,
            verbose=False,
        )
    prompt = llm.render_prompt(MESSAGES)
    grammar = LlamaGrammar.from_string(grammar_for(ToolCall))
    runs: dict[str, list[dict[str, float]]] = {"unconstrained": [], "heron_grammar": [], "naive_grammar": []}
    heron_run(llm, False, 4)  # warm-up
    for i in range(args.rounds):
        order = ["unconstrained", "heron_grammar", "naive_grammar"]
        for name in order if i % 2 == 0 else reversed(order):
            if name == "naive_grammar":
                runs[name].append(naive_run(llama, prompt, grammar, args.tokens))
            else:
                runs[name].append(heron_run(llm, name == "heron_grammar", args.tokens))
    llm.close()
    llama.close()
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in ("tokens", "wall_tok_s", "cpu_tok_s")}
        for name, rs in runs.items()
    }
    print(f"{'mode':>15} {'tokens':>6} {'wall tok/s':>10} {'cpu tok/s':>9} {'cpu ratio':>9}")
    for name, m in med.items():
        ratio = m["cpu_tok_s"] / med["unconstrained"]["cpu_tok_s"]
        print(f"{name:>15} {m['tokens']:>6.0f} {m['wall_tok_s']:>10.1f} {m['cpu_tok_s']:>9.1f} {ratio:>9.3f}")
    full = statistics.median(r["full_passes"] / r["tokens"] for r in runs["heron_grammar"])
    result = {
        "runs": runs,
        "medians": med,
        "heron_full_vocab_pass_fraction": full,
        "heron_vs_unconstrained_cpu": med["heron_grammar"]["cpu_tok_s"] / med["unconstrained"]["cpu_tok_s"],
        "heron_vs_unconstrained_wall": med["heron_grammar"]["wall_tok_s"]
        / med["unconstrained"]["wall_tok_s"],
        "naive_vs_unconstrained_cpu": med["naive_grammar"]["cpu_tok_s"] / med["unconstrained"]["cpu_tok_s"],
    }
    print(
        f"heron grammar / unconstrained: CPU {result['heron_vs_unconstrained_cpu']:.3f}, wall "
        f"{result['heron_vs_unconstrained_wall']:.3f} (target >= 0.8); full-vocabulary passes on "
        f"{full:.0%} of steps; naive grammar: {result['naive_vs_unconstrained_cpu']:.3f}"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_llm_grammar.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
