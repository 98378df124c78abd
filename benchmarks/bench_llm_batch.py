"""What a prompt's batching does in llama.cpp on this machine: speed and numbers.

1. Tokens per second of one ``llama_decode`` of n prompt tokens, by n (best of 3): why scoring
   several short prompts in one batch looked worth it.
2. One yes/no prompt's P(Yes) evaluated in one batch, and in batches of 8 tokens (one sequence, the
   same tokens): how far rounding alone moves a score.
3. Cells shared between two KV sequences: sequence 1 holds prompt A, sequence 2 copies their common
   start (``llama_memory_seq_cp``) and evaluates the rest of prompt B in a batch of its own. P(Yes)
   of B should equal B alone; it is printed beside B alone, and beside the same after A's tail was
   removed first. Why heron does not score prompts side by side in one context (BENCHMARKS.md,
   "Notes only after long results, and several prompts in one batch tried").

    .venv/bin/python benchmarks/bench_llm_batch.py
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as heron.llm sets it

import llama_cpp

import heron.llm.llama_compat as llama_compat
from heron.config import load_settings
from heron.llm import LocalLLM, Message
from heron.llm.devices import cpu_threads
from heron.llm.kv_session import KVSession
from heron.llm.prefix import common_prefix_length
from heron.llm.sampling import logprob_rows
from heron.llm.yes_no import NO_OPTIONS, YES_OPTIONS, yes_probability_from_logprobs

OUT = Path(__file__).resolve().parent / "out"
STATEMENT = "Here is a statement. Statement: {} Is the statement true? Answer Yes or No."


def speed_by_batch(model: Path) -> dict[int, float]:
    decode, prompt = cpu_threads()
    with llama_compat.safe_model_params():
        llama = llama_cpp.Llama(
            str(model), n_ctx=2048, n_threads=decode, n_threads_batch=prompt, n_batch=512, verbose=False
        )
    tokens = llama.tokenize(("The quick brown fox jumps over the lazy dog. " * 60).encode())
    llama.reset()
    llama.eval(tokens[:64])  # warm-up
    speeds = {}
    for n in (8, 16, 32, 48, 64, 96, 128, 192):
        best = float("inf")
        for _ in range(3):
            llama.reset()
            started = time.perf_counter()
            llama.eval(tokens[:n])
            best = min(best, time.perf_counter() - started)
        speeds[n] = round(n / best, 1)
    llama.close()
    return speeds


def p_yes(session: KVSession, options: list[int]) -> float:
    """P(Yes) from the logits of the session's last evaluated position."""
    row = session.last_logits()[None, :]
    logprobs = [logprob_rows(row, [option])[0] for option in options]
    yes = len(YES_OPTIONS)
    return round(yes_probability_from_logprobs(logprobs[:yes], logprobs[yes:]), 4)


def main() -> None:
    model = load_settings().llm_model_path()
    results: dict[str, object] = {"tokens_per_second_by_batch": speed_by_batch(model)}
    llama_compat.SEQUENCES = 3  # (heron's context has 2: a third sequence for the sharing probe)
    with LocalLLM(model, context_size=4096) as llm:
        a, b = (
            llm._prompt_tokens([Message.user(STATEMENT.format(text))]) for text in ("Water is wet.", "2+2=5.")
        )
        options = [llm._llama.tokenize(o.encode(), add_bos=False)[0] for o in (*YES_OPTIONS, *NO_OPTIONS)]
        one = llm._scoring
        other = KVSession(llm._llama, seq=2, neighbour=None)
        memory = one._memory
        one.clear()
        one.decode(b)
        whole = p_yes(one, options)
        one.clear()
        for start in range(0, len(b), 8):
            one.decode(b[start : start + 8])
        results["one_sequence"] = {"whole": whole, "batches_of_8": p_yes(one, options)}
        shared = common_prefix_length(a, b)
        probes = {}
        for name, drop_tail in (("beside_A_with_its_tail", False), ("A_tail_removed_first", True)):
            one.clear()
            one.decode(a)
            llama_cpp.llama_memory_seq_rm(memory, 2, -1, -1)
            llama_cpp.llama_memory_seq_cp(memory, one.seq, 2, 0, shared)
            if drop_tail:
                one.truncate(shared)
            other.tokens = list(b[:shared])
            other.decode(b[shared:])
            probes[name] = p_yes(other, options)
            other.clear()
        results["shared_start"] = {"B_alone": whole, **probes}
        other.close()
    print(json.dumps(results, indent=1))
    OUT.mkdir(exist_ok=True)
    (OUT / "llm_batch.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
