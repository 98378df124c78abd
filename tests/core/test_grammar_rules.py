"""``grammar_of_rules``: one GBNF grammar from several named schemas, every rule it names defined."""

from __future__ import annotations

import re

import pytest

from heron.errors import UsageError
from heron.llm.schema import grammar_of_rules


def undefined_rules(grammar: str) -> set[str]:
    """Rule names a grammar refers to without defining (string literals and character classes aside)."""
    defined, used = set(), set()
    for line in grammar.splitlines():
        name, _, body = line.partition(" ::= ")
        defined.add(name)
        body = re.sub(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]', " ", body)
        used |= set(re.findall(r"[a-zA-Z][a-zA-Z0-9-]*", body))
    return used - defined


def test_each_named_schema_gets_its_rule_and_shared_rules_are_written_once() -> None:
    point = {"type": "object", "properties": {"x": {"type": "integer"}}}
    grammar = grammar_of_rules({"first": point, "second": point, "label": {"type": "string"}})
    rules = [line.split(" ::= ")[0] for line in grammar.splitlines()]
    assert {"first", "second", "label"} <= set(rules)
    assert rules.count("integer") == 1  # the primitives both use are shared
    assert "label ::= string" in grammar  # a primitive schema is named by an alias
    assert undefined_rules(grammar + "\nroot ::= first | second | label") == set()


def test_bad_names_and_schemas_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="cannot name a grammar rule"):
        grammar_of_rules({"string": {"type": "integer"}})  # one of the converter's own rules
    with pytest.raises(UsageError, match="cannot turn this JSON schema into a grammar"):
        grammar_of_rules({"when": {"type": "date"}})
