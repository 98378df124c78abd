"""Prompt-lookup speculation (heron.llm.lookup_draft): what the guesser proposes, and, with the real
bundled 135M model, that a reply copying its prompt comes out the same in fewer forward passes, for
plain text, structured output, logprobs and sampling at a temperature."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message
from heron.llm.lookup_draft import FIRST_GUESS, LookupDraft


def _draft(prompt: list[int], written: list[int], limit: int = 8) -> LookupDraft:
    draft = LookupDraft(prompt, limit)
    for token in written:
        draft.push(token)
    return draft


def test_the_guess_follows_the_latest_earlier_occurrence_of_the_longest_suffix() -> None:
    # 1 2 occurs twice before; the latest occurrence is followed by 7 8
    draft = _draft([1, 2, 3, 4, 1, 2, 7, 8, 9], [5, 1, 2])
    assert draft.guess(room=8) == [7, 8]  # the first guess holds FIRST_GUESS tokens
    assert FIRST_GUESS == 2
    # the longest matching suffix wins over a later, shorter one: 4 1 2 occurred before 30 31
    draft = _draft([4, 1, 2, 30, 31, 0, 1, 2, 40, 41], [4, 1, 2])
    assert draft.guess(room=8) == [30, 31]


def test_no_guess_without_a_match_of_two_tokens_or_without_room() -> None:
    assert _draft([1, 2, 3], [9, 1]).guess(room=8) == []  # only "1" matches: one token predicts too little
    assert _draft([1, 2, 3, 4], [1, 2]).guess(room=0) == []
    assert _draft([1, 2, 3, 4], [1, 2]).guess(room=1) == [3]


def test_guesses_grow_while_kept_whole_and_shrink_when_cut_short() -> None:
    draft = _draft([*range(100), 0, 1], [], limit=8)
    assert len(draft.guess(room=100)) == 2
    draft.settle(guessed=2, kept=2)
    assert draft.length == 4
    draft.settle(guessed=4, kept=4)
    draft.settle(guessed=8, kept=8)
    assert draft.length == 8  # never past the caller's limit
    draft.settle(guessed=8, kept=2)
    assert draft.length == 3  # one more than were kept
    draft.settle(guessed=3, kept=0)
    assert draft.length == 1


def test_the_guess_never_reaches_past_what_was_written() -> None:
    draft = _draft([7, 8, 7, 8], [7, 8], limit=8)
    draft.settle(guessed=4, kept=4)  # length 8
    guess = draft.guess(room=8)
    # 7 8 last occurred at positions 2-3, followed by 7 8 (the current end), and nothing after
    assert guess == [7, 8]


# --- the real model ------------------------------------------------------------------------------

PASSAGE = (
    "The grey heron (Ardea cinerea) is a long-legged wading bird of the heron family, native "
    "throughout temperate Europe and Asia and also parts of Africa."
)
COPY = [Message.user(f"Repeat this sentence exactly, word for word: {PASSAGE}")]


class Passes:
    """Counts the model's forward passes after the prompt while the block runs."""

    NAMES = ("decode_one", "decode", "decode_rows")

    def __init__(self, llm: LocalLLM) -> None:
        self.count = 0
        self._session = llm._session

    def __enter__(self) -> Passes:
        for name in self.NAMES:
            original = getattr(self._session, name)

            def call(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
                self.count += 1
                return _original(*args, **kwargs)

            setattr(self._session, name, call)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.NAMES:
            delattr(self._session, name)  # the class's method again


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    with LocalLLM.from_settings(load_settings(context_size=2048)) as model:
        yield model


def _chat(llm: LocalLLM, messages: list[Message], **options: Any) -> tuple[str, int]:
    """(the reply, the forward passes after the prompt), the prompt already in the cache."""
    llm.chat(messages, GenerationOptions(max_tokens=1, draft_tokens=0))  # the same cache state each time
    with Passes(llm) as passes:
        text = llm.chat(messages, GenerationOptions(max_tokens=80, **options)).text
    return text, passes.count


def _probability_at(llm: LocalLLM, ask: list[Message], schema: type[BaseModel], before: str) -> float:
    """The probability of the token greedy decoding (logprobs on) writes right after ``before``."""
    llm.structured(ask, schema, GenerationOptions(max_tokens=80, draft_tokens=0, logprobs=True))
    tokens = llm.last_logprobs or []
    written, offset = "".join(t.token for t in tokens), 0
    field = written.index('"sentence"')  # the value's text, after the key
    assert before in written[field:], written
    start = written.index(before, field) + len(before)
    for token in tokens:
        offset += len(token.token)
        if offset > start:
            return math.exp(token.logprob)
    raise AssertionError(f"no token after {before!r}")


@pytest.mark.model
def test_a_copied_sentence_comes_out_the_same_in_fewer_forward_passes(llm: LocalLLM) -> None:
    plain, plain_passes = _chat(llm, COPY, draft_tokens=0)
    guessed, guessed_passes = _chat(llm, COPY, draft_tokens=8)
    usage = llm.last_usage
    assert "long-legged wading bird" in plain  # the model copies: the case lookup is for
    assert guessed == plain
    assert usage.guessed_kept > 0 and usage.guessed_tokens >= usage.guessed_kept
    assert guessed_passes <= plain_passes - usage.guessed_kept + 1
    assert guessed_passes < plain_passes * 0.7


@pytest.mark.model
def test_logprobs_with_guesses_are_each_written_tokens_own(llm: LocalLLM) -> None:
    plain = llm.chat(COPY, GenerationOptions(max_tokens=40, logprobs=True, draft_tokens=0))
    guessed = llm.chat(COPY, GenerationOptions(max_tokens=40, logprobs=True, draft_tokens=8))
    assert llm.last_usage.guessed_kept > 0
    assert guessed.text == plain.text
    assert guessed.logprobs is not None and plain.logprobs is not None
    assert len(guessed.logprobs) == llm.last_usage.completion_tokens
    assert [t.token for t in guessed.logprobs] == [t.token for t in plain.logprobs]
    # read from the guessed batch's rows: the same values up to batched floating-point sums (a row
    # off by one would give another token's logprob, typically several nats away)
    gaps = [abs(a.logprob - b.logprob) for a, b in zip(guessed.logprobs, plain.logprobs, strict=True)]
    assert max(gaps) < 0.1, gaps


@pytest.mark.model
def test_structured_output_copying_the_prompt_is_the_same_with_guesses(llm: LocalLLM) -> None:
    class Quote(BaseModel):
        sentence: str

    ask = [Message.user(f"Put this sentence in the JSON field 'sentence', unchanged: {PASSAGE}")]
    plain = llm.structured(ask, Quote, GenerationOptions(max_tokens=80, draft_tokens=0))
    guessed = llm.structured(ask, Quote, GenerationOptions(max_tokens=80, draft_tokens=8))
    assert llm.last_usage.guessed_kept > 0
    assert "long-legged wading bird" in guessed.sentence
    if guessed != plain:
        # a batch's logits differ from one token's in the last bits (llama.cpp's kernels sum in
        # another order): they may only part where the model itself was split between two tokens
        pairs = zip(plain.sentence, guessed.sentence, strict=False)
        parted = next((i for i, (a, b) in enumerate(pairs) if a != b), len(plain.sentence))
        assert _probability_at(llm, ask, Quote, plain.sentence[:parted]) < 0.5


@pytest.mark.model
def test_sampling_at_a_temperature_draws_the_same_reply_with_guesses(llm: LocalLLM) -> None:
    # each position is still sampled from its own logits with the same random stream: guesses only
    # save passes, they do not change the draw
    options = {"temperature": 0.7, "seed": 11, "max_tokens": 60}
    plain = llm.chat(COPY, GenerationOptions(draft_tokens=0, **options)).text
    guessed = llm.chat(COPY, GenerationOptions(draft_tokens=8, **options)).text
    assert guessed == plain


@pytest.mark.model
def test_a_guess_cut_short_by_the_token_limit_leaves_the_cache_consistent(llm: LocalLLM) -> None:
    short = llm.chat(COPY, GenerationOptions(max_tokens=12, draft_tokens=8))
    assert short.finish_reason == "length" and llm.last_usage.completion_tokens == 12
    # the next call reuses the cache: it must hold only tokens that were really written
    session = llm._session
    whole = llm.chat(COPY, GenerationOptions(max_tokens=40, draft_tokens=0)).text
    assert whole.startswith(short.text)
    assert len(session.tokens) <= len(llm._prompt_tokens(COPY)) + 40
