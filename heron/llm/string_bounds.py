"""Long strings under a grammar: bounds the grammar cannot hold, held by heron's decode loop instead.

llama.cpp's grammar writes a JSON string's ``maxLength`` as that many nested optional characters,
and its parser refuses more than 1,000 (``GRAMMAR_STRING_CHARS``). A longer bound (a file's text, a
script: ``Field(max_length=3000)``) therefore leaves the grammar (the string is unbounded there) and
goes to the decode loop as ``GenerationOptions.string_bounds``: property name -> characters.

:class:`StringBound` counts the characters of each string value under those keys as the model writes
them; near the bound it rules out every token that would carry the value past it, so at the bound
only tokens that close the string (their text starts with ``"``) stay possible, and the grammar
picks among them what may follow. An escape sequence counts as one character, and while it is
being written nothing is ruled out; its two characters in a token's text count twice, so near the
bound such a token may be ruled out early (a value then ends a character or two short of it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from heron.llm.json_cursor import JsonCursor

GRAMMAR_STRING_CHARS = 1000  # the longest maxLength of a JSON string llama.cpp (0.3.x) parses as a grammar

_NESTED = ("properties", "$defs", "definitions", "patternProperties")
_SINGLE = ("items", "additionalProperties")
_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")


def for_grammar(schema: Any) -> Any:
    """``schema`` with every ``maxLength`` above ``GRAMMAR_STRING_CHARS`` taken out (see the module)."""
    if isinstance(schema, list):
        return [for_grammar(node) for node in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "maxLength" and isinstance(value, int) and value > GRAMMAR_STRING_CHARS:
            continue
        if key in _NESTED and isinstance(value, dict):
            out[key] = {name: for_grammar(sub) for name, sub in value.items()}
        elif key in _SINGLE or key in _LISTS:
            out[key] = for_grammar(value)
        else:
            out[key] = value
    return out


def long_string_bounds(schema: Any) -> dict[str, int]:
    """Property name -> ``maxLength`` for each string property of ``schema`` (at any depth, also
    inside ``anyOf``: an optional string) whose bound the grammar cannot hold. Where two properties of
    one name differ, the smaller bound is kept."""
    bounds: dict[str, int] = {}

    def visit(node: Any, name: str | None) -> None:
        if isinstance(node, list):
            for sub in node:
                visit(sub, name)
            return
        if not isinstance(node, dict):
            return
        limit = node.get("maxLength")
        if name is not None and isinstance(limit, int) and limit > GRAMMAR_STRING_CHARS:
            bounds[name] = min(limit, bounds.get(name, limit))
        for key in ("properties", "patternProperties"):
            for child, sub in (node.get(key) or {}).items():
                visit(sub, child)
        for key in ("$defs", "definitions"):
            for sub in (node.get(key) or {}).values():
                visit(sub, None)
        for key in _LISTS:
            visit(node.get(key), name)  # the alternatives of one property
        for key in _SINGLE:
            visit(node.get(key), name)  # a list's strings count under their list's key

    visit(schema, None)
    return bounds


def chars_before_quote(token_texts: Sequence[str]) -> np.ndarray:
    """How many characters each token would add to a JSON string: those before its first ``"`` (which
    would close the string), all of them if it has none, and at least one for a token with no text
    of its own (a byte of a longer character): only a token that starts with ``"`` adds none."""
    return np.fromiter(
        (text.find('"') if '"' in text else max(1, len(text)) for text in token_texts),
        dtype=np.intc,
        count=len(token_texts),
    )


class StringBound:
    """One decode's long-string bounds (a ``LogitBias``): ``bounds`` maps property names to
    characters; ``adds`` is :func:`chars_before_quote` for the model's vocabulary. Near a value's
    bound, every token that would carry it past the bound is ruled out; at the bound only tokens
    that close the string remain."""

    def __init__(self, bounds: Mapping[str, int], adds: np.ndarray) -> None:
        self.bounds = dict(bounds)
        self._adds = adds
        self._longest = int(adds.max()) if len(adds) else 0
        self._cursor = JsonCursor()
        self._chars = 0  # characters of the string value being written

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        cursor = self._cursor
        limit = self.bounds.get(cursor.value_key or "") if cursor.in_string_value else None
        if limit is None or cursor.escaped or limit - self._chars >= self._longest:
            return _NO_IDS, _NO_AMOUNTS
        ids = np.flatnonzero(self._adds > max(0, limit - self._chars)).astype(np.intc)
        return ids, np.full(len(ids), -np.inf, dtype=np.float32)

    def feed(self, token: int, text: str) -> None:
        cursor = self._cursor
        for char in text:
            was_in_value = cursor.in_string_value
            cursor.feed(char)
            if cursor.in_string_value and not was_in_value:
                self._chars = 0  # a new string value
            elif was_in_value and cursor.in_string_value and not cursor.escaped:
                self._chars += 1  # (an escape sequence counts once)


_NO_IDS = np.zeros(0, dtype=np.intc)
_NO_AMOUNTS = np.zeros(0, dtype=np.float32)
