"""The DRY repetition penalty's arithmetic on synthetic tokens and logits (no model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import ValidationError

from heron.llm import HTTPLLM, GenerationOptions, Message
from heron.llm.logit_bias import biased_logits
from heron.llm.repetition import MAX_PENALTY, RepetitionPenalty, breaker_tokens
from heron.llm.types import RepetitionControl

# a toy vocabulary: one token per text
VOCAB = [*"abcy", "\n", '{"', "k", '": "', " cd", " ef", " gh", '"}', "[", "1", ", ", "2", "]", "z"]
VOCAB += ['", "', "j", "\\n"]  # the last: JSON's escaped line break, as a token's text
ID = {text: i for i, text in enumerate(VOCAB)}
CONTROL = RepetitionControl()  # multiplier 0.8, base 1.75, allowed_length 2


def penalty(
    tokens: list[str],
    control: RepetitionControl = CONTROL,
    structured: bool = False,
    prompt: tuple[str, ...] = (),
) -> dict[str, float]:
    """What each token would lose after ``tokens`` were written (after ``prompt``)."""
    breakers = breaker_tokens(VOCAB, control.sequence_breakers)
    dry = RepetitionPenalty(control, breakers, 4, [ID[t] for t in prompt], structured)
    for text in tokens:
        dry.feed(ID[text], text)
    ids, amounts = dry.adjustment()
    return {VOCAB[i]: -float(a) for i, a in zip(ids, amounts, strict=True)}


def test_the_token_that_continues_a_repeat_loses_more_the_longer_the_repeat() -> None:
    # llama.cpp's example: after "a b c c b c y a b c", "c" would make "a b c" + "c" a repeat of 4
    # (3 tokens matched), "y" would extend "b c" (2): "b" follows a single "c" only (1 < allowed 2)
    got = penalty(list("abccbcyabc"))
    assert got.keys() == {"c", "y"}
    assert got["y"] == pytest.approx(0.8)
    assert got["c"] == pytest.approx(0.8 * 1.75)


def test_text_that_repeats_nothing_is_not_penalised() -> None:
    assert penalty(list("abcy")) == {}
    assert penalty(["a", "b", "c", "a"]) == {}  # one token repeated: under allowed_length


def test_allowed_length_sets_where_the_penalty_starts() -> None:
    assert penalty(list("abcab"), RepetitionControl(allowed_length=3)) == {}
    assert penalty(list("abcabc"), RepetitionControl(allowed_length=3)) == {"a": pytest.approx(0.8)}


def test_a_sequence_breaker_resets_the_repeat() -> None:
    repeat = ["a", "z", "b", "c", "a", "z", "b"]  # "a z b" repeats: "c" would continue it
    assert penalty(repeat)["c"] == pytest.approx(0.8 * 1.75)
    with_breaker = ["a", "\n", "b", "c", "a", "\n", "b"]  # the repeat since the breaker is "b" alone
    assert penalty(with_breaker) == {}


def test_a_breaker_token_itself_is_never_penalised() -> None:
    assert penalty(["a", "b", "\n", "a", "b"]) == {}  # "\n" continues "a b" but stays free


def test_the_penalty_is_capped_and_finite() -> None:
    got = penalty(list("ab" * 200))
    assert 0 < max(got.values()) <= MAX_PENALTY and all(math.isfinite(v) for v in got.values())


def test_biased_logits_penalise_the_repeat_inside_the_block_and_restore_exactly_after() -> None:
    breakers = breaker_tokens(VOCAB, CONTROL.sequence_breakers)
    dry = RepetitionPenalty(CONTROL, breakers, capacity=64)
    for text in ["a", "b", "c", "y", "a", "b", "c"]:  # "y" would continue a repeat of 3
        dry.feed(ID[text], text)
    rng = np.random.default_rng(0)
    logits = rng.normal(size=len(VOCAB)).astype(np.float32)
    logits[ID["y"]], logits[ID["z"]] = 5.0, 4.5  # the model prefers to repeat; "z" is close behind
    before = logits.copy()
    with biased_logits(lambda: logits, [dry]):
        assert logits[ID["y"]] == pytest.approx(5.0 - 0.8 * 1.75)
        assert int(np.argmax(logits)) == ID["z"]
        changed = np.flatnonzero(logits != before)
        assert [VOCAB[i] for i in changed] == ["y"]
    assert np.array_equal(logits, before)


def test_under_a_grammar_only_string_values_are_penalised() -> None:
    numbers = ["[", "1", ", ", "2", ", ", "1", ", ", "2"]  # a list may repeat its values
    assert penalty(numbers, structured=True) == {}
    assert penalty(numbers, RepetitionControl(strings_only=False), structured=True)[", "] > 0
    assert penalty(numbers) != {}  # plain text: penalised throughout
    answer = ['{"', "k", '": "', " cd", " ef", " gh", " cd", " ef"]
    got = penalty(answer, structured=True)
    assert got == {" gh": pytest.approx(0.8)}  # and never the closing quote '"}'


def test_values_of_free_keys_may_repeat_up_to_their_own_length_and_still_count_as_earlier_text() -> None:
    answer = ['{"', "k", '": "', " cd", " ef", " gh", " cd", " ef"]
    assert penalty(answer, RepetitionControl(free_keys=("k",)), structured=True) == {}
    assert penalty(answer, RepetitionControl(free_keys=("other",)), structured=True) != {}
    assert penalty(answer, RepetitionControl(free_keys=("k",), strings_only=False), structured=True) == {}
    # plain text has no keys: the control acts throughout
    assert penalty(["a", "b", "c", "a", "b"], RepetitionControl(free_keys=("k",))) != {}


def test_a_free_keys_value_that_repeats_free_loop_tokens_of_itself_is_looping() -> None:
    """Code may repeat itself a while (a copy) unpenalised; a verbatim repeat of ``free_loop_tokens``
    within one value is a loop, which the decode then ends as cut."""

    def state(tokens: list[str], control: RepetitionControl) -> RepetitionPenalty:
        dry = RepetitionPenalty(control, breaker_tokens(VOCAB, control.sequence_breakers), 4, (), True)
        for text in tokens:
            dry.feed(ID[text], text)
        return dry

    start = ['{"', "k", '": "']
    control = RepetitionControl(free_keys=("k",), free_loop_tokens=10)
    assert not state(start + [" cd", " ef", " gh"] * 4, control).looping  # repeats 9 tokens of itself
    looped = state(start + [" cd", " ef", " gh"] * 4 + [" cd"], control)
    assert looped.looping and looped.adjustment()[0].size == 0  # never penalised, only found looping
    off = control.model_copy(update={"free_loop_tokens": None})
    assert not state(start + [" cd", " ef", " gh"] * 5, off).looping
    other = RepetitionControl(free_keys=("other",), free_loop_tokens=10)  # not a free value: DRY's
    assert not state(start + [" cd", " ef", " gh"] * 5, other).looping
    breaks = [" cd", " ef", " gh", "\n"] * 5  # each line repeats the last: within a line, 3 tokens
    assert not state(start + breaks, control).looping
    lines = [" cd", " ef", " gh", " cd", " ef", "\\n"] * 4  # a file's line, escaped, four times
    assert not state(start + lines, control).looping  # each line is its own: a copy, not a loop
    one_line = lines + [" cd", " ef", " gh"] * 4 + [" cd"]  # then a line that loops on itself
    assert state(start + one_line, control).looping
    assert RepetitionControl().free_loop_tokens == 64


def test_each_string_value_is_compared_with_itself_only() -> None:
    # an answer may restate the thought before it; a loop within one value is still penalised
    restated = ['{"', "k", '": "', " cd", " ef", " gh", '", "', "j", '": "', " cd", " ef"]
    assert penalty(restated, structured=True) == {}
    across = penalty(restated, RepetitionControl(per_value=False), structured=True)
    assert across == {" gh": pytest.approx(0.8)}
    looping = ['{"', "k", '": "', " gh", '", "', "j", '": "', " cd", " ef", " gh", " cd", " ef"]
    assert penalty(looping, structured=True) == {" gh": pytest.approx(0.8)}


def test_text_outside_the_json_is_penalised_as_text() -> None:
    # a native tool format's plain-text answer runs under a grammar too: it is text, not structure
    assert penalty(["a", "b", "c", "a", "b"], structured=True) == {"c": pytest.approx(0.8)}


def test_the_prompt_tail_counts_only_when_asked() -> None:
    prompt = ("y", "a", "b", "c")
    assert penalty(["a", "b"], prompt=prompt) == {}
    assert penalty(["a", "b"], RepetitionControl(prompt_tokens=3), prompt=prompt) == {"c": pytest.approx(0.8)}
    assert penalty(["a", "b"], RepetitionControl(prompt_tokens=2), prompt=prompt) == {}


def test_more_tokens_than_the_capacity_still_count() -> None:
    assert penalty(list("abcyabc") * 3)  # capacity 4: the arrays grow


def test_controls_are_validated() -> None:
    with pytest.raises(ValidationError):
        RepetitionControl(multiplier=0)
    with pytest.raises(ValidationError):
        RepetitionControl(base=0.5)
    assert GenerationOptions().repetition is None  # off unless asked


def test_http_sends_llama_server_dry_fields() -> None:
    llm = HTTPLLM("http://127.0.0.1:9", model="m")
    options = GenerationOptions(max_tokens=100, repetition=RepetitionControl(prompt_tokens=20))
    body = llm._body([Message.user("hi")], options)
    assert body["dry_multiplier"] == 0.8 and body["dry_base"] == 1.75
    assert body["dry_allowed_length"] == 2 and body["dry_penalty_last_n"] == 120
    assert body["dry_sequence_breakers"] == ["\n", ":", '"', "*"]
    assert "dry_multiplier" not in llm._body([Message.user("hi")], GenerationOptions())


def test_the_json_cursor_tells_string_values_from_keys() -> None:
    from heron.llm.json_cursor import JsonCursor

    cursor = JsonCursor()
    seen = []
    for char in '{"a": "x\\"y", "b": [1, "z"], "c": {"d": "w"}}':
        cursor.feed(char)
        seen.append((char, cursor.in_string_value))
    inside = "".join(c for c, value in seen if value)
    # the characters after which the cursor is inside a string value: each value's opening quote
    # and content (its closing quote ends it); keys, numbers and punctuation never
    assert inside == '"x\\"y"z"w'


def test_the_json_cursor_names_the_key_of_each_string_value() -> None:
    from heron.llm.json_cursor import JsonCursor

    cursor = JsonCursor()
    keys = []
    text = 'text "q" {"name": "w", "arguments": {"path": "a", "content": "x\\"y", "l": ["z"]}} after'
    for char in text:
        cursor.feed(char)
        keys.append((char, cursor.in_string_value, cursor.in_text, cursor.value_key))
    assert {k for _, value, _, k in keys if value} == {None, "name", "path", "content", "l"}
    assert "".join(c for c, value, _, k in keys if value and k == "content") == '"x\\"y'
    # text around the JSON is text (read: the characters after which the next one is text, not in a
    # string value); inside the objects only string values are
    assert "".join(c for c, value, text_, _ in keys if text_ and not value) == 'text " } after'
