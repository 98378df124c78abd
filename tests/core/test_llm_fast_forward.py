"""Fast-forward under a grammar, with the real bundled model: forced text is evaluated in batches,
the output stays valid, and heron's JSON grammar has one layout (json.dumps's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from heron.agents.actions import ActionSpec, action_schema
from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.schema import grammar_for

pytestmark = pytest.mark.model

CALL = action_schema(
    [
        ActionSpec(
            "convert_currency",
            "convert an amount of money",
            {
                "type": "object",
                "properties": {
                    "amount": {"type": "number"},
                    "source": {"type": "string", "maxLength": 5},
                    "target": {"type": "string", "maxLength": 5},
                },
                "required": ["amount", "source", "target"],
            },
        )
    ],
    final="final_answer",
    answer_chars=80,
)
ASK = [Message.user("Convert 250 euros to US dollars.")]


class Decodes:
    """Counts the model's forward passes: one per sampled token, one per batch of forced tokens."""

    def __init__(self, llm: LocalLLM) -> None:
        self.single = self.batches = 0
        session = llm._session
        decode_one, decode = session.decode_one, session.decode

        def one(token: int) -> None:
            self.single += 1
            decode_one(token)

        def batch(tokens: Any, *args: Any, **kwargs: Any) -> Any:
            self.batches += 1
            return decode(tokens, *args, **kwargs)

        session.decode_one, session.decode = one, batch  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=1024)) as model:
        yield model


def _structured(llm: LocalLLM, schema: Any, fast_forward: bool) -> tuple[Any, int, Decodes]:
    """(the value, the generated tokens, the forward passes) of one structured call."""
    counts = Decodes(llm)
    options = GenerationOptions(max_tokens=96, fast_forward=fast_forward, draft_tokens=0)  # (no guesses)
    value = llm.structured_json(ASK, schema, options)
    return value, llm.last_usage.completion_tokens, counts


def test_fast_forward_writes_a_valid_call_with_fewer_forward_passes(llm: LocalLLM) -> None:
    slow, slow_tokens, slow_passes = _structured(llm, CALL, fast_forward=False)
    fast, _, fast_passes = _structured(llm, CALL, fast_forward=True)
    # the same decision; the values may differ: forced text is split as the tokenizer splits it,
    # which is not always the split the model took token by token
    assert fast["action"] == slow["action"] == "convert_currency"
    assert set(fast["arguments"]) == {"amount", "source", "target"}
    assert fast["arguments"]["amount"] == slow["arguments"]["amount"] == 250
    # without fast-forward every generated token but the last costs one pass
    assert slow_passes.single >= slow_tokens - 1
    # with it, the braces, key names and the rest of the tool name went in batches
    assert fast_passes.single + fast_passes.batches - slow_passes.batches < slow_passes.single * 0.75


def test_a_schema_that_admits_one_text_is_written_without_sampling(llm: LocalLLM) -> None:
    class Fixed(BaseModel):
        kind: Literal["greeting"]
        language: Literal["en"]

    counts = Decodes(llm)
    value = llm.structured(ASK, Fixed, GenerationOptions(max_tokens=40))
    assert value == Fixed(kind="greeting", language="en")
    assert counts.single == 0  # nothing was left for the model to choose


def test_forced_text_respects_max_tokens(llm: LocalLLM) -> None:
    from heron.errors import ModelError

    class Fixed(BaseModel):
        sentence: Literal["this constant sentence is far longer than the four tokens allowed here"]

    with pytest.raises(ModelError, match="cut off after max_tokens=4"):
        llm.structured(ASK, Fixed, GenerationOptions(max_tokens=4))
    assert llm.last_usage.completion_tokens == 4


def test_logprobs_turn_fast_forward_off(llm: LocalLLM) -> None:
    counts = Decodes(llm)
    grammar_call = llm._constrained_text  # structured calls never ask logprobs; drive the loop directly
    options = GenerationOptions(max_tokens=96, logprobs=True, draft_tokens=0)  # (no guesses)
    text, _ = grammar_call(ASK, CALL, options)
    completion_tokens = llm.last_usage.completion_tokens
    assert counts.single >= completion_tokens - 1
    assert json.loads(text)["action"] in {"convert_currency", "final_answer"}


def test_the_grammar_writes_json_dumps_layout(llm: LocalLLM) -> None:
    grammar = grammar_for(CALL)
    assert 'space ::= ""' in grammar
    text, _ = llm._constrained_text(ASK, CALL, GenerationOptions(max_tokens=96))
    assert text == json.dumps(json.loads(text), ensure_ascii=False)


def test_forced_text_leaves_its_last_token_to_the_model(llm: LocalLLM) -> None:
    """Token healing: after `{"a": ` the grammar forces, the model's own tokenization writes ` -3` or
    ` 3` as one token; forcing the lone space made it pick among digits only (BFCL's `b=-3` became 3)."""
    fed: list[list[int]] = []
    session = llm._session
    decode = session.decode

    def batch(tokens: Any, *args: Any, **kwargs: Any) -> Any:
        fed.append(list(tokens))
        return decode(tokens, *args, **kwargs)

    session.decode = batch  # type: ignore[method-assign]
    try:
        schema = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}
        value = llm.structured_json(
            [Message.user("Give a = -3 as JSON.")], schema, GenerationOptions(max_tokens=48)
        )
    finally:
        session.decode = decode  # type: ignore[method-assign]
    space = llm._llama.tokenize(b" ", add_bos=False, special=False)
    forced = [tokens for tokens in fed[1:] if tokens]  # fed[0] is the prompt
    assert forced, "the braces and the key were not forced"
    assert all(tokens[-1:] != space for tokens in forced)
    assert isinstance(value["a"], int)
