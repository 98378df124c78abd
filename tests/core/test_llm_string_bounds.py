"""String bounds longer than a grammar holds: out of the grammar, into the decode loop.

Unit tests of the schema rewrite and of the bias on fed text; a real-model test (the bundled 135M,
kept from closing its string by a caller's bias) that a 1,500-character bound holds and the JSON
still closes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Annotated

import numpy as np
import pytest
from pydantic import BaseModel, Field

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.schema import grammar_for
from heron.llm.string_bounds import (
    GRAMMAR_STRING_CHARS,
    StringBound,
    chars_before_quote,
    for_grammar,
    long_string_bounds,
)

TEXTS = ["a", "b", '"', '"}', '",', "\\", "n", "ab", "", 'a"']  # a toy vocabulary ("": a byte)
ADDS = chars_before_quote(TEXTS)


def _bound(**bounds: int) -> StringBound:
    return StringBound(bounds, ADDS)


def _feed(bias: StringBound, text: str) -> None:
    bias.feed(0, text)


def _blocked(bias: StringBound) -> set[str]:
    ids, amounts = bias.adjustment()
    assert np.all(np.isneginf(amounts))
    return {TEXTS[i] for i in ids}


def test_bounds_past_the_grammars_leave_the_grammar_and_the_others_stay() -> None:
    schema = {
        "type": "object",
        "properties": {
            "text": {"type": "string", "maxLength": 3000},
            "title": {"type": "string", "maxLength": 40},
            "note": {"anyOf": [{"type": "string", "maxLength": 2000}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 1500}},
        },
    }
    out = for_grammar(schema)
    assert "maxLength" not in out["properties"]["text"]
    assert out["properties"]["title"]["maxLength"] == 40
    assert "maxLength" not in out["properties"]["note"]["anyOf"][0]
    assert "maxLength" not in out["properties"]["tags"]["items"]
    assert long_string_bounds(schema) == {"text": 3000, "note": 2000, "tags": 1500}
    assert "maxLength" in schema["properties"]["text"]  # the schema itself is left alone
    assert long_string_bounds({"type": "string", "maxLength": 5000}) == {}  # no key to hold it by


def test_a_model_with_a_long_field_gets_a_grammar_and_keeps_its_short_bounds() -> None:
    class Note(BaseModel):
        title: str = Field(max_length=5)
        body: Annotated[str, Field(max_length=GRAMMAR_STRING_CHARS + 1)]

    grammar = grammar_for(Note)
    assert "char*" in grammar  # body: unbounded in the grammar
    assert "(char (char (char (char (char)?)?)?)?)?" in grammar  # title: five characters at most


def test_tokens_that_would_cross_the_bound_go_and_at_it_only_closing_ones_stay() -> None:
    bias = _bound(text=3)
    _feed(bias, '{"title": "abcdef", "text": "a')
    assert _blocked(bias) == set()  # one character of three; title has no bound
    _feed(bias, "a")
    assert _blocked(bias) == {"ab"}  # one character left: a two-character token would cross it
    _feed(bias, "a")
    assert _blocked(bias) == {"a", "b", "\\", "n", "ab", "", 'a"'}  # only '"', '"}' and '",' stay
    _feed(bias, '", "text": "')
    assert _blocked(bias) == set()  # a new value under the same key starts again


def test_an_escape_sequence_counts_once_and_is_never_cut() -> None:
    bias = _bound(text=3)
    _feed(bias, '{"text": "a\\')
    assert _blocked(bias) == set()  # inside an escape: its second character must come
    _feed(bias, "n")
    assert _blocked(bias) == {"ab"}  # "a" and "\n": two characters, one left
    _feed(bias, "b")
    assert _blocked(bias) == {"a", "b", "\\", "n", "ab", "", 'a"'}


def test_keys_and_text_outside_the_json_are_not_counted() -> None:
    bias = _bound(text=4)
    _feed(bias, 'I will write it now. <tool_call>{"text')
    assert _blocked(bias) == set()  # a key named like the bounded one is not its value
    _feed(bias, '": "x')
    assert _blocked(bias) == set()


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=2048)) as model:
        yield model


class Chant(BaseModel):
    text: Annotated[str, Field(max_length=1500)]


class _NeverClose:
    """A caller's bias that makes closing a string very unlikely (finite: still possible): a model
    that would write on and on."""

    def __init__(self, vocabulary: Sequence[bytes]) -> None:
        self._ids = np.asarray([i for i, piece in enumerate(vocabulary) if piece.startswith(b'"')], np.intc)

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        return self._ids, np.full(len(self._ids), -100.0, dtype=np.float32)

    def feed(self, token: int, text: str) -> None:
        pass


@pytest.mark.model
def test_a_long_bound_holds_on_the_real_model_and_the_json_closes(llm: LocalLLM) -> None:
    messages = [Message.user("Write a long story about a heron.")]
    options = GenerationOptions(max_tokens=1000, temperature=0.0, logit_bias=_NeverClose)
    chant = llm.structured(messages, Chant, options)
    # the model cannot close the string on its own: the bound ended it, exactly there
    assert len(chant.text) == 1500
    raw = llm.structured_json(messages, Chant.model_json_schema(), options)
    assert len(raw["text"]) == 1500  # the same bound through a plain schema
