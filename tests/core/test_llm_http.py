"""HTTPLLM against a real llama-cpp-python OpenAI-compatible server serving the bundled model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import pytest
from pydantic import BaseModel, Field

from heron.config import load_settings
from heron.errors import UsageError
from heron.llm import (
    HTTPLLM,
    LLM,
    GenerationOptions,
    KeepsState,
    LocalLLM,
    Message,
    RepetitionControl,
    ResumesReplies,
    ScoresOptions,
    best_of,
    option_scorer,
)

pytestmark = [pytest.mark.model, pytest.mark.slow]

MESSAGES = [Message.system("You are a helpful assistant."), Message.user("What is the capital of France?")]
GREEDY = GenerationOptions(max_tokens=30)


class Answer(BaseModel):
    city: str = Field(max_length=30)
    confident: bool


class Step(BaseModel):
    tool: Literal["search", "final_answer"]
    argument: str = Field(max_length=40)


@pytest.fixture(scope="module")
def server_url(llama_server_url: str) -> str:
    """``python -m heron.llm.serve`` on 127.0.0.1 (the shared fixture in tests/conftest.py)."""
    return llama_server_url


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


def test_server_takes_a_repetition_control(http: HTTPLLM) -> None:
    # llama-server honours the dry_* fields; llama-cpp-python's server (this one) ignores them
    options = GenerationOptions(max_tokens=80, repetition=RepetitionControl())
    step = http.structured(MESSAGES, Step, options)
    assert step.tool in ("search", "final_answer")


def test_server_stop_sequences_and_length(http: HTTPLLM) -> None:
    full = http.chat(MESSAGES, GREEDY).text
    word = full.split()[2]
    cut = http.chat(MESSAGES, GREEDY.model_copy(update={"stop": (word,)}))
    assert word not in cut.text and full.startswith(cut.text.rstrip())
    assert http.chat(MESSAGES, GenerationOptions(max_tokens=3)).finish_reason == "length"


def test_server_best_of(http: HTTPLLM) -> None:
    result = best_of(http, MESSAGES, 2, scorer=len, options=GenerationOptions(max_tokens=10))
    assert result.candidates is not None and len(result.candidates) == 2
    assert result.text == max(result.candidates, key=len)


def test_server_cannot_score_given_options_nor_keep_state(http: HTTPLLM) -> None:
    assert not isinstance(http, ScoresOptions) and not isinstance(http, KeepsState)
    with pytest.raises(UsageError, match="cannot score given replies"):
        option_scorer(http).score_options(MESSAGES, ["Paris", "Berlin"])


def test_server_cannot_go_on_with_a_reply_begun_earlier(http: HTTPLLM) -> None:
    # the server keeps nothing of a reply between requests: heron's pause at a tool's name needs its own loop
    assert not isinstance(http, ResumesReplies)
    with pytest.raises(UsageError, match="reply_start needs heron's own decode loop"):
        http.chat(MESSAGES, GenerationOptions(max_tokens=8, reply_start='{"name": "'))
