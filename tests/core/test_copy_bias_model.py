"""Copy bias with the real bundled model through llama.cpp: values copied from the sources."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from heron.config import load_settings
from heron.llm import CopyBias, GenerationOptions, LocalLLM, Message

pytestmark = pytest.mark.model

SCHEMA = {
    "type": "object",
    "properties": {
        "arguments": {
            "type": "object",
            "properties": {
                "destination": {"type": "string", "maxLength": 40},
                "price": {"type": "integer"},
            },
            "required": ["destination", "price"],
        }
    },
    "required": ["arguments"],
}
REQUEST = "Book a taxi to Shelbyville Central Station for at most $1,250 please."


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=1024)) as model:
        yield model


def _decode(llm: LocalLLM, bias: CopyBias | None) -> dict:
    messages = [Message.system("Reply with the tool's arguments as JSON."), Message.user(REQUEST)]
    options = GenerationOptions(max_tokens=96, copy_bias=bias)
    return llm.structured_json(messages, SCHEMA, options)["arguments"]


def test_a_strong_bias_copies_a_span_and_the_stated_number(llm: LocalLLM) -> None:
    arguments = _decode(llm, CopyBias(sources=(REQUEST,), strength=30.0, under_key="arguments"))
    destination = arguments["destination"]
    # a non-empty span of the request that starts and ends on word boundaries
    assert destination and re.search(rf"(?<!\w){re.escape(destination)}(?!\w)", REQUEST, re.I)
    assert arguments["price"] == 1250  # "$1,250" written as a JSON number


def test_the_bias_changes_nothing_outside_its_key(llm: LocalLLM) -> None:
    plain = _decode(llm, None)
    elsewhere = _decode(llm, CopyBias(sources=(REQUEST,), strength=30.0, under_key="not_there"))
    assert elsewhere == plain
