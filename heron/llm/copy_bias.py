"""Copy bias: while decoding JSON, favour values that copy a span (or a number) of given source texts.

A small model filling tool arguments knows roughly what to copy from the request but drifts: it
repeats a word until the string's length limit, reads "$200,000" as 200, or writes "PS4" for
"PlayStation". Most argument values are spans of the request (names, places, quantities), so at each
step of a JSON string value the tokens that continue a span of a source get ``strength`` added to
their logits, and so does the closing quote where the span ends on a word boundary. Inside a number
the digits of the source's numbers get it ("$1.2M" and "200,000" are offered as 1200000 and 200000),
and so do the tokens that end a number once it equals one of them; two characters into a stated
number, the tokens that leave it lose ``strength`` (10000000 for "100 million", 1874 for "18th").
Members named in ``fraction_keys`` are offered a stated "5%" as 0.05, and 5 loses; members named
in ``key_sources`` copy their strings from those texts only (a "location" from the places named),
and the other spans lose ``strength``. Tokens heading for a value that another member of the same
object already has lose ``strength`` too: a small model tends to copy the previous argument
("court": the docket number it has just written; "time": the principal), unless the sources state
that number twice.

It is a bias, not a constraint: a value the model is sure of ("USD" for "dollars", a date rewritten
as 2022-01-01) still wins, and the grammar still decides what is valid. ``CopyCursor`` tracks where
the decode is in the JSON text; ``CopyIndex`` holds the model's vocabulary, keyed by token text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

import numpy as np

from heron.llm.types import CopyBias

_MAX_POSITIONS = 64  # span starts looked at per step: bounds the work on long tool results
_NUMBER = re.compile(
    r"(?<![\w.])([$€£¥]?)(-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:e[-+]?\d+)?)(?!\.?\d)"
    r"(?:\s*(thousand|million|billion|mn|bn)\b|(k|m|b)\b)?",
    re.IGNORECASE,
)
_SCALE = {"k": 1e3, "thousand": 1e3, "m": 1e6, "mn": 1e6, "million": 1e6, "b": 1e9, "bn": 1e9, "billion": 1e9}
_NUMBER_WORDS = {
    word: str(i)
    for i, word in enumerate(
        ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    )
}
_NUMBER_CHARS = frozenset("-+.0123456789eE")
_PERCENT = re.compile(r"(?<![\w.])(-?\d+(?:\.\d+)?)\s*(?:%|percent\b|per cent\b)", re.IGNORECASE)


def source_numbers(text: str) -> list[str]:
    """The numbers ``text`` states, as JSON number literals: "$1,500" -> 1500, "50 million" and
    "$50M" -> 50000000 (a bare letter scales only money: "100 m" stays 100, it is metres)."""
    return list(dict.fromkeys(_stated_numbers(text)))


def _stated_numbers(text: str) -> list[str]:
    """``source_numbers`` with a number stated twice listed twice."""
    found: list[str] = []
    for match in _NUMBER.finditer(text):
        currency, literal, word, letter = match.groups()
        literal = literal.replace(",", "")
        scale = word or (letter if currency else None)
        found.append(_format(float(literal) * _SCALE[scale.lower()]) if scale else literal)
    for word, digit in _NUMBER_WORDS.items():
        found += [digit] * len(re.findall(rf"\b{word}\b", text, re.I))
    return found


def source_percentages(text: str) -> dict[str, str]:
    """The percentages ``text`` states, each as its number and as a fraction: "5%" -> {"5": "0.05"}."""
    found: dict[str, str] = {}
    for match in _PERCENT.finditer(text):
        literal = match.group(1)
        found[literal] = format(Decimal(literal).scaleb(-2).normalize(), "f")
    return found


def _format(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


class CopyIndex:
    """A model's vocabulary by token text (lower-cased), built once per model."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        by_text: dict[str, list[int]] = {}
        closing: list[int] = []
        ending: list[int] = []
        digits: list[int] = []
        for token_id, piece in enumerate(pieces):
            try:
                text = piece.decode("utf-8")
            except UnicodeDecodeError:
                continue
            if not text:
                continue
            by_text.setdefault(text.lower(), []).append(token_id)
            if text.startswith('"'):
                closing.append(token_id)
            if text.lstrip()[:1] in (",", "}", "]"):
                ending.append(token_id)
            if set(text) <= _NUMBER_CHARS:
                digits.append(token_id)
        self.by_text = by_text
        self.longest = max((len(t) for t in by_text), default=1)
        self.closing_quote = np.array(closing, dtype=np.intc)  # tokens that close a string: ", "} ",
        self.number_end = np.array(ending, dtype=np.intc)  # tokens that end a number: , } ]
        self.number_pieces = np.array(digits, dtype=np.intc)  # tokens that go on with a number

    def prefixes_of(self, text: str) -> Iterable[int]:
        """Ids of the tokens whose text is a non-empty prefix of ``text`` (case-insensitive)."""
        text = text.lower()
        for k in range(1, min(len(text), self.longest) + 1):
            yield from self.by_text.get(text[:k], ())


@dataclass
class _Frame:
    kind: str  # "{" or "["
    key: str | None = None
    expect: str = "value"  # in an object: "key", "colon", "value", "comma"


@dataclass
class CopyCursor:
    """Where the decode is in a JSON text, fed piece by piece; knows the value being written."""

    frames: list[_Frame] = field(default_factory=list)
    in_string: bool = False
    string_is_key: bool = False
    escaped: bool = False
    buffer: str = ""  # the string's content, or the number's text, so far
    in_number: bool = False
    # string values of object members so far, with the root object's key they were under
    member_values: list[tuple[str | None, str]] = field(default_factory=list)
    member_numbers: list[tuple[str | None, str]] = field(default_factory=list)  # and number values

    def feed(self, text: str) -> None:
        for char in text:
            self._step(char)

    def current_key(self) -> str | None:
        """The key of the innermost object member being written (through lists: a list's items)."""
        for frame in reversed(self.frames):
            if frame.kind == "{":
                return frame.key
        return None

    def at_value_start(self) -> bool:
        if not self.frames or self.in_string or self.in_number:
            return False
        top = self.frames[-1]
        return top.expect == "value"

    def _step(self, char: str) -> None:
        if self.in_string:
            if self.escaped:
                self.escaped = False
                self.buffer += char
            elif char == "\\":
                self.escaped = True
            elif char == '"':
                self._end_string()
            else:
                self.buffer += char
            return
        if self.in_number:
            if char in _NUMBER_CHARS:
                self.buffer += char
                return
            self.in_number = False
            if self.frames and self.frames[-1].kind == "{":
                self.member_numbers.append((self.frames[0].key, self.buffer))
            self._value_done()
        top = self.frames[-1] if self.frames else None
        if char == '"':
            self.in_string, self.buffer = True, ""
            self.string_is_key = top is not None and top.kind == "{" and top.expect == "key"
        elif char in "{[":
            self.frames.append(_Frame(char, expect="key" if char == "{" else "value"))
        elif char in "}]":
            if self.frames:
                self.frames.pop()
            self._value_done()
        elif char == ":" and top is not None:
            top.expect = "value"
        elif char == "," and top is not None:
            top.expect = "key" if top.kind == "{" else "value"
        elif char in _NUMBER_CHARS and top is not None and top.expect == "value":
            self.in_number, self.buffer = True, char

    def _end_string(self) -> None:
        self.in_string = False
        top = self.frames[-1] if self.frames else None
        if self.string_is_key and top is not None:
            top.key, top.expect = self.buffer, "colon"
        else:
            if top is not None and top.kind == "{":
                self.member_values.append((self.frames[0].key, self.buffer))
            self._value_done()

    def _value_done(self) -> None:
        if self.frames:
            self.frames[-1].expect = "comma"


class CopyBiaser:
    """Applies a :class:`CopyBias` during one decode: ``bonus`` before each step, ``feed`` after it."""

    def __init__(self, bias: CopyBias, index: CopyIndex) -> None:
        self.bias = bias
        self.index = index
        self.cursor = CopyCursor()
        self._sources = _indexed(bias.sources)
        self._key_sources = {key: _indexed(texts) for key, texts in bias.key_sources.items()}
        stated = [n for s in bias.sources for n in _stated_numbers(s)]
        self._numbers = list(dict.fromkeys(stated))
        self._stated_once = {n for n in self._numbers if stated.count(n) == 1}
        self._percents: dict[str, str] = {}
        for source in bias.sources:
            self._percents.update(source_percentages(source))
        # an argument that takes a fraction is offered "5%" as 0.05, never as 5
        self._fractions = list(
            dict.fromkeys([n for n in self._numbers if n not in self._percents] + [*self._percents.values()])
        )

    def feed(self, text: str) -> None:
        self.cursor.feed(text)

    def bonus(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids of the tokens to favour and to disfavour at this step (both empty outside the values
        the bias covers). Disfavoured: those heading for a value another argument already has (a
        small model copies the previous argument: ``"court": "2022/AL2562"`` after the docket)."""
        cursor = self.cursor
        if not self._in_scope():
            return _NONE, _NONE
        if cursor.in_string and not cursor.string_is_key:
            return self._string_ids(cursor.buffer, member=cursor.frames[-1].kind == "{")
        if cursor.in_number:
            return self._number_ids(cursor.buffer)
        if cursor.at_value_start():  # a number, or a string whose first token may carry its first word
            favoured, penalised = self._string_ids("", opening='"', member=cursor.frames[-1].kind == "{")
            number_favoured, number_penalised = self._number_ids("")
            return np.union1d(number_favoured, favoured), np.union1d(number_penalised, penalised)
        return _NONE, _NONE

    def _in_scope(self) -> bool:
        key = self.bias.under_key
        if key is None:
            return bool(self.cursor.frames)
        frames = self.cursor.frames  # inside the root object's ``key`` value: {"key": {...here...}}
        return len(frames) >= 2 and frames[0].kind == "{" and frames[0].key == key

    def _string_ids(
        self, written: str, opening: str = "", member: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """Tokens continuing ``written`` along a span of a source (``opening``: the string's first
        token, which may hold its quote and the start of its first word), and, for an object
        member's value, those continuing it towards another member's value. A member with its own
        ``key_sources`` copies from those, and the other spans of the sources are disfavoured."""
        lowered = written.lower()
        keyed = self._key_sources.get(self.cursor.current_key() or "")
        ids, close = self._continuations(keyed or self._sources, lowered, opening)
        against: set[int] = set()
        if keyed:
            against |= self._continuations(self._sources, lowered, opening)[0] - ids
        if member:
            for used in self._used_values():
                if used.startswith(lowered) and len(used) > len(lowered):
                    rest = used[len(lowered) :]
                    against.update(self.index.prefixes_of(opening + rest))
                    if opening:
                        against.update(self.index.prefixes_of(" " + opening + rest))
                elif lowered and used == lowered:
                    close = False
                    against.update(self.index.closing_quote.tolist())
        ids -= against
        out = np.fromiter(ids, dtype=np.intc, count=len(ids))
        if close:
            out = np.concatenate([out, self.index.closing_quote])
        return out, np.fromiter(against, dtype=np.intc, count=len(against))

    def _continuations(
        self, sources: list[tuple[str, str, list[int]]], lowered: str, opening: str
    ) -> tuple[set[int], bool]:
        """Tokens that go on from ``lowered`` along a span of ``sources``; and whether such a span
        may end here (on a word boundary)."""
        ids: set[int] = set()
        close = False
        for source, low, starts in sources:
            for p in _span_starts(low, lowered, starts):
                end = p + len(lowered)
                rest = source[end : end + self.index.longest]
                ids.update(self.index.prefixes_of(opening + rest))
                if opening:
                    ids.update(self.index.prefixes_of(" " + opening + rest))
                if lowered and (end == len(source) or not source[end].isalnum()):
                    close = True
        return ids, close

    def _used_values(self) -> set[str]:
        key = self.bias.under_key
        return {v.lower() for k, v in self.cursor.member_values if v and (key is None or k == key)}

    def _number_ids(self, written: str) -> tuple[np.ndarray, np.ndarray]:
        """Favoured: the tokens that continue one of the stated numbers, or end the number where it
        equals one. Penalised: once at least two characters follow a stated number, the tokens that
        leave it ("18" written for "18th century" and going on to 1874; 10000000 for "100 million");
        for an argument taking a fraction, the start of a percentage's bare number; and the tokens
        heading for a number another member already has (``_taken_numbers``)."""
        fraction = self.cursor.current_key() in self.bias.fraction_keys
        taken = self._taken_numbers()
        numbers = [n for n in (self._fractions if fraction else self._numbers) if n not in taken]
        favoured, done, on_track = self._number_paths(numbers, written)
        penalised = _NONE
        if on_track and len(written.lstrip("-")) >= 2:
            leaving = (
                self.index.number_pieces
                if done
                else np.union1d(self.index.number_pieces, self.index.number_end)
            )
            penalised = np.setdiff1d(leaving, favoured)
        elif fraction and not written:  # 5 for "5%" loses, even where a stated 5000 starts with it
            bare = {
                t
                for p in self._percents
                for t in (*self.index.prefixes_of(p), *self.index.prefixes_of(" " + p))
            }
            penalised = np.fromiter(bare, dtype=np.intc, count=len(bare))
            favoured = np.setdiff1d(favoured, penalised)
        against = self._number_paths(taken, written)[0]
        if len(against):
            penalised = np.union1d(penalised, np.setdiff1d(against, favoured))
        return favoured, penalised

    def _number_paths(self, numbers: Iterable[str], written: str) -> tuple[np.ndarray, bool, bool]:
        """The tokens that go on from ``written`` towards one of ``numbers``, with those that end the
        number where ``written`` is one of them; whether it is one (done); whether it starts one."""
        ids: set[int] = set()
        done = on_track = False
        for number in numbers:
            if not number.startswith(written):
                continue
            on_track = True
            rest = number[len(written) :]
            if not rest:
                done = True
                continue
            ids.update(self.index.prefixes_of(rest))
            if not written:
                ids.update(self.index.prefixes_of(" " + rest))
        out = np.fromiter(ids, dtype=np.intc, count=len(ids))
        if done and written:
            out = np.union1d(out, self.index.number_end)
        return out, done, on_track

    def _taken_numbers(self) -> set[str]:
        """Numbers another member of the object already has, where the sources state them once:
        a small model copies the previous argument ("time": 10000 after "principal": 10000)."""
        cursor = self.cursor
        if not cursor.frames or cursor.frames[-1].kind != "{":
            return set()  # list items may repeat a value ([100, 100, 200])
        key = self.bias.under_key
        return {v for k, v in cursor.member_numbers if v in self._stated_once and (key is None or k == key)}


_NONE = np.zeros(0, dtype=np.intc)


def _indexed(texts: Iterable[str]) -> list[tuple[str, str, list[int]]]:
    return [(text, text.lower(), _word_starts(text)) for text in texts if text]


def _word_starts(text: str) -> list[int]:
    return [i for i, c in enumerate(text) if c.isalnum() and (i == 0 or not text[i - 1].isalnum())]


def _span_starts(source_lower: str, written: str, word_starts: list[int]) -> list[int]:
    """Positions where a span of the source starting on a word matches what was written so far."""
    if not written:
        return word_starts[:_MAX_POSITIONS]
    found: list[int] = []
    at = source_lower.find(written)
    while at >= 0 and len(found) < _MAX_POSITIONS:
        if at == 0 or not source_lower[at - 1].isalnum():
            found.append(at)
        at = source_lower.find(written, at + 1)
    return found
