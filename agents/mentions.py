"""Does a request mention a tool's optional argument? Decides which optional arguments a turn offers.

A small model given an optional argument tends to fill it with a guess; denied all of them, it
cannot pass one the user asked for ("... using the simpson method"). With
``optional_arguments="mentioned"`` the grammar offers an optional argument only when the request
names it: a word of the request starts with the first five letters (or all, if fewer) of a word of
the argument's name ("root_type" / "roots", "exploration_type" / "exploring"), or it names one of
the argument's values: an enum value (of the argument or of its list's items), or an example its
description quotes ("'weekend' for the coming weekend", "e.g. vegan, gluten-free"), matched by one
of the value's words the same way ("backstage access" names "Backstage Pass").

``takes_fraction`` reads a number argument's schema the same way: is "5%" meant as 0.05 there?
``place_spans`` finds the places a request names, for the arguments ``is_place_argument`` says hold
one ("location", "start_city"): capitalised words after "in", "near", "from", "to" and the like.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])")
_PREFIX = 5
_QUOTED = re.compile(r"(?<!\w)['\"]([^'\"\n]{2,40})['\"](?!\w)")
_EXAMPLES = re.compile(r"\b(?:e\.g\.|such as|like)\s*,?\s*([^.;)]{2,80})", re.IGNORECASE)
# name parts that say nothing about what the user asked for
_VAGUE = frozenset({"type", "value", "values", "data", "info", "flag", "the", "and", "for", "with", "num"})


def words(text: str) -> list[str]:
    """Lower-case words of ``text``, splitting snake_case, dotted and camelCase names."""
    return [w.lower() for w in _WORD.findall(text)]


def is_mentioned(name: str, prop: dict[str, Any], request: str, required: Iterable[str] = ()) -> bool:
    """True when ``request`` names the argument ``name`` (with JSON schema ``prop``).

    Words shared with a ``required`` argument's name do not count: "light" in a request about
    ``distance_in_light_years`` is about that argument, not about an optional ``speed_of_light``.
    """
    asked = [w for w in words(request) if len(w) >= 3]
    taken = {part[:_PREFIX] for other in required for part in words(other)}
    for part in words(name):
        if len(part) >= 3 and part not in _VAGUE and part[:_PREFIX] not in taken:
            stem = part[:_PREFIX]  # "root" matches "roots", "exploration" matches "exploring"
            if any(w.startswith(stem) for w in asked):
                return True
    return any(_names_value(value, asked) for value in values_of(prop))


def values_of(prop: dict[str, Any]) -> list[str]:
    """The values an argument's schema spells out: its enum, its items' enum, quoted examples."""
    items = prop["items"] if isinstance(prop.get("items"), dict) else {}
    values = [v for v in [*prop.get("enum", []), *items.get("enum", [])] if isinstance(v, str)]
    description = str(prop.get("description", ""))
    values += _QUOTED.findall(description)
    for listed in _EXAMPLES.findall(description):
        values += [v.strip() for v in re.split(r",|\bor\b", listed)]
    return [v for v in values if v]


def _names_value(value: str, asked: list[str]) -> bool:
    distinctive = [w for w in words(value) if len(w) >= 4 and w not in _VAGUE]
    return any(any(w.startswith(part[:_PREFIX]) for w in asked) for part in distinctive)


_FRACTION_CUES = re.compile(r"decimal|fraction|between 0 and 1|0 to 1|sums? to 1\b|\b0\.\d", re.IGNORECASE)
_PERCENT_CUES = re.compile(r"percent", re.IGNORECASE)


def takes_fraction(name: str, prop: dict[str, Any]) -> bool:
    """True when the argument is a number (or a list of numbers) that reads a percentage as a
    fraction: its description says so ("as a decimal", "must sum to 1", "e.g. 0.05"), or it is a
    plain number that says nothing of percent ("rate_of_return" for "8%" is 0.08). One named or
    described as a percentage ("percent_off") takes the percentage as it is; integers always do."""
    items = prop["items"] if isinstance(prop.get("items"), dict) else {}
    if "number" not in (prop.get("type"), items.get("type")):
        return False
    text = f"{' '.join(words(name))} {prop.get('description', '')}"
    return bool(_FRACTION_CUES.search(text)) or not _PERCENT_CUES.search(text)


_PLACE_WORDS = frozenset(
    {"location", "city", "place", "destination", "origin", "address", "country", "state", "region"}
    | {"area", "venue", "town", "county", "province"}
)
_JOINERS = ("of", "de", "la", "del", "du", "upon")
_PLACE = re.compile(
    r"\b(?:in|at|near|from|to|around|for|between|and)\s+"
    r"([A-Z][\w.'-]*(?:\s+(?:[A-Z][\w.'-]*|" + "|".join(_JOINERS) + r"))*(?:,\s*[A-Z]{2}\b)?)"
)


def is_place_argument(name: str, prop: dict[str, Any]) -> bool:
    """A string argument whose name says it holds a place: "location", "end_city", "country"."""
    return prop.get("type") == "string" and bool(_PLACE_WORDS & set(words(name)))


def place_spans(request: str) -> list[str]:
    """Places the request names: capitalised words after a preposition ("... in Los Angeles",
    "from Boston, MA to Washington"). A small model fills "location" with any span of the request
    ("divorce law", "10 miles"); for such arguments the copy bias offers only these."""
    found = []
    for match in _PLACE.finditer(request):
        parts = match.group(1).rstrip(",").split()
        if parts and parts[-1].endswith(".") and parts[-1].count(".") == 1:  # the sentence's full stop
            parts[-1] = parts[-1][:-1]
        while parts and parts[-1] in _JOINERS:
            parts.pop()
        if parts:
            found.append(" ".join(parts))
    return list(dict.fromkeys(found))
