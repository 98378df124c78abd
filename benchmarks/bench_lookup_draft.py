"""Prompt-lookup speculation (``GenerationOptions.draft_tokens``): what it saves on replies that copy
their context and what it costs on replies that do not, against llama-cpp-python with and without
its own prompt-lookup draft model (``LlamaPromptLookupDecoding``), same model file, temperature 0.

    python benchmarks/bench_lookup_draft.py [--repeats 2]

Eight requests of the kinds a user sends (written for this benchmark; the notes are heron's own
examples/docs): quoting, summarising and tabulating a given text, answering from passages with a
citation, writing code, and two that copy nothing (a one-line fact, a short explanation). Every
system sees the same chat messages; each request is asked once to warm the cache, then timed
``--repeats`` times (the median is reported). Prints, per request, seconds and generated tokens for
each system, heron's guessed and kept tokens, and whether heron's reply with guesses is the one it
writes without them. No file is written.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.devices import cpu_threads
from heron.llm.llama_compat import safe_model_params

NOTES = Path(__file__).resolve().parent.parent / "examples" / "docs"
MAX_TOKENS = 160
DRAFT_TOKENS = 8  # heron's guesses per pass (GenerationOptions.draft_tokens; off by default)


def requests() -> dict[str, str]:
    grey = (NOTES / "grey-heron.md").read_text()
    passages = "\n\n".join(
        f"[{i}] {(NOTES / name).read_text().strip()}"
        for i, name in enumerate(("grey-heron.md", "little-egret.md", "great-blue-heron.md"), start=1)
    )
    field = (NOTES / "field-notes.txt").read_text()
    return {
        "quote": f"{grey}\n\nQuote, word for word, the sentences of these notes about the grey heron's size.",
        "summarise": f"{passages}\n\nSummarise these three passages in three sentences, one per bird.",
        "table": f"{passages}\n\nMake a Markdown table, one row per bird: name, height, wingspan, weight.",
        "cite": f"{passages}\n\nUsing only these passages, what is the little egret's wingspan? Quote the "
        "passage's words and cite it by its number.",
        "notes": f"{field}\n\nRewrite these field notes as a bulleted list, keeping every number.",
        "code": "Write a Python function mean_wingspan(birds) that takes a list of dicts with the keys "
        "'name' and 'wingspan_cm' and returns the mean wingspan, then call it on three example birds.",
        "fact": "What is the capital of Australia? Answer in one sentence.",
        "explain": "Explain in three sentences why birds migrate.",
    }


def time_heron(llm: LocalLLM, messages: list[Message], draft: int, repeats: int) -> dict[str, object]:
    options = GenerationOptions(max_tokens=MAX_TOKENS, draft_tokens=draft)
    llm.chat(messages, options)  # warm: the prompt in the cache, as for the other systems
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        text = llm.chat(messages, options).text
        seconds.append(time.perf_counter() - started)
    usage = llm.last_usage
    return {
        "s": statistics.median(seconds),
        "tokens": usage.completion_tokens,
        "guessed": usage.guessed_tokens,
        "kept": usage.guessed_kept,
        "text": text,
    }


def time_llama_cpp(llama: object, messages: list[Message], repeats: int) -> dict[str, object]:
    chat = [{"role": m.role, "content": m.content} for m in messages]

    def ask() -> dict:
        return llama.create_chat_completion(chat, max_tokens=MAX_TOKENS, temperature=0.0)  # type: ignore[attr-defined]

    ask()
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        reply = ask()
        seconds.append(time.perf_counter() - started)
    return {"s": statistics.median(seconds), "tokens": reply["usage"]["completion_tokens"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    from llama_cpp import Llama
    from llama_cpp.llama_speculative import LlamaPromptLookupDecoding

    settings = load_settings()
    path = str(settings.llm_model_path())
    threads, threads_batch = cpu_threads()  # heron's defaults, given to llama-cpp-python too
    rows = []
    with LocalLLM.from_settings(settings) as llm:
        for name, request in requests().items():
            messages = [Message.user(request)]
            plain = time_heron(llm, messages, 0, args.repeats)
            guessed = time_heron(llm, messages, DRAFT_TOKENS, args.repeats)
            rows.append([name, plain, guessed])
            print(name, f"{plain['s']:.2f}", f"{guessed['s']:.2f}", flush=True)
    for label, draft_model in (("llama-cpp", None), ("llama-cpp-lookup", LlamaPromptLookupDecoding())):
        with safe_model_params():  # the AMX workaround heron applies; raw llama.cpp crashes without it
            llama = Llama(
                model_path=path,
                n_ctx=4096,
                n_threads=threads,
                n_threads_batch=threads_batch,
                verbose=False,
                seed=0,
                draft_model=draft_model,
            )
        for row in rows:
            row.append(time_llama_cpp(llama, [Message.user(requests()[row[0]])], args.repeats))
            print(label, row[0], f"{row[-1]['s']:.2f}", flush=True)
        del llama
    print(
        "\n| request | heron, no guesses: s (tokens) | **heron, guesses**: s (tokens) | guessed / kept "
        "| same reply | llama-cpp-python: s (tokens) "
        "| llama-cpp-python + LlamaPromptLookupDecoding: s (tokens) | heron / llama-cpp-python |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    totals = [0.0, 0.0, 0.0, 0.0]
    for name, plain, guessed, raw, lookup in rows:
        cells = [plain, guessed, raw, lookup]
        for i, cell in enumerate(cells):
            totals[i] += float(cell["s"])  # type: ignore[arg-type]
        print(
            f"| {name} | {plain['s']:.2f} ({plain['tokens']}) | **{guessed['s']:.2f}** ({guessed['tokens']}) "
            f"| {guessed['guessed']} / {guessed['kept']} "
            f"| {'yes' if guessed['text'] == plain['text'] else 'no'} "
            f"| {raw['s']:.2f} ({raw['tokens']}) | {lookup['s']:.2f} ({lookup['tokens']}) "
            f"| {float(guessed['s']) / float(raw['s']):.2f}x |"  # type: ignore[arg-type]
        )
    print(
        f"| all | {totals[0]:.2f} | **{totals[1]:.2f}** | | | {totals[2]:.2f} | {totals[3]:.2f} "
        f"| {totals[1] / totals[2]:.2f}x |"
    )


if __name__ == "__main__":
    main()
