"""HTTPLLM against a real llama-cpp-python OpenAI-compatible server serving the bundled model."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from heron.config import load_settings
from heron.errors import UsageError
from heron.llm import HTTPLLM, LLM, GenerationOptions, LocalLLM, Message

pytestmark = [pytest.mark.model, pytest.mark.slow]

MESSAGES = [Message.system("You are a helpful assistant."), Message.user("What is the capital of France?")]
GREEDY = GenerationOptions(max_tokens=30)


class Answer(BaseModel):
    city: str = Field(max_length=30)
    confident: bool


class Step(BaseModel):
    tool: Literal["search", "final_answer"]
    argument: str = Field(max_length=40)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``python -m heron.llm.serve``: llama_cpp.server's own app, with heron's llama.cpp safeguards."""
    port = free_port()
    model = load_settings().llm_model_path()
    log = tmp_path_factory.mktemp("server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "heron.llm.serve",
        "--model",
        str(model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "1024",
        "--verbose",
        "false",
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            cmd, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, "HF_HUB_OFFLINE": "1"}
        )
        url = f"http://127.0.0.1:{port}/v1"
        try:
            wait_until_ready(url, proc, log)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                if json.loads(resp.read()).get("data"):
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"server did not answer within 120 s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def http(server_url: str) -> Iterator[HTTPLLM]:
    with HTTPLLM(server_url) as llm:
        yield llm


@pytest.fixture(scope="module")
def local_text() -> str:
    with LocalLLM.from_settings(load_settings(context_size=1024)) as llm:
        return llm.chat(MESSAGES, GREEDY).text


def test_http_llm_implements_the_protocol(http: HTTPLLM) -> None:
    assert isinstance(http, LLM)


def test_server_answers_like_the_local_backend(http: HTTPLLM, local_text: str) -> None:
    completion = http.chat(MESSAGES, GREEDY)
    assert completion.text == local_text  # same model, same template, greedy: same answer
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert http.last_usage == completion.usage


def test_server_stream_equals_chat(http: HTTPLLM) -> None:
    text = http.chat(MESSAGES, GREEDY).text
    deltas = list(http.stream(MESSAGES, GREEDY))
    assert len(deltas) > 1 and "".join(deltas) == text
    assert http.last_usage.completion_tokens > 0


def test_server_structured_output_validates(http: HTTPLLM) -> None:
    answer = http.structured(
        [*MESSAGES[:1], Message.user("Capital of France? Reply as JSON.")],
        Answer,
        GenerationOptions(max_tokens=80),
    )
    assert isinstance(answer, Answer)
    step = http.structured(
        [Message.user("Search for herons. Reply as JSON.")], Step, GenerationOptions(max_tokens=80)
    )
    assert step.tool in ("search", "final_answer")


def test_server_stop_sequences_and_length(http: HTTPLLM) -> None:
    full = http.chat(MESSAGES, GREEDY).text
    word = full.split()[2]
    cut = http.chat(MESSAGES, GREEDY.model_copy(update={"stop": (word,)}))
    assert word not in cut.text and full.startswith(cut.text.rstrip())
    assert http.chat(MESSAGES, GenerationOptions(max_tokens=3)).finish_reason == "length"


def test_server_best_of(http: HTTPLLM) -> None:
    result = http.best_of(MESSAGES, 2, scorer=len, options=GenerationOptions(max_tokens=10))
    assert result.candidates is not None and len(result.candidates) == 2
    assert result.text == max(result.candidates, key=len)


def test_server_cannot_score_given_options(http: HTTPLLM) -> None:
    with pytest.raises(UsageError, match="cannot score given continuations"):
        http.score_options(MESSAGES, ["Paris", "Berlin"])
