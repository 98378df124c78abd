"""Redaction of personal data and secrets: what is masked, and what must stay."""

from __future__ import annotations

import pytest

from heron.memory.redaction import Redactor


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mail jane.doe+news@mail.example.co.uk today", "email"),
        ("call +44 20 7946 0958 now", "phone"),
        ("call (415) 555-0132 now", "phone"),
        ("call 415-555-0132 now", "phone"),
        ("card 4111 1111 1111 1111 ok", "card"),
        ("card 5500-0000-0000-0004 ok", "card"),
        ("key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx0123 here", "api_key"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123456789 here", "api_key"),
        ("aws AKIAIOSFODNN7EXAMPLE here", "api_key"),
        ('config api_key = "s3cr3t-value-99"', "api_key"),
        ("PASSWORD: hunter2hunter2", "api_key"),
    ],
)
def test_personal_data_and_secrets_are_masked(text: str, kind: str) -> None:
    redactor = Redactor()
    redacted = redactor.redact(text)
    assert f"[REDACTED:{kind}]" in redacted
    assert redactor.counts[kind] == 1
    assert redacted.split()[0] == text.split()[0]  # the words around it stay


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails the Luhn check",
        "released 2024-01-15 as version 1.2.3",
        "order number 1234567890123",
        "the year 1987 and 42 herons",
        "see section 3.14.15 and +1 more",
    ],
)
def test_ordinary_numbers_and_text_are_left_alone(text: str) -> None:
    assert Redactor().redact(text) == text
