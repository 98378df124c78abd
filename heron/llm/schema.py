"""Structured output: JSON schemas from pydantic types, GBNF grammars from schemas, validation."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from heron.errors import ModelError, OutputTruncatedError, UsageError
from heron.llm.string_bounds import for_grammar

# llama_cpp's converter lets a JSON string hold raw control characters (a newline, a tab), which JSON
# forbids; a small model does emit them. This is the character rule newer llama.cpp versions use.
_LOOSE_CHAR_RULE = 'char ::= [^"\\\\] |'
_STRICT_CHAR_RULE = 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |'
# The converter lets a space follow any token of JSON ("space ::= " "?"), so the grammar never forces
# the text between values and fast-forward (heron.llm.fast_forward) could skip nothing. heron's grammar
# writes one layout, json.dumps's: a space after ':' and ',', none elsewhere (also how heron writes
# the model's earlier turns back into its history).
_OPTIONAL_SPACE_RULE = re.compile(r"^space ::= .*$", re.MULTILINE)
_AFTER_COLON = re.compile(r'space ":" space')
_AFTER_COMMA = re.compile(r'"," space')


def json_schema_of(schema: Any) -> dict[str, Any]:
    """The JSON schema of a pydantic model, or of any type pydantic can validate (a union, a list)."""
    if isinstance(schema, dict):
        return schema
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_json_schema()
        return TypeAdapter(schema).json_schema()
    except Exception as exc:  # pydantic raises several types for types it cannot describe
        raise UsageError(
            f"cannot build a JSON schema for {schema!r}: {exc}",
            "pass a pydantic BaseModel subclass, a type pydantic can validate, or a JSON schema dict",
        ) from exc


def schema_key(schema: dict[str, Any]) -> str:
    """The schema as compact JSON: the grammar's input and its cache key.

    Keys keep their order: the grammar emits properties in the order the schema lists them, and
    that order matters to the model (a tool name before its arguments, a reason before a verdict).
    """
    return json.dumps(schema, separators=(",", ":"))


@lru_cache(maxsize=128)
def grammar_for_schema_key(key: str) -> str:
    """GBNF grammar text for the canonical schema text ``key`` (see ``schema_key``); cached per schema."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    with _converter_errors():
        grammar = json_schema_to_gbnf(key)
    return _heron_layout(grammar)


@contextmanager
def _converter_errors() -> Iterator[None]:
    """llama_cpp's schema converter fails with assorted exceptions: a UsageError that says what works."""
    try:
        yield
    except (AssertionError, KeyError, ValueError, TypeError, RecursionError) as exc:
        raise UsageError(
            f"cannot turn this JSON schema into a grammar ({type(exc).__name__}: {exc})",
            "use types, enums, const, objects, arrays, anyOf/oneOf and $defs references; "
            "schema keywords like 'not' or 'if' have no grammar form",
        ) from exc


def grammar_for(schema: Any) -> str:
    """GBNF text for ``schema``; string bounds past what the grammar holds are left out of it (the
    decode loop holds them: ``heron.llm.string_bounds``)."""
    return grammar_for_schema_key(schema_key(for_grammar(with_untyped_as_any(json_schema_of(schema)))))


def grammar_of_rules(schemas: dict[str, Any]) -> str:
    """GBNF text with one rule per named schema (``{"call": s}`` gives a rule ``call``) and the rules
    they need, shared where equal; no ``root``: the caller writes it from the named rules."""
    keys = tuple(
        (name, schema_key(for_grammar(with_untyped_as_any(json_schema_of(s))))) for name, s in schemas.items()
    )
    return _grammar_of_rule_keys(keys)


@lru_cache(maxsize=128)
def _grammar_of_rule_keys(keys: tuple[tuple[str, str], ...]) -> str:
    from llama_cpp.llama_grammar import RESERVED_NAMES, SchemaConverter

    converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)
    aliases = []
    for name, _ in keys:
        if name in RESERVED_NAMES or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            raise ValueError(f"{name!r} cannot name a grammar rule (lower-case letters, digits, '-')")
    with _converter_errors():
        for name, key in keys:
            made = converter.visit(converter.resolve_refs(json.loads(key), f"heron:{name}"), name)
            if made != name:  # a schema the converter wrote as a shared rule (a primitive, a $ref)
                aliases.append(f"{name} ::= {made}")
    return _heron_layout("\n".join([converter.format_grammar(), *aliases]))


def _heron_layout(grammar: str) -> str:
    """The converter's grammar held to heron's JSON: no raw control characters in strings, and
    json.dumps's spacing only."""
    grammar = grammar.replace(_LOOSE_CHAR_RULE, _STRICT_CHAR_RULE)
    grammar = _AFTER_COMMA.sub('", "', _AFTER_COLON.sub('": "', grammar))
    return _OPTIONAL_SPACE_RULE.sub('space ::= ""', grammar)


# Keywords that give a schema a shape; a (sub)schema with none of them admits any JSON value.
_SHAPE_KEYWORDS = frozenset(
    {"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "items", "prefixItems"}
)
_ANY_JSON_VALUE = [{"type": t} for t in ("string", "number", "boolean", "null", "array", "object")]


def is_shapeless(schema: Any) -> bool:
    """True for a sub-schema that admits any JSON value (``{}``, annotations only, ``Any``)."""
    return isinstance(schema, dict) and not _SHAPE_KEYWORDS & schema.keys()


def with_untyped_as_any(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with each sub-schema that has no shape (``{}``, ``{"description": ...}``, a
    parameter typed ``Any``) spelled out as any JSON value, which llama.cpp's converter needs."""

    def visit(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        out = dict(node)
        for key in ("properties", "$defs", "definitions", "patternProperties"):
            if isinstance(out.get(key), dict):
                out[key] = {name: visit(sub) for name, sub in out[key].items()}
        for key in ("items", "additionalProperties"):
            if isinstance(out.get(key), dict):
                out[key] = visit(out[key])
        for key in ("anyOf", "oneOf", "allOf", "prefixItems"):
            if isinstance(out.get(key), list):
                out[key] = [visit(sub) for sub in out[key]]
        if is_shapeless(out):
            out["anyOf"] = _ANY_JSON_VALUE
        return out

    return visit(schema)


def validate_structured(text: str, schema: Any) -> Any:
    """Parse ``text`` as an instance of ``schema`` (a pydantic type); ModelError says why it does not fit."""
    try:
        if isinstance(schema, type) and issubclass(schema, BaseModel):
            return schema.model_validate_json(text)
        return TypeAdapter(schema).validate_json(text)
    except ValidationError as exc:
        raise ModelError(
            f"the model's structured output does not validate against {_type_name(schema)}: {exc}\n"
            f"output: {text[:500]}"
        ) from exc


def parse_json_output(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelError(f"the model's structured output is not valid JSON ({exc}): {text[:500]}") from exc


def check_complete(text: str, finish_reason: str, max_tokens: int) -> None:
    """Grammar decoding can only end early by running out of tokens; say so plainly."""
    if finish_reason == "length":
        raise OutputTruncatedError(
            f"structured output was cut off after max_tokens={max_tokens} before the JSON was complete "
            f"(got {len(text)} characters); raise GenerationOptions.max_tokens or bound the schema's "
            "strings and arrays (maxLength, maxItems)",
            text=text,
        )


def _type_name(schema: Any) -> str:
    return getattr(schema, "__name__", None) or repr(schema)
