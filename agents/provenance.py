"""Which retrieved passages an answer's facts came from, so it cites its real sources.

A small model cites passages by their place in the list it was shown, not by what it used, and
cites passages it saw earlier for answers that used none. So the sources are traced from what the
model wrote:

- Numbers are the facts that can be traced exactly: when a number the model wrote in the request's
  turns (a tool call or the answer; not a plan step's note, which copies every passage's values)
  after a passage was shown to it appears in that passage, the passage is a source. Single digits
  are too common to trace (an index, a count, a format width) and are left out, as are numbers the
  user's request already holds.
- Words: a word of the answer that exactly one of the passages the request's searches showed holds,
  and that is neither a common English word nor a word of the request, ties the answer to that
  passage. Only the answer counts here, not the calls and notes before it, which copy whole passages.

When something is traced, the traced passages are the answer's citations. Only an answer with no
traceable fact keeps the passages the model chose, and of those only the ones that share a word
(not a common English word) or a number with the request or the answer. BENCHMARKS.md ("A
newcomer's trial, and citations traced from the answer's words") has the measurements.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from heron.llm.types import Message

# a number standing alone: not part of a word or an id (``7165393d``), not a version's tail
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w]|\.\d)")


def traceable_numbers(text: str) -> set[str]:
    """The numbers in ``text`` that can be traced (two or more digits, or a decimal), normalised
    (``175.0`` and ``175`` are the same number)."""
    found = set()
    for match in _NUMBER.findall(text):
        value = match.rstrip("0").rstrip(".") if "." in match else match.lstrip("0") or "0"
        if len(value.replace(".", "")) >= 2:
            found.add(value)
    return found


# a number with thousands separators (``12,345.67``), read as one number
_GROUPED = re.compile(r"(?<![\w.,])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\w,]|\.\d)")
# a number in what the model was shown: digits alone make it (``sales_2024.csv``, ``12km``, ``14:30``)
_SHOWN_NUMBER = re.compile(r"(?<![\d.])\d+(?:\.\d+)?(?!\d|\.\d)")
# a list's item number at the start of a line ("10. north.csv"): a place in a list, not a figure
_LIST_MARK = re.compile(r"^[ \t]*\d+[.)][ \t]", re.MULTILINE)


def _shown_values(sources: Iterable[str]) -> list[float]:
    """Every number the sources hold, sorted: with thousands separators read both ways (``1,200,300``
    is a number or a CSV row of three), a percentage also as its fraction's hundred times."""
    values = []
    for text in sources:
        for grouped in _GROUPED.findall(text):
            values.append(float(grouped.replace(",", "")))
        values.extend(float(n) for n in _SHOWN_NUMBER.findall(text))
    return sorted(values + [v * 100 for v in values if v < 1])


def unsourced_numbers(answer: str, sources: Iterable[str]) -> list[str]:
    """The numbers of ``answer`` that none of ``sources`` shows (the request, tool results, passages):
    figures the model wrote from its own memory or arithmetic. A number counts as shown when a
    source holds a value within one unit of the answer's last digit: rounded or cut to as many
    decimals as the answer gives (``151.67`` or ``151.66`` for a result's ``151.66666``; ``92%`` for
    ``0.92``). Numbers that tracing leaves out are left out too (single digits: a count, an index), as
    are a list's item numbers. In the order the answer gives them, each once, thousands separators
    taken out."""
    shown = _shown_values(sources)
    answer = _GROUPED.sub(lambda m: m.group(0).replace(",", ""), _LIST_MARK.sub("", answer))
    missing = []
    for written in dict.fromkeys(_NUMBER.findall(answer)):
        if not traceable_numbers(written):
            continue
        unit = 10.0 ** -len(written.partition(".")[2])
        value = float(written)
        nearest = bisect.bisect_left(shown, value - unit + unit * 1e-6)
        if nearest == len(shown) or shown[nearest] >= value + unit - unit * 1e-6:
            missing.append(written)
    return missing


def sources_of_numbers(
    messages: Iterable[Message],
    passages: Mapping[str, Mapping[str, Any]],
    request: str,
    since: int = 0,
    copies: Iterable[str] = (),
) -> list[str]:
    """Ids of the passages holding a traceable number that the model wrote after the passage was
    shown to it (tool results name each passage as ``[id]``), in the order they were shown. Only what
    the model wrote from message ``since`` on counts (in a chat, the turns of the latest message: an
    earlier answer's numbers are not this one's), and not its ``copies``: the notes a plan step's
    results get (``step_notes``), which write down every passage's values, used or not; the calls
    and the answer after a note show which of them were used."""
    skipped = set(copies)
    given = traceable_numbers(request)
    shown: dict[str, int] = {}  # passage id -> index of the tool result that showed it
    written: list[tuple[int, set[str]]] = []  # index of each model message -> its numbers
    for index, message in enumerate(messages):
        if message.role == "tool":
            for cid in passages:
                if cid not in shown and f"[{cid}]" in message.content:
                    shown[cid] = index
        elif message.role == "assistant" and index >= since and message.content not in skipped:
            written.append((index, traceable_numbers(message.content) - given))
    sources = []
    for cid, at in sorted(shown.items(), key=lambda item: item[1]):
        after = set().union(*(numbers for index, numbers in written if index > at))
        if after & traceable_numbers(str(passages[cid].get("text", ""))):
            sources.append(cid)
    return sources


_WORD = re.compile(r"[^\W\d_]{3,}")  # a word of three letters or more


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _common_words() -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return ENGLISH_STOP_WORDS


def shown_in(messages: Iterable[Message], passages: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """The passages of ``passages`` that a tool result among ``messages`` showed (as ``[id]``)."""
    results = [m.content for m in messages if m.role == "tool"]
    return {cid: p for cid, p in passages.items() if any(f"[{cid}]" in text for text in results)}


def sources_of_words(answer: str, passages: Mapping[str, Mapping[str, Any]], request: str) -> list[str]:
    """Ids of the passages holding a word of ``answer`` that no other passage of ``passages`` holds,
    leaving out common English words and the request's words, in the order of ``passages`` (give the
    ones the request's own tool results showed: a chat's earlier searches are not this answer's)."""
    used = _words(answer) - _words(request) - _common_words()
    if not used:
        return []
    held = {cid: _words(str(passage.get("text", ""))) & used for cid, passage in passages.items()}
    holders = Counter(word for words in held.values() for word in words)
    return [cid for cid, words in held.items() if any(holders[word] == 1 for word in words)]


def sharing_words(
    cited: Iterable[str], passages: Mapping[str, Mapping[str, Any]], request: str, answer: str
) -> list[str]:
    """The ids of ``cited`` whose passage shares a word (not a common English word) or a traceable
    number with the request or the answer; a passage whose tool gave no text (a cited URL alone)
    cannot be judged and is kept; an id no passage has is left out."""
    text = f"{request}\n{answer}"
    asked = (_words(text) - _common_words()) | traceable_numbers(text)
    kept = []
    for cid in cited:
        if cid not in passages:  # (a backend without a grammar may name anything)
            continue
        body = str(passages[cid].get("text", ""))
        if not body.strip() or asked & (_words(body) | traceable_numbers(body)):
            kept.append(cid)
    return kept


def references_moved_to_citations(
    answer: str, messages: Iterable[Message], passages: Mapping[str, Mapping[str, Any]]
) -> tuple[str, list[str]]:
    """The answer without heron's passage references, and the ids they named, in order.

    ``retrieve`` shows each passage as ``[id] Section > Path (file name)``, and a model often copies
    that line into its answer ("... is 151.67 cm. [aiacchdh] Grey heron > Size (grey-heron.md)"). The
    line is heron's own label, not the model's words: it is taken out of the text, and the passage
    becomes a citation (``RunResult.citations``). Only ids of passages the run retrieved count; an
    answer that would be left with no words keeps its text.
    """
    labels = _shown_labels(messages, passages)
    ids = sorted(passages, key=len, reverse=True)
    answer = _id_lists_split(answer, ids)
    found = [m.group(1) for m in re.finditer(rf"\[({'|'.join(map(re.escape, ids)) or '(?!)'})\]", answer)]
    if not found:
        return answer, []
    # each id with the label shown for it, where the label ends a line or comes before a separator
    references = "|".join(
        rf"\[{re.escape(i)}\]"
        + (rf"(?:[ \t]*{re.escape(labels[i])}(?=[ \t]*(?:[,;.)\]]|and\b|\[|$)))?" if i in labels else "")
        for i in ids
    )
    text = re.sub(references, _MARK, answer, flags=re.MULTILINE)
    # a list of references ("[a] X, [b] Y and [c] Z", "[a], [b], and [c]"), one per bullet, or under
    # a closing "Sources:"
    text = re.sub(rf"{_MARK}(?:[ \t]*[,;]?[ \t]*(?:\band\b)?[ \t]*{_MARK})+", _MARK, text)
    # a sentence whose complement was the references ("The passages used are [a], [b] and [c].")
    # says nothing once they leave: it goes with them (never one that holds a number)
    text = re.sub(
        rf"(?:^|(?<=[.!?])[ \t]+)[^.!?\n\d{_MARK}]*\b(?:is|are|was|were)[ \t]*{_MARK}[ \t]*[.!?]?",
        _MARK,
        text,
        flags=re.MULTILINE,
    )
    text = re.sub(
        rf"^[ \t]*(?:[-*+]|\d+[.)])?[ \t]*{_MARK}[ \t]*[,;.]?[ \t]*$", _MARK, text, flags=re.MULTILINE
    )
    text = re.sub(rf"\n[^\n]*:(?:\s*{_MARK})+\s*$", "", text)
    # one in brackets, with at most a word before it ("(see [a])"; never a number)
    text = re.sub(rf"[(\[](?:[ \t]*[^\W\d]+)?[ \t]*{_MARK}[ \t]*[)\]]", _MARK, text)
    text = re.sub(rf"[ \t]*{_MARK}[ \t]*(?=[.,;:!?)\]]|$)", "", text, flags=re.MULTILINE)
    text = re.sub(rf"^[ \t]*{_MARK}[ \t]*", "", text, flags=re.MULTILINE)
    text = re.sub(rf"[ \t]*{_MARK}[ \t]*", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not re.search(r"\w", text):
        return answer, []
    return text, list(dict.fromkeys(found))


_MARK = "\x00"  # where a reference was, until the separators around it are tidied


def _id_lists_split(answer: str, ids: list[str]) -> str:
    """``[a, b and c]``, one bracket around several retrieved ids, written as ``[a], [b] and [c]``."""
    if not ids:
        return answer
    one = "|".join(map(re.escape, ids))
    separator = r"[ \t]*(?:[,;]|\band\b|[,;][ \t]*and\b)[ \t]*"
    lists = rf"\[[ \t]*((?:{one})(?:{separator}(?:{one}))+)[ \t]*\]"
    return re.sub(lists, lambda m: re.sub(rf"({one})", r"[\1]", m.group(1)), answer)


def _shown_labels(messages: Iterable[Message], passages: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """The label a tool result showed after each retrieved passage's ``[id]`` (the first showing)."""
    labels: dict[str, str] = {}
    for message in messages:
        if message.role != "tool":
            continue
        for match in re.finditer(r"^\[(\w+)\] (.+)$", message.content, flags=re.MULTILINE):
            if match.group(1) in passages:
                labels.setdefault(match.group(1), match.group(2).strip())
    return labels
