"""ScriptedLLM, the public fake: scripted replies, schema validation, recorded calls, the LLM protocol."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel

from heron.config import load_settings
from heron.errors import ModelError, StateFileError, UsageError
from heron.llm import (
    HTTPLLM,
    LLM,
    Completion,
    GenerationOptions,
    KeepsState,
    Message,
    ScoresOptions,
    ScriptedLLM,
    open_llm,
)
from heron.llm.best_of import BEST_OF_DEFAULT_TEMPERATURE, best_of
from heron.llm.state_file import write_state_file
from heron.llm.text_stream import StopTextStream


class Search(BaseModel):
    tool: Literal["search"]
    query: str


HI = [Message.user("hi")]


def test_scripted_llm_implements_the_protocol_and_its_capabilities() -> None:
    assert isinstance(ScriptedLLM(), LLM)
    assert isinstance(ScriptedLLM(), ScoresOptions) and isinstance(ScriptedLLM(), KeepsState)


def test_replies_come_back_in_order_and_calls_are_recorded() -> None:
    llm = ScriptedLLM(["first", Completion(text="second", finish_reason="length")])
    assert llm.chat(HI).text == "first"
    second = llm.chat([Message.user("again")], GenerationOptions(max_tokens=9))
    assert (second.text, second.finish_reason) == ("second", "length")
    assert [c.method for c in llm.calls] == ["chat", "chat"]
    assert llm.calls[1].messages[-1].content == "again" and llm.calls[1].options.max_tokens == 9
    assert llm.remaining == 0


def test_running_out_of_replies_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="no reply left for call #1"):
        ScriptedLLM().chat(HI)


def test_stream_yields_the_reply_in_pieces() -> None:
    llm = ScriptedLLM(["one two  three"])
    deltas = list(llm.stream(HI))
    assert len(deltas) == 3 and "".join(deltas) == "one two  three"


def test_stop_and_max_tokens_apply_to_scripted_text() -> None:
    llm = ScriptedLLM(["a b STOP c", "w1 w2 w3 w4"])
    assert llm.chat(HI, GenerationOptions(stop=("STOP",))).text == "a b "
    capped = llm.chat(HI, GenerationOptions(max_tokens=2))
    assert (capped.text, capped.finish_reason) == ("w1 w2", "length")


def test_structured_replies_are_validated_against_the_schema() -> None:
    llm = ScriptedLLM(
        [{"tool": "search", "query": "herons"}, Search(tool="search", query="x"), {"tool": "nope"}]
    )
    assert llm.structured(HI, Search) == Search(tool="search", query="herons")
    assert llm.structured(HI, Search).query == "x"
    with pytest.raises(ModelError, match="does not validate against Search"):
        llm.structured(HI, Search)
    assert llm.calls[0].schema is Search


def test_structured_json_and_scores() -> None:
    llm = ScriptedLLM([[1, 2], [-0.5, -3.0]])
    assert llm.structured_json(HI, {"type": "array"}) == [1, 2]
    assert llm.score_options(HI, ["a", "b"]) == [-0.5, -3.0]
    assert llm.calls[1].choices == ("a", "b")
    with pytest.raises(UsageError, match="list of 3 floats"):
        ScriptedLLM([[0.0]]).score_options(HI, ["a", "b", "c"])


def test_exceptions_and_callables_as_replies() -> None:
    llm = ScriptedLLM([ModelError("server down"), lambda call: f"echo {call.messages[-1].content}"])
    with pytest.raises(ModelError, match="server down"):
        llm.chat(HI)
    assert llm.chat([Message.user("ping")]).text == "echo ping"


def test_usage_counts_words_and_reused_prefix() -> None:
    llm = ScriptedLLM(["ok", "fine"])
    history = [Message.system("be brief"), Message.user("one two")]
    first = llm.chat(history).usage
    second = llm.chat([*history, Message.assistant("ok"), Message.user("three")]).usage
    assert (first.prompt_tokens, first.cached_prompt_tokens, first.completion_tokens) == (
        6,
        0,
        1,
    )  # "system: be brief user: one two"
    assert second.cached_prompt_tokens == first.prompt_tokens
    assert llm.last_usage == second


def test_best_of_majority_ignores_case_and_spacing() -> None:
    llm = ScriptedLLM(["Paris", "Lyon", " paris "])
    result = best_of(llm, HI, 3)
    assert result.text == "Paris"
    assert result.candidates == ["Paris", "Lyon", " paris "]
    seeds = [c.options.seed for c in llm.calls]
    assert len(set(seeds)) == 3
    assert all(c.options.temperature == BEST_OF_DEFAULT_TEMPERATURE for c in llm.calls)


def test_best_of_with_a_scorer() -> None:
    llm = ScriptedLLM(["short", "the longest answer", "mid one"])
    assert best_of(llm, HI, 3, scorer=len).text == "the longest answer"
    with pytest.raises(UsageError, match="n >= 1"):
        best_of(llm, HI, 0)


def test_state_files_are_checked_per_backend(tmp_path: Path) -> None:
    llm = ScriptedLLM()
    llm.save_state(tmp_path / "s.kv")
    llm.load_state(tmp_path / "s.kv")
    write_state_file(tmp_path / "h.kv", {"backend": "llama.cpp", "payload_bytes": 0}, b"")
    with pytest.raises(StateFileError, match=r"'llama\.cpp' backend"):
        llm.load_state(tmp_path / "h.kv")
    (tmp_path / "junk.kv").write_text("hello")
    with pytest.raises(StateFileError, match="not a heron LLM state file"):
        llm.load_state(tmp_path / "junk.kv")


def test_closed_fake_refuses_calls() -> None:
    with ScriptedLLM(["x"]) as llm:
        pass
    with pytest.raises(UsageError, match="closed"):
        llm.chat(HI)


def test_open_llm_uses_http_when_a_base_url_is_set() -> None:
    llm = open_llm(load_settings(llm_base_url="http://127.0.0.1:9/v1", llm_model_name="m"))
    assert isinstance(llm, HTTPLLM) and llm.base_url == "http://127.0.0.1:9/v1"
    assert HTTPLLM("http://host:8080").base_url == "http://host:8080/v1"
    with pytest.raises(ModelError, match="cannot reach the LLM server"):
        llm.chat(HI)


@pytest.mark.parametrize(
    ("pieces", "stop", "expected"),
    [
        ([b"Hello", b" wor", b"ld"], (), "Hello world"),
        ([b"ab", b"<|", b"end|>", b"zz"], ("<|end|>",), "ab"),
        ([b"a<", b"b"], ("<|",), "a<b"),
        ([b"caf", b"\xc3", b"\xa9!"], (), "café!"),
    ],
)
def test_stop_text_stream(pieces: list[bytes], stop: tuple[str, ...], expected: str) -> None:
    stream = StopTextStream(stop)
    out = "".join(stream.push(p) for p in pieces) + stream.finish()
    assert out == expected
