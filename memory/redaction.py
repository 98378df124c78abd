"""Masking personal data and secrets before text is stored (``[memory] redact_personal_data = true``).

What is masked, each by a typed placeholder such as ``[REDACTED:email]``:

- API keys and tokens: well-known prefixes (OpenAI ``sk-``, GitHub ``ghp_``/``github_pat_``, AWS
  ``AKIA``, Google ``AIza``, Slack ``xox?-``, Hugging Face ``hf_``, GitLab ``glpat-``) and the value of
  ``api_key = ...`` / ``token: ...`` / ``password=...`` assignments;
- email addresses;
- payment card numbers: 13 to 19 digits (spaces or dashes allowed) that pass the Luhn check, so
  ordinary long numbers stay;
- phone numbers: international (``+`` and 8 to 15 digits) and North American (``(555) 123-4567``,
  ``555-123-4567``) formats. Local formats without a ``+`` are not recognised.

Pattern matching is a safety net, not a guarantee: review what you ingest.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

_KEY_PREFIXES = re.compile(
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{36,}"
    r"|github_pat_[A-Za-z0-9_]{22,}"
    r"|AKIA[0-9A-Z]{16}"
    r"|AIza[0-9A-Za-z_-]{35}"
    r"|xox[abprs]-[A-Za-z0-9-]{10,}"
    r"|hf_[A-Za-z0-9]{30,}"
    r"|glpat-[A-Za-z0-9_-]{20,})"
)
_KEY_ASSIGNMENT = re.compile(
    r"(?i)\b((?:api[_-]?key|secret(?:[_-]?key)?|access[_-]?token|auth[_-]?token|token|password|passwd)"
    r"[\"']?\s*[:=]\s*[\"']?)([^\s\"',;]{8,})"
)
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d{1,3}(?:[\s.-]?\(?\d{1,5}\)?){1,6}(?!\w)")
_PHONE_NORTH_AMERICA = re.compile(r"(?<![\w(])(?:\(\d{3}\)\s?|\d{3}[-.\s])\d{3}[-.\s]\d{4}(?!\w)")


@dataclass
class Redactor:
    """Replaces personal data and secrets in text; ``counts`` tallies what was masked, by kind."""

    counts: Counter[str] = field(default_factory=Counter)

    def redact(self, text: str) -> str:
        text = _KEY_PREFIXES.sub(lambda m: self._mask("api_key"), text)
        text = _KEY_ASSIGNMENT.sub(lambda m: m.group(1) + self._mask("api_key"), text)
        text = _EMAIL.sub(lambda m: self._mask("email"), text)
        text = _CARD.sub(lambda m: self._mask("card") if _luhn_valid(m.group()) else m.group(), text)
        text = _PHONE_INTERNATIONAL.sub(self._phone_if_plausible, text)
        return _PHONE_NORTH_AMERICA.sub(lambda m: self._mask("phone"), text)

    def _mask(self, kind: str) -> str:
        self.counts[kind] += 1
        return f"[REDACTED:{kind}]"

    def _phone_if_plausible(self, match: re.Match[str]) -> str:
        digits = sum(ch.isdigit() for ch in match.group())
        return self._mask("phone") if 8 <= digits <= 15 else match.group()


def _luhn_valid(candidate: str) -> bool:
    digits = [int(ch) for ch in candidate if ch.isdigit()]
    if not 13 <= len(digits) <= 19:
        return False
    total = 0
    for position, digit in enumerate(reversed(digits)):
        if position % 2 == 1:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0
