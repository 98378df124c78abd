"""Cutting documents into located chunks with langchain-text-splitters.

- Markdown (and HTML, whose headings become Markdown headings): the text is first cut at its
  headings, so a chunk never spans two sections and carries its heading path ("Setup > Install");
  each section is then split with the Markdown-aware recursive splitter. A heading with no body of
  its own (a title right above its first section) is merged into the section that follows, and a
  piece that holds only heading lines is never a chunk: search indexes the heading path with every
  chunk (``Chunk.indexed_text``), so a chunk's body is what it must contribute.
- Other files have no heading path: a file's name is not indexed, so renaming a file or naming it
  badly ("scan-0042.pdf") never changes what a query finds.
- Source code: the recursive splitter for the file's language (class and function boundaries first).
- Everything else: the recursive splitter on paragraphs, lines, sentences, words.

Offsets are exact: ``text[start:end] == chunk.text`` for the section's text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from langchain_text_splitters import Language, RecursiveCharacterTextSplitter

from heron.memory.loaders import Document
from heron.memory.passages import Chunk, Location

_HEADING = re.compile(r"^ {0,3}(#{1,6})[ \t]+(.+?)[ \t#]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(frozen=True)
class _Span:
    """A section: from its heading line (``start``) past its heading lines (``body_start``) to ``end``."""

    start: int
    body_start: int
    end: int
    heading: str | None


def split_document(
    document: Document,
    source: str,
    chunk_size: int,
    chunk_overlap: int,
    transform: Callable[[str], str] | None = None,
) -> list[Chunk]:
    """Chunks of ``document`` in reading order. ``transform`` (redaction) rewrites each chunk's stored
    text and heading path; offsets still point at the original."""
    splitter = _splitter(document, chunk_size, chunk_overlap)
    seen: Counter[tuple[str | None, str]] = Counter()
    chunks: list[Chunk] = []
    for section in document.sections:
        spans = (
            _heading_spans(section.text)
            if document.kind in ("markdown", "html")
            else [_Span(0, 0, len(section.text), None)]
        )
        for span in spans:
            heading = transform(span.heading) if transform and span.heading else span.heading
            for start, piece in _split_span(splitter, section.text, span):
                text = transform(piece) if transform else piece
                location = Location(page=section.page, heading=heading, start=start, end=start + len(piece))
                key = (heading, text)
                chunks.append(Chunk(text=text, source=source, location=location, occurrence=seen[key]))
                seen[key] += 1
    return chunks


def _splitter(document: Document, chunk_size: int, chunk_overlap: int) -> RecursiveCharacterTextSplitter:
    options: dict[str, Any] = {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "add_start_index": True,
    }
    if document.kind in ("markdown", "html"):
        return RecursiveCharacterTextSplitter.from_language(Language.MARKDOWN, **options)
    if document.kind == "code" and document.language is not None:
        return RecursiveCharacterTextSplitter.from_language(document.language, **options)
    return RecursiveCharacterTextSplitter(**options)


def _split_span(
    splitter: RecursiveCharacterTextSplitter, text: str, span: _Span
) -> Iterator[tuple[int, str]]:
    if not text[span.body_start : span.end].strip():
        return
    for piece in splitter.create_documents([text[span.start : span.end]]):
        start = span.start + int(piece.metadata["start_index"])
        # Heading lines cut off from their long section are in every chunk's heading path: drop them.
        if piece.page_content.strip() and start + len(piece.page_content) > span.body_start:
            yield start, piece.page_content


def _heading_spans(text: str) -> list[_Span]:
    """Cut Markdown at ATX headings (outside fenced code); each span starts at its heading line, and
    a heading without a body starts the span of the section after it."""
    spans: list[_Span] = []
    path: list[tuple[int, str]] = []
    span_start, heading = 0, None
    fence: str | None = None
    offset = 0
    for line in text.splitlines(keepends=True):
        stripped = line.rstrip("\r\n")
        fence_match = _FENCE.match(stripped)
        if fence_match:
            marker = fence_match.group(1)[0] * 3
            fence = None if fence == marker else (fence or marker)
        elif fence is None and (match := _HEADING.match(stripped)):
            body_start = _body_start(text, span_start)
            if text[body_start:offset].strip():
                spans.append(_Span(span_start, body_start, offset, heading))
                span_start = offset
            # else the open span holds only headings: they open the span of this section
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2).strip())]
            heading = " > ".join(title for _, title in path)
        offset += len(line)
    spans.append(_Span(span_start, _body_start(text, span_start), len(text), heading))
    return spans


def _body_start(text: str, start: int) -> int:
    """The offset after the heading lines and blank lines that open the span at ``start``."""
    offset = start
    while offset < len(text):
        newline = text.find("\n", offset)
        end = len(text) if newline < 0 else newline + 1
        line = text[offset:end].rstrip("\r\n")
        if line.strip() and not _HEADING.match(line):
            break
        offset = end
    return offset
