"""What serving an agent over HTTP costs (`heron serve`), measured against the SDK on the same machine.

1. **Time to first token** with a real model: the first streamed answer text through
   ``POST /v1/chat/completions`` (stream, the official ``openai`` client) against the first
   ``TokenEvent`` of ``Agent.stream`` on the same loaded model, questions interleaved, median ratio.
2. **Server overhead**: requests per second of a trivial agent on a scripted model (it answers at
   once), through the API against ``Agent.run`` in-process, with 1 and 8 concurrent clients.

Usage: ``.venv/bin/python benchmarks/bench_serve.py [--model qwen2.5-coder-1.5b] [--questions 6]
[--requests 200]``; writes benchmarks/out/bench_serve.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openai import OpenAI  # noqa: E402

from heron import Agent  # noqa: E402
from heron.agents.config import AgentConfig  # noqa: E402
from heron.agents.serve import create_app  # noqa: E402
from heron.config import Settings, load_settings  # noqa: E402
from heron.llm import LocalLLM  # noqa: E402
from heron.llm.fake import ScriptedLLM  # noqa: E402
from heron.tools import calculator  # noqa: E402
from heron.tracing import TokenEvent  # noqa: E402
from tests.agents.serve_helpers import served  # noqa: E402

OUT = ROOT / "benchmarks" / "out" / "bench_serve.json"
QUESTIONS = [
    "What is the capital of France? One word.",
    "Name a primary color. One word.",
    "What is the largest planet of the solar system? One word.",
    "Which animal is known as the king of the jungle? One word.",
    "What is the chemical symbol of gold?",
    "How many legs does a spider have?",
    "What is the opposite of hot? One word.",
    "Which ocean lies between Europe and America?",
]


def ttft(model: str, questions: int, data_dir: Path) -> dict[str, Any]:
    settings = load_settings().model_copy(update={"data_dir": data_dir / "ttft", "model": model})
    serve = Settings(serve={"profiles": {"plain": {"tools": ["calculator"], "token_logprobs": False}}}).serve
    settings = settings.model_copy(update={"serve": serve})
    llm = LocalLLM.from_settings(settings)
    sdk, api = [], []
    config = AgentConfig(budget=AgentConfig().budget)
    agent = Agent(llm, tools=[calculator], settings=settings, config=config)
    with served(create_app(settings, llm=llm)) as url, agent:
        client = OpenAI(base_url=f"{url}/v1", api_key="unused", timeout=600)

        def through_sdk(question: str) -> float | None:
            started, first = time.perf_counter(), None
            for event in agent.stream(question):
                if first is None and isinstance(event, TokenEvent) and event.text.strip():
                    first = time.perf_counter() - started
            return first

        def through_api(question: str) -> float | None:
            started, first = time.perf_counter(), None
            for chunk in client.chat.completions.create(
                model="plain", messages=[{"role": "user", "content": question}], stream=True
            ):
                if first is None and chunk.choices and (chunk.choices[0].delta.content or "").strip():
                    first = time.perf_counter() - started
            return first

        # the second run of a question reuses the first one's KV cache: alternate who goes first
        for index, question in enumerate(QUESTIONS[:questions]):
            if index % 2 == 0:
                sdk.append(through_sdk(question))
                api.append(through_api(question))
            else:
                api.append(through_api(question))
                sdk.append(through_sdk(question))
    llm.close()
    pairs = [(s, a) for s, a in zip(sdk, api, strict=True) if s and a]
    return {
        "model": model,
        "questions": len(pairs),
        "sdk_first_token_s_median": statistics.median(s for s, _ in pairs),
        "api_first_token_s_median": statistics.median(a for _, a in pairs),
        "ratio_api_over_sdk_median": statistics.median(a / s for s, a in pairs),
    }


def overhead(requests: int, data_dir: Path) -> dict[str, Any]:
    def answer(_: Any) -> dict:
        return {"action": "final_answer", "answer": "ok", "citations": []}

    settings = load_settings().model_copy(update={"data_dir": data_dir / "overhead"})
    serve = Settings(serve={"profiles": {"tiny": {"tools": [], "token_logprobs": False}}}).serve
    settings = settings.model_copy(update={"serve": serve})
    results: dict[str, Any] = {"requests": requests}
    with Agent(ScriptedLLM([answer] * requests), settings=settings) as agent:
        started = time.perf_counter()
        for _ in range(requests):
            agent.run("hi")
        results["sdk_runs_per_s"] = requests / (time.perf_counter() - started)
    for clients in (1, 8):
        llm = ScriptedLLM([answer] * requests)
        with served(create_app(settings, llm=llm)) as url:
            import httpx

            def worker(count: int) -> None:
                with httpx.Client(timeout=60) as http:
                    for _ in range(count):
                        reply = http.post(
                            f"{url}/v1/chat/completions",
                            json={"model": "tiny", "messages": [{"role": "user", "content": "hi"}]},
                        )
                        assert reply.json()["choices"][0]["message"]["content"] == "ok"

            threads = [threading.Thread(target=worker, args=(requests // clients,)) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            results[f"api_requests_per_s_{clients}_clients"] = (requests // clients * clients) / (
                time.perf_counter() - started
            )
    one_client = results["api_requests_per_s_1_clients"]
    results["api_over_sdk_time_ratio_1_client"] = results["sdk_runs_per_s"] / one_client
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="qwen2.5-coder-1.5b", help="model for the first-token timing")
    parser.add_argument("--questions", type=int, default=6, help="questions for the first-token timing")
    parser.add_argument("--requests", type=int, default=200, help="requests for the overhead timing")
    parser.add_argument("--skip-ttft", action="store_true", help="only the scripted-model overhead")
    parser.add_argument("--skip-overhead", action="store_true", help="only the first-token timing")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        report: dict[str, Any] = {"machine": platform.processor() or platform.machine()}
        if not args.skip_overhead:
            report["overhead"] = overhead(args.requests, Path(scratch))
        if not args.skip_ttft:
            report["first_token"] = ttft(args.model, args.questions, Path(scratch))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
