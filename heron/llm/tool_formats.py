"""Models' own tool-call syntax: which one a chat template was trained on, its grammar, its parser.

Instruction-tuned models learned to call tools in the syntax their chat template writes:

- ``hermes`` (Qwen2.5, Hermes, many fine-tunes): one block per call, several in one turn,
  ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>``;
- ``llama3`` (Llama 3.1+): one JSON object ``{"name": ..., "parameters": {...}}`` per turn;
- ``mistral``: ``[TOOL_CALLS]`` and a JSON list of ``{"name": ..., "arguments": {...}}``.

:func:`detect` reads the template's source; a template that does not render a ``tools`` list has no
native format, and callers fall back to their own (heron's agent: one generic JSON action). A
format builds the GBNF grammar of a turn that is either text or calls (text may come before the
calls where the syntax allows it) and parses such a turn back. Tool declarations go to the
template in the OpenAI function format (:func:`declarations`), as Hugging Face templates expect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, get_args

from heron.config import ToolFormatName
from heron.errors import UsageError
from heron.llm.schema import grammar_for

TOOL_FORMATS: tuple[str, ...] = get_args(ToolFormatName)  # the settings' names: auto, generic, then FORMATS


@dataclass(frozen=True)
class NativeCall:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ParsedTurn:
    """A turn written in a native format: the text before or instead of calls, and the calls."""

    text: str
    calls: tuple[NativeCall, ...]


@dataclass(frozen=True)
class ToolFormat:
    """One family's syntax. ``arguments_key``: the call object's key for the arguments; ``opening`` /
    ``closing`` wrap each call (hermes) or the list of calls (mistral); ``parallel``: several calls
    fit in one turn; ``text_first``: free text may come before the calls."""

    name: str
    label: str
    arguments_key: str
    opening: str
    closing: str
    as_list: bool
    parallel: bool
    text_first: bool

    def call_schema(self, tools: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """The JSON schema of one call: a tool's name, then its arguments (``tools``: name -> schema)."""
        alternatives = [
            {
                "type": "object",
                "properties": {"name": {"const": name}, self.arguments_key: parameters},
                "required": ["name", self.arguments_key],
            }
            for name, parameters in tools.items()
        ]
        return alternatives[0] if len(alternatives) == 1 else {"anyOf": alternatives}

    def grammar(
        self,
        call_schema: dict[str, Any] | None,
        max_calls: int,
        text_chars: int | None,
        text_suffix: str = "",
    ) -> str:
        """GBNF of a turn: up to ``max_calls`` calls matching ``call_schema`` (None: no call), or up to
        ``text_chars`` characters of text (None: no text) followed by ``text_suffix`` (a GBNF
        expression, e.g. a line of sources). With both, text may come first where the format allows
        it. Text never contains the start of a call, so the two never read alike."""
        if call_schema is None and text_chars is None:
            raise UsageError("a turn needs calls or text", "offer at least one tool or the answer")
        rules: list[str] = []
        branches: list[str] = []
        if call_schema is not None:
            rules.append(_renamed_root(grammar_for(call_schema), "heron-call"))
            rules.append(self._calls_rule(max(1, max_calls if self.parallel else 1)))
            branches.append("heron-calls")
        if text_chars is not None:
            rules.extend(self._text_rules(text_chars))
            if call_schema is not None and self.text_first:
                branches.append('heron-text "\\n" heron-calls')
            branches.append(f"heron-text {text_suffix}".strip())
        rules.append("root ::= " + " | ".join(branches))
        return "\n".join(rules) + "\n"

    def _text_rules(self, max_chars: int) -> list[str]:
        """Free text that never starts a call: its first character is not the opening's (``{`` for a
        bare JSON call), and the opening's first two characters never occur in it."""
        first = _class_char(self.opening[:1] or "{")
        second = _class_char(self.opening[1:2]) if len(self.opening) > 1 else ""
        char = (
            f"[^{first}\\x00] | {json.dumps(self.opening[:1])} [^{second}{first}\\x00]"
            if second
            else "[^\\x00]"
        )
        return [
            f"heron-text-char ::= {char}",
            f"heron-text ::= [^{first}\\x00] heron-text-char{{0,{max(0, max_chars - 1)}}}",
        ]

    def _calls_rule(self, max_calls: int) -> str:
        opening, closing = _gbnf_literal(self.opening), _gbnf_literal(self.closing)
        if self.as_list:  # one wrapper around a JSON list of calls
            more = f'(", " heron-call){{0,{max_calls - 1}}}' if max_calls > 1 else ""
            return f'heron-calls ::= {opening} "[" heron-call {more} "]" {closing}'.replace("  ", " ")
        one = f"{opening} heron-call {closing}" if self.opening else "heron-call"
        if max_calls == 1:
            return f"heron-calls ::= {one}"
        return f'heron-calls ::= {one} ("\\n" {one}){{0,{max_calls - 1}}}'

    def parse(self, text: str) -> ParsedTurn:
        """The text and the calls of a turn the grammar admitted (a turn that does not read as calls
        in this syntax is text)."""
        start = text.find(self.opening) if self.opening else _json_start(text)
        if start < 0:
            return ParsedTurn(text.strip(), ())
        prose, rest = text[:start].strip(), text[start:]
        try:
            if self.as_list:
                body = rest.removeprefix(self.opening).strip()
                values = json.loads(body.removesuffix(self.closing) if self.closing else body)
            else:
                chunks = rest.split(self.opening)[1:] if self.opening else [rest]
                values = [json.loads(c.split(self.closing)[0] if self.closing else c) for c in chunks]
            calls = tuple(NativeCall(v["name"], dict(v.get(self.arguments_key) or {})) for v in values)
        except (ValueError, KeyError, TypeError, AttributeError):
            return ParsedTurn(text.strip(), ())
        return ParsedTurn(prose, calls)

    def first_name(self, text: str) -> str | None:
        """The tool the first call of a turn being written names, once its name is whole; None before
        that, and for a turn of text.

        >>> hermes = FORMATS["hermes"]
        >>> hermes.first_name('<tool_call>\\n{"name": "pyth')
        >>> hermes.first_name('<tool_call>\\n{"name": "python"')
        'python'
        """
        start = text.find(self.opening) if self.opening else _json_start(text)
        if start < 0:
            return None
        named = _NAMED.match(text, start + len(self.opening))
        return named.group(1) if named else None

    def write(self, calls: Sequence[NativeCall], text: str = "") -> str:
        """A turn as the model writes it (what ``parse`` reads back)."""
        if len(calls) > 1 and not self.parallel:
            raise UsageError(f"the {self.label} format holds one call per turn", "write one call")
        objects = [{"name": c.name, self.arguments_key: c.arguments} for c in calls]
        if not objects:
            return text
        if self.as_list:
            body = f"{self.opening}{json.dumps(objects, ensure_ascii=False)}{self.closing}"
        else:
            body = "\n".join(
                f"{self.opening}{json.dumps(o, ensure_ascii=False)}{self.closing}" for o in objects
            )
        return f"{text}\n{body}" if text else body


FORMATS = {
    "hermes": ToolFormat(
        "hermes", "qwen/hermes", "arguments", "<tool_call>\n", "\n</tool_call>", False, True, True
    ),
    "llama3": ToolFormat("llama3", "llama 3", "parameters", "", "", False, False, False),
    "mistral": ToolFormat("mistral", "mistral", "arguments", "[TOOL_CALLS]", "", True, True, False),
}


def detect(template: str | None) -> ToolFormat | None:
    """The native format a chat template writes tool calls in, or None (no ``tools`` in the template,
    or a syntax heron does not know)."""
    if not template or not re.search(r"\btools\b", template):
        return None
    if "<tool_call>" in template:
        return FORMATS["hermes"]
    if "[TOOL_CALLS]" in template:
        return FORMATS["mistral"]
    if "<|start_header_id|>" in template and '"parameters"' in template:
        return FORMATS["llama3"]
    return None


def declarations(tools: Sequence[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """``(name, description, parameters)`` as the OpenAI function list chat templates render."""
    return [
        {"type": "function", "function": {"name": n, "description": d, "parameters": p}} for n, d, p in tools
    ]


_NAMED = re.compile(r'\s*\[?\s*\{\s*"name"\s*:\s*"([^"\\]+)"')  # a call's start, its name whole


def _json_start(text: str) -> int:
    return 0 if text.startswith("{") else -1  # as the grammar reads it: text never starts with "{"


def _renamed_root(grammar: str, name: str) -> str:
    return re.sub(r"^root ::=", f"{name} ::=", grammar, flags=re.MULTILINE)


def _gbnf_literal(text: str) -> str:
    return json.dumps(text) if text else ""


def _class_char(char: str) -> str:
    """``char`` as it is written inside a GBNF character class."""
    return "\\" + char if char in "]\\^-[" else char
