"""Google-style docstrings split into a tool description and per-argument descriptions."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field

# Sections that end the description; only ``Args:`` is read, the rest is dropped.
_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Returns|Return|Yields|Raises|Examples?|Notes?|Attributes)\s*:\s*$"
)
# "name: text" or "name (type): text"
_ARG_LINE = re.compile(r"^(\*{0,2}[A-Za-z_]\w*)\s*(?:\([^)]*\))?\s*:\s*(.*)$")


@dataclass(frozen=True)
class ParsedDocstring:
    description: str
    args: dict[str, str] = field(default_factory=dict)


def parse_docstring(doc: str | None) -> ParsedDocstring:
    """Split ``doc`` at its first section header; ``Args:`` entries become ``args``.

    >>> parse_docstring("Add two numbers.\\n\\nArgs:\\n    a: the first\\n    b: the second").args
    {'a': 'the first', 'b': 'the second'}
    """
    lines = inspect.cleandoc(doc or "").splitlines()
    description: list[str] = []
    args: dict[str, str] = {}
    section: str | None = None
    current: str | None = None
    arg_indent: int | None = None
    for line in lines:
        header = _SECTION.match(line.strip()) if not line.startswith((" ", "\t")) else None
        if header:
            section = header.group(1).lower()
            current, arg_indent = None, None
            continue
        if section is None:
            description.append(line)
            continue
        if section not in ("args", "arguments", "parameters") or not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(line.strip())
        if match and (arg_indent is None or indent <= arg_indent):
            arg_indent = indent
            current = match.group(1).lstrip("*")
            args[current] = match.group(2).strip()
        elif current is not None:  # a continuation line of the previous argument
            args[current] = f"{args[current]} {line.strip()}".strip()
    return ParsedDocstring(description=_unwrap("\n".join(description).strip()), args=args)


def _unwrap(text: str) -> str:
    """Join the hard-wrapped lines of prose paragraphs; lists and indented blocks keep their lines."""
    paragraphs = []
    for paragraph in re.split(r"\n\s*\n", text):
        lines = paragraph.splitlines()
        if any(line.startswith((" ", "\t", "- ", "* ", ">>>")) for line in lines):
            paragraphs.append(paragraph)
        else:
            paragraphs.append(" ".join(line.strip() for line in lines))
    return "\n\n".join(paragraphs)
