"""Cutting documents into located chunks with langchain-text-splitters.

- Markdown (and HTML, whose headings become Markdown headings): the text is first cut at its
  headings, so a chunk never spans two sections and carries its heading path ("Setup > Install");
  each section is then split with the Markdown-aware recursive splitter.
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
    start: int
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
    text; locations still point at the original."""
    splitter = _splitter(document, chunk_size, chunk_overlap)
    seen: Counter[str] = Counter()
    chunks: list[Chunk] = []
    for section in document.sections:
        spans = (
            _heading_spans(section.text)
            if document.kind in ("markdown", "html")
            else [_Span(0, len(section.text), None)]
        )
        for span in spans:
            for start, piece in _split_span(splitter, section.text, span):
                text = transform(piece) if transform else piece
                location = Location(
                    page=section.page, heading=span.heading, start=start, end=start + len(piece)
                )
                chunks.append(Chunk(text=text, source=source, location=location, occurrence=seen[text]))
                seen[text] += 1
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
    body = text[span.start : span.end]
    if not body.strip():
        return
    pieces = [p for p in splitter.create_documents([body]) if p.page_content.strip()]
    for piece in pieces:
        # A heading cut off from its long section is already in every chunk's metadata: drop it.
        if len(pieces) > 1 and _HEADING.match(piece.page_content) and "\n" not in piece.page_content:
            continue
        yield span.start + int(piece.metadata["start_index"]), piece.page_content


def _heading_spans(text: str) -> list[_Span]:
    """Cut Markdown at ATX headings (outside fenced code); each span starts at its heading line."""
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
            if offset > span_start:
                spans.append(_Span(span_start, offset, heading))
            level = len(match.group(1))
            path = [(lvl, title) for lvl, title in path if lvl < level] + [(level, match.group(2).strip())]
            heading = " > ".join(title for _, title in path)
            span_start = offset
        offset += len(line)
    spans.append(_Span(span_start, len(text), heading))
    return spans
