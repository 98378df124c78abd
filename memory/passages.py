"""The values that memory stores and returns: a chunk before storage, a passage ready to be cited.

A record's searchable text is its heading path (metadata ``heading``) followed by its text
(``indexed_text``): both the embedding and the BM25 index read that, so a section found by its
heading ("Great blue heron > Size") does not need to repeat the heading's words. The stored text, what
a user and the model read, is the text alone; the heading path shows in the citation.
"""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Keys of the Chroma metadata heron writes for every document chunk.
SOURCE_KEY, PAGE_KEY, HEADING_KEY, START_KEY, END_KEY = "source", "page", "heading", "start", "end"


class Location(BaseModel):
    """Where a passage sits in its source: page (PDF, 1-based), heading path, character offsets.

    Offsets index the text heron extracted: the file itself for text, Markdown and code, the page's
    text for a PDF, the visible text for HTML.
    """

    model_config = ConfigDict(frozen=True)

    page: int | None = None
    heading: str | None = None
    start: int = Field(0, ge=0)
    end: int = Field(0, ge=0)

    def describe(self) -> str:
        """``p. 3, Setup > Install, chars 120-980``: the parts that are known."""
        parts = []
        if self.page is not None:
            parts.append(f"p. {self.page}")
        if self.heading:
            parts.append(self.heading)
        parts.append(f"chars {self.start}-{self.end}")
        return ", ".join(parts)


class Passage(BaseModel):
    """A retrieved piece of text with everything needed to cite it.

    ``score`` is cosine similarity for vector search, the BM25 score for lexical search and, for
    hybrid search, the sum of both scores each scaled to [0, 1] within its candidate list (0 to 2):
    comparable within one result list only.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    text: str
    source: str
    location: Location = Field(default_factory=Location)
    score: float = 0.0
    metadata: dict[str, Any] = Field(default_factory=dict, description="every stored metadata value")

    def citation(self) -> str:
        """``notes/setup.md (Setup > Install, chars 120-980)``."""
        return f"{self.source} ({self.location.describe()})"

    @classmethod
    def from_record(cls, id: str, text: str, metadata: dict[str, Any] | None, score: float) -> Passage:
        meta = dict(metadata or {})
        location = Location(
            page=meta.get(PAGE_KEY),
            heading=meta.get(HEADING_KEY),
            start=int(meta.get(START_KEY, 0)),
            end=int(meta.get(END_KEY, len(text))),
        )
        return cls(
            id=id,
            text=text,
            source=str(meta.get(SOURCE_KEY, "")),
            location=location,
            score=score,
            metadata=meta,
        )


class Chunk(BaseModel):
    """A piece of a source file, split and located, not yet stored."""

    model_config = ConfigDict(frozen=True)

    text: str
    source: str
    location: Location
    occurrence: int = Field(0, ge=0, description="how many earlier chunks of this source have the same text")

    @property
    def id(self) -> str:
        """Stable id from source and what is indexed: the same text under the same heading path in
        the same file always gets the same id, and a renamed heading gives a new one (new vector)."""
        return chunk_id(self.source, self.text, self.occurrence, self.location.heading)

    @property
    def indexed_text(self) -> str:
        return indexed_text(self.text, self.location.heading)

    def metadata(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Chroma metadata: only scalar values, and no None (Chroma rejects it)."""
        meta: dict[str, Any] = {
            SOURCE_KEY: self.source,
            START_KEY: self.location.start,
            END_KEY: self.location.end,
        }
        if self.location.page is not None:
            meta[PAGE_KEY] = self.location.page
        if self.location.heading:
            meta[HEADING_KEY] = self.location.heading
        meta.update(extra or {})
        return meta


def indexed_text(text: str, heading: str | None) -> str:
    """What search embeds and tokenizes for a record: ``Setup > Install\n\n<text>``, or the text."""
    return f"{heading}\n\n{text}" if heading else text


def chunk_id(source: str, text: str, occurrence: int = 0, heading: str | None = None) -> str:
    """A record's id; without a heading it is the id earlier versions gave the same text."""
    digest = hashlib.sha256()
    for part in (source, str(occurrence), text, *([heading] if heading else [])):
        digest.update(part.encode("utf-8", errors="surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()[:32]
