"""Decode speed: heron's streaming chat against raw ``Llama.create_completion``, same model/prompt/settings.

Runs are interleaved (heron, raw, raw, heron, ...) so load from other processes hits both alike.
Tokens/s counts decode only: tokens after the first, over the time after the first arrived. Two
clocks: wall time, and the calling thread's CPU time (the caller is one of the decode threads,
``heron.llm.devices.cpu_threads``, the same count on both sides, so its CPU time compares the work per
token while other processes compete for the cores; with one decode thread it is all of it).

    .venv/bin/python benchmarks/bench_llm_decode.py [--rounds 8] [--tokens 128]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as heron.llm sets it, for both sides

from llama_cpp import Llama

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.devices import cpu_threads
from heron.llm.llama_compat import safe_model_params

OUT = Path(__file__).resolve().parent / "out"
MESSAGES = [
    Message.system("You are a storyteller. Write long, detailed stories."),
    Message.user("Write a long story about a heron who learns to fish in a busy harbour."),
]


def decode_rates(stamps: list[tuple[float, float]]) -> tuple[float, float]:
    """(wall tok/s, CPU tok/s) from (wall, thread CPU) stamps taken at each delta."""
    n = len(stamps) - 1
    return n / (stamps[-1][0] - stamps[0][0]), n / (stamps[-1][1] - stamps[0][1])


def stamp() -> tuple[float, float]:
    return time.perf_counter(), time.thread_time()


def run_heron(llm: LocalLLM, tokens: int) -> tuple[tuple[float, float], str]:
    stamps, parts = [], []
    for delta in llm.stream(MESSAGES, GenerationOptions(max_tokens=tokens)):
        stamps.append(stamp())
        parts.append(delta)
    return decode_rates(stamps), "".join(parts)


def run_raw(llama: Llama, prompt: str, tokens: int) -> tuple[tuple[float, float], str]:
    stamps, parts = [], []
    for chunk in llama.create_completion(
        prompt, max_tokens=tokens, temperature=0.0, repeat_penalty=1.0, stream=True
    ):
        stamps.append(stamp())
        parts.append(chunk["choices"][0]["text"])
    return decode_rates(stamps), "".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    settings = load_settings(context_size=1024)
    path = settings.llm_model_path()
    threads, threads_batch = cpu_threads()  # heron's defaults, given to both
    llm = LocalLLM(path, context_size=1024, gpu_layers=settings.gpu_layers)  # HERON_GPU_LAYERS=-1 or 0
    with safe_model_params():  # the AMX workaround heron applies; raw llama.cpp crashes here without it
        llama = Llama(
            str(path),
            n_ctx=1024,
            n_batch=512,
            n_threads=threads,
            n_threads_batch=threads_batch,
            n_gpu_layers=llm.gpu_layers,
            verbose=False,
        )
    prompt = llm.render_prompt(MESSAGES)
    run_heron(llm, 8), run_raw(llama, prompt, 8)  # warm-up both
    heron_rates, raw_rates, same_text = [], [], True
    for i in range(args.rounds):
        order = [
            ("heron", lambda: run_heron(llm, args.tokens)),
            ("raw", lambda: run_raw(llama, prompt, args.tokens)),
        ]
        for name, fn in order if i % 2 == 0 else reversed(order):
            rate, text = fn()
            (heron_rates if name == "heron" else raw_rates).append(rate)
            if name == "heron":
                heron_text = text
            else:
                raw_text = text
        same_text &= heron_text == raw_text
    wall = [h[0] / r[0] for h, r in zip(heron_rates, raw_rates, strict=True)]
    cpu = [h[1] / r[1] for h, r in zip(heron_rates, raw_rates, strict=True)]
    result = {
        "model": path.name,
        "rounds": args.rounds,
        "max_tokens": args.tokens,
        "threads": [threads, threads_batch],
        "gpu_layers": llm.gpu_layers,
        "heron_wall_tok_s_median": statistics.median(h[0] for h in heron_rates),
        "raw_wall_tok_s_median": statistics.median(r[0] for r in raw_rates),
        "wall_ratio_median": statistics.median(wall),
        "cpu_ratio_median": statistics.median(cpu),
        "same_greedy_text": same_text,
        "heron_tok_s": heron_rates,
        "raw_tok_s": raw_rates,
    }
    llm.close()
    llama.close()
    print(
        f"{'round':>5} {'heron wall':>10} {'raw wall':>9} {'ratio':>6} "
        f"{'heron cpu':>10} {'raw cpu':>8} {'ratio':>6}"
    )
    for i, (h, r) in enumerate(zip(heron_rates, raw_rates, strict=True)):
        print(
            f"{i:>5} {h[0]:>10.1f} {r[0]:>9.1f} {h[0] / r[0]:>6.3f} "
            f"{h[1]:>10.1f} {r[1]:>8.1f} {h[1] / r[1]:>6.3f}"
        )
    print(
        f"median ratio: wall {result['wall_ratio_median']:.3f}, CPU time {result['cpu_ratio_median']:.3f} "
        f"(target >= 0.97); same greedy text: {same_text}"
    )
    OUT.mkdir(exist_ok=True)
    (OUT / "bench_llm_decode.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
