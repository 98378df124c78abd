"""Copy bias: the JSON cursor, the numbers a text states, and which tokens are favoured when."""

from __future__ import annotations

import pytest

from heron.llm.copy_bias import CopyBiaser, CopyCursor, CopyIndex, source_numbers, source_percentages
from heron.llm.types import CopyBias

# a toy vocabulary: a token per entry, as a model's pieces
PIECES = [
    "{", '{"', "}", "}}", "[", "]", ",", ":", '":', " ", ' "', '"', '",', '"}',
    '"Wash', ' "Paris', "action", "arguments", "city", "Wash", "ington", "Washington", " state",
    " State", "Sp",
    "0", "1", "2", "3", "4", "5", ".", "-", " -", "Paris", "xyz",
]  # fmt: skip
INDEX = CopyIndex([p.encode() for p in PIECES])


def favoured(biaser: CopyBiaser) -> set[str]:
    return {PIECES[i] for i in biaser.bonus()[0]}


def disfavoured(biaser: CopyBiaser) -> set[str]:
    return {PIECES[i] for i in biaser.bonus()[1]}


def fed(
    text: str,
    sources: tuple[str, ...] = ("Find rides in Washington state",),
    fraction_keys: frozenset[str] = frozenset(),
) -> CopyBiaser:
    bias = CopyBias(sources=sources, under_key="arguments", fraction_keys=fraction_keys)
    biaser = CopyBiaser(bias, INDEX)
    biaser.feed(text)
    return biaser


@pytest.mark.parametrize(
    ("text", "numbers"),
    [
        ("a villa within $300,000 to $400,000", ["300000", "400000"]),
        ("revenues of $1M in 2019 and $1.2M in 2020", ["1000000", "2019", "1200000", "2020"]),
        ("100 million shares, 50 million USD", ["100000000", "50000000"]),
        ("dropped from 100 m", ["100"]),  # metres, not millions
        ("charges of 1e-9 and 2.5E+3", ["1e-9", "2.5E+3"]),
        ("coordinates [43.653225, -79.383186]", ["43.653225", "-79.383186"]),
        ("the three great schisms", ["3"]),
        ("version 1.2.3 of v2", []),
        ("it costs 5.", ["5"]),  # part of a dotted version or a word: not a stated quantity
    ],
)
def test_source_numbers(text: str, numbers: list[str]) -> None:
    assert source_numbers(text) == numbers


def test_cursor_tells_keys_from_values_and_tracks_nesting() -> None:
    cursor = CopyCursor()
    cursor.feed('{"action": "f", "arguments": {"city": "Par')
    assert cursor.in_string and not cursor.string_is_key and cursor.buffer == "Par"
    assert [f.key for f in cursor.frames] == ["arguments", "city"]
    cursor.feed('is", "n": [1')
    assert cursor.in_number and cursor.buffer == "1"
    cursor.feed(", ")
    assert cursor.at_value_start()  # the next array item
    cursor.feed('2], "')
    assert cursor.in_string and cursor.string_is_key


def test_cursor_reads_escapes_inside_strings() -> None:
    cursor = CopyCursor()
    cursor.feed('{"arguments": {"q": "say \\"hi\\", then')
    assert cursor.in_string and cursor.buffer == 'say "hi", then'


def test_string_value_start_favours_the_sources_words() -> None:
    got = favoured(fed('{"action": "f", "arguments": {"city": "'))
    assert {"Washington", "Wash"} <= got
    assert "xyz" not in got and '"' not in got  # nothing to close yet


def test_inside_a_span_its_continuation_and_the_close_on_a_word_boundary_are_favoured() -> None:
    assert favoured(fed('{"arguments": {"city": "Wash')) == {"ington"}  # mid-word: no close
    got = favoured(fed('{"arguments": {"city": "Washington'))
    assert {" state", " State", '"', '",', '"}'} <= got
    assert "Paris" not in got


def test_a_value_that_left_the_sources_gets_no_bias() -> None:
    assert favoured(fed('{"arguments": {"city": "Springf')) == set()


def test_keys_and_values_outside_the_scope_get_no_bias() -> None:
    assert favoured(fed('{"arguments": {"ci')) == set()  # a key: the grammar's business
    assert favoured(fed('{"action": "Wash')) == set()  # not under "arguments"
    assert favoured(fed('{"answer": "Wash')) == set()


def test_the_first_token_of_a_value_may_open_the_string_with_a_word_of_the_sources() -> None:
    got = favoured(fed('{"arguments": {"city": ', ("Find rides in Washington state",)))
    assert {'"Wash', '"', ' "'} <= got
    assert ' "Paris' not in got and "xyz" not in got


def test_numbers_favour_the_sources_digits_and_end_only_when_complete() -> None:
    sources = ("a property costing $200,000 at 3% over 2.5 years",)
    assert favoured(fed('{"arguments": {"cost": ', sources)) >= {"2", "3"}
    assert favoured(fed('{"arguments": {"cost": 200', sources)) == {"0"}  # 200 is not 200000
    got = favoured(fed('{"arguments": {"cost": 200000', sources))
    assert {",", "}", "}}", "]"} <= got and "0" not in got
    assert favoured(fed('{"arguments": {"years": 2.', sources)) == {"5"}
    assert favoured(fed('{"arguments": {"rate": 3', sources)) >= {",", "}"}  # 3 is complete


def test_leaving_a_stated_number_two_characters_in_is_disfavoured() -> None:
    sources = ("100 million shares in the 18th century",)
    end = {",", "}", "}}", "]"}
    # 10000000 is one zero short of 100 million: ending here, or another digit, is disfavoured
    short = fed('{"arguments": {"shares": 10000000', sources)
    assert favoured(short) == {"0"}
    assert (
        end <= disfavoured(short) and {"1", "5", "."} <= disfavoured(short) and "0" not in disfavoured(short)
    )
    # 18 is complete: going on to 1874 is disfavoured, ending is favoured
    complete = fed('{"arguments": {"century": 18', sources)
    assert end <= favoured(complete) and {"0", "4", "."} <= disfavoured(complete)
    assert not end & disfavoured(complete)
    # one character in is too early to tell (a month "1" in a request that states 18)
    assert not disfavoured(fed('{"arguments": {"month": 1', sources))
    # a number that left every stated one gets nothing either way
    assert not disfavoured(fed('{"arguments": {"n": 42', sources)) and not favoured(
        fed('{"arguments": {"n": 42', sources)
    )


def test_a_member_heading_for_a_number_another_member_has_is_disfavoured() -> None:
    sources = ("$10000 at 5% for 10 years",)
    # "time" after "principal": 10000; 10 is still offered, 10000 is not
    written = fed('{"arguments": {"principal": 10000, "time": 10', sources)
    assert {",", "}"} <= favoured(written) and "0" in disfavoured(written)
    assert "0" not in favoured(written)
    # stated twice, a number may be used twice ("10 by 10"); list items may repeat one
    assert "0" in favoured(fed('{"arguments": {"w": 10000, "h": 1000', ("10000 by 10000",)))
    assert "0" in favoured(fed('{"arguments": {"w": 10000, "l": [1000', sources))


@pytest.mark.parametrize(
    ("text", "fractions"),
    [
        ("an annual rate of 5% over 10 years", {"5": "0.05"}),
        ("3.5 percent, then 40 per cent and 150%", {"3.5": "0.035", "40": "0.4", "150": "1.5"}),
        ("100 shares", {}),
    ],
)
def test_source_percentages(text: str, fractions: dict[str, str]) -> None:
    assert source_percentages(text) == fractions


def test_an_argument_taking_a_fraction_is_offered_percentages_as_fractions() -> None:
    sources = ("$1000 at 5% for 10 years",)
    rate = fed('{"arguments": {"rate": ', sources, frozenset({"rate"}))
    assert {"0", "1"} <= favoured(rate)  # 0.05, and the other numbers as they are
    assert "5" in disfavoured(rate) and "5" not in favoured(rate)
    assert favoured(fed('{"arguments": {"rate": 0.0', sources, frozenset({"rate"}))) == {"5"}
    # through a list of them, too
    assert "5" in disfavoured(fed('{"arguments": {"rate": [', sources, frozenset({"rate"})))
    # any other argument takes the percentage as stated
    years = fed('{"arguments": {"years": ', sources, frozenset({"rate"}))
    assert "5" in favoured(years) and "5" not in disfavoured(years)


def test_a_member_with_its_own_sources_copies_from_them_and_not_from_the_rest() -> None:
    sources = ("Sp offers in Washington state",)
    bias = CopyBias(sources=sources, under_key="arguments", key_sources={"city": ("Washington",)})
    city = CopyBiaser(bias, INDEX)
    city.feed('{"arguments": {"city": "')
    assert {"Wash", "Washington"} <= favoured(city)
    assert "Sp" in disfavoured(city) and "Sp" not in favoured(city)  # a span, but not a place
    other = CopyBiaser(bias, INDEX)
    other.feed('{"arguments": {"offer": "')
    assert {"Sp", "Wash"} <= favoured(other) and not disfavoured(other)


def test_negative_numbers_are_offered_with_their_sign() -> None:
    got = favoured(fed('{"arguments": {"lon": ', ("at [43.6, -79.3]",)))
    assert {"-", " -", "4"} <= got


def test_the_latest_tool_result_is_a_source_too() -> None:
    biaser = fed('{"arguments": {"city": "', ("Where is it?", "Result: Paris"))
    assert "Paris" in favoured(biaser)


def test_a_member_heading_for_another_members_value_is_disfavoured() -> None:
    sources = ("Rides from Paris to Washington state",)
    biaser = fed('{"arguments": {"from": "Paris", "to": "', sources)
    assert "Paris" in disfavoured(biaser) and "Paris" not in favoured(biaser)
    assert "Washington" in favoured(biaser)
    # written out anyway: closing it is disfavoured too
    biaser = fed('{"arguments": {"from": "Paris", "to": "Paris', sources)
    assert {'"', '",'} <= disfavoured(biaser) and '"' not in favoured(biaser)


def test_list_items_may_repeat_other_members_values() -> None:
    biaser = fed('{"arguments": {"from": "Paris", "stops": ["', ("Rides from Paris to Washington state",))
    assert "Paris" in favoured(biaser) and not disfavoured(biaser)
