"""Episodic memory: conversation turns, facts and task outcomes, recalled by relevance.

Stored in their own collection (``[memory] conversation_collection``), apart from ingested documents,
so a search over documents never returns chat history and the other way round.

Example::

    with ConversationMemory(load_settings()) as memory:
        memory.remember("The user prefers metric units.", kind="fact", session="s1")
        memory.remember_turn("s1", "user", "How far is Paris from Berlin?")
        for passage in memory.recall("which units does the user like?", k=3):
            print(passage.metadata["kind"], passage.text)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Literal

from heron.config import Settings
from heron.errors import UsageError
from heron.memory.embeddings import Embedder
from heron.memory.passages import Passage
from heron.memory.vector_memory import SearchMode, VectorMemory

MemoryKind = Literal["turn", "fact", "outcome", "note"]
MEMORY_KINDS: tuple[MemoryKind, ...] = ("turn", "fact", "outcome", "note")


class ConversationMemory:
    """Remembers short texts with their kind, session and time; recalls the most relevant ones."""

    def __init__(
        self, settings: Settings, embedder: Embedder | None = None, collection: str | None = None
    ) -> None:
        self.store = VectorMemory(settings, collection or settings.memory.conversation_collection, embedder)

    def remember(
        self,
        text: str,
        kind: MemoryKind = "note",
        session: str | None = None,
        role: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Store ``text`` (redacted if configured) and return its id. The same text in the same
        session is stored once; remembering it again refreshes its time."""
        if not text.strip():
            raise UsageError("nothing to remember: the text is empty", "pass the sentence to store")
        if kind not in MEMORY_KINDS:
            raise UsageError(f"unknown memory kind {kind!r}", f"use one of {', '.join(MEMORY_KINDS)}")
        meta: dict[str, Any] = dict(metadata or {})
        meta.update(
            {"source": f"conversation:{session or 'global'}", "kind": kind, "created_at": time.time()}
        )
        if session:
            meta["session"] = session
        if role:
            meta["role"] = role
        meta["end"] = len(text)
        return self.store.add_texts([text], [meta])[0]

    def remember_turn(self, session: str, role: str, content: str) -> str:
        return self.remember(content, kind="turn", session=session, role=role)

    def remember_outcome(self, session: str, task: str, outcome: str, success: bool) -> str:
        status = "succeeded" if success else "failed"
        return self.remember(
            f"Task: {task}\nOutcome ({status}): {outcome}",
            kind="outcome",
            session=session,
            metadata={"success": success},
        )

    def recall(
        self,
        query: str,
        k: int = 5,
        session: str | None = None,
        kinds: Sequence[MemoryKind] | None = None,
        mode: SearchMode = "hybrid",
    ) -> list[Passage]:
        """The ``k`` memories most relevant to ``query``, optionally from one session or of some kinds."""
        clauses: list[dict[str, Any]] = []
        if session:
            clauses.append({"session": session})
        if kinds:
            clauses.append({"kind": {"$in": list(kinds)}})
        filters = clauses[0] if len(clauses) == 1 else ({"$and": clauses} if clauses else None)
        return self.store.search(query, k=k, filters=filters, mode=mode)

    def count(self) -> int:
        return self.store.count()

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> ConversationMemory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
