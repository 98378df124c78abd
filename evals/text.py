"""Plain-text helpers shared by the scorers: words, content words, sentences, claims."""

from __future__ import annotations

import re

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

_WORD = re.compile(r"\w+")
# A sentence ends at . ! or ? followed by space(s) and an upper-case letter or digit; HaluEval's
# knowledge also glues sentences together ("...19th century.First for Women"), so no space is needed
# before an upper-case letter.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s*(?=[A-Z\"'(])|(?<=[.!?])\s+(?=\d)|\n+")


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters, digits and underscores)."""
    return _WORD.findall(text.lower())


def content_words(text: str) -> list[str]:
    """Words that carry content: ``words`` without English stop words (scikit-learn's list) and
    without single letters (the "s" of "Arthur's", initials); single digits stay."""
    return [w for w in words(text) if w not in ENGLISH_STOP_WORDS and (len(w) > 1 or w.isdigit())]


def sentences(text: str) -> list[str]:
    """Split ``text`` into sentences; fragments without a letter or digit are dropped."""
    parts = (p.strip() for p in _SENTENCE_END.split(text))
    return [p for p in parts if p and _WORD.search(p)]


def claims(answer: str) -> list[str]:
    """The claims of an answer: its sentences (an answer without punctuation is one claim)."""
    found = sentences(answer)
    return found or ([answer.strip()] if answer.strip() else [])


def absent_share(tokens: list[str], reference: str) -> float:
    """Share of ``tokens`` that do not occur among the words of ``reference``; 0.0 for no tokens."""
    if not tokens:
        return 0.0
    known = set(words(reference))
    return sum(1 for token in tokens if token not in known) / len(tokens)
