"""Conversation memory: its own collection, recall by relevance, session and kind filters."""

from __future__ import annotations

import pytest

from heron.config import Settings
from heron.errors import UsageError
from heron.memory.conversation import ConversationMemory
from heron.memory.embeddings import Embedder
from heron.memory.vector_memory import VectorMemory


def test_recall_returns_the_most_relevant_memory_first(settings: Settings, embedder: Embedder) -> None:
    with ConversationMemory(settings, embedder) as memory:
        memory.remember("The user prefers temperatures in Celsius.", kind="fact", session="s1")
        memory.remember_turn("s1", "user", "Book a table for two at an Italian restaurant.")
        memory.remember_outcome("s1", "summarise the heron report", "wrote a 3-line summary", success=True)
        top = memory.recall("which temperature unit does the user like?", k=2)
    assert top[0].text == "The user prefers temperatures in Celsius."
    assert top[0].metadata["kind"] == "fact" and top[0].metadata["session"] == "s1"


def test_recall_filters_by_session_and_kind(settings: Settings, embedder: Embedder) -> None:
    with ConversationMemory(settings, embedder) as memory:
        memory.remember_turn("a", "user", "My favourite bird is the grey heron.")
        memory.remember_turn("b", "user", "My favourite bird is the kingfisher.")
        memory.remember("Birds are descended from dinosaurs.", kind="fact", session="b")
        from_a = memory.recall("favourite bird", k=5, session="a")
        turns_b = memory.recall("bird", k=5, session="b", kinds=["turn"])
    assert [p.text for p in from_a] == ["My favourite bird is the grey heron."]
    assert [p.text for p in turns_b] == ["My favourite bird is the kingfisher."]


def test_the_same_text_in_the_same_session_is_stored_once(settings: Settings, embedder: Embedder) -> None:
    with ConversationMemory(settings, embedder) as memory:
        first = memory.remember("Deadline is Friday.", session="s")
        second = memory.remember("Deadline is Friday.", session="s")
        other = memory.remember("Deadline is Friday.", session="t")
        assert first == second != other
        assert memory.count() == 2


def test_conversation_memory_lives_apart_from_documents(settings: Settings, embedder: Embedder) -> None:
    with (
        ConversationMemory(settings, embedder) as conversation,
        VectorMemory(settings, embedder=embedder) as docs,
    ):
        conversation.remember("The user's cat is called Miso.", kind="fact")
        docs.add_texts(["Chroma stores vectors."], [{"source": "notes.txt"}])
        assert [p.text for p in docs.search("cat called Miso")] == ["Chroma stores vectors."]
        assert conversation.store.collection_name == settings.memory.conversation_collection
        assert conversation.count() == 1


def test_remember_redacts_when_enabled(settings: Settings, embedder: Embedder) -> None:
    redacting = settings.model_copy(
        update={"memory": settings.memory.model_copy(update={"redact_personal_data": True})}
    )
    with ConversationMemory(redacting, embedder) as memory:
        memory.remember("My card is 4111 1111 1111 1111, email me at kim@example.org", kind="fact")
        stored = memory.recall("card email", k=1)[0].text
    assert "4111" not in stored and "kim@example.org" not in stored
    assert "[REDACTED:card]" in stored and "[REDACTED:email]" in stored


def test_bad_memories_are_usage_errors(settings: Settings, embedder: Embedder) -> None:
    with ConversationMemory(settings, embedder) as memory:
        with pytest.raises(UsageError, match="empty"):
            memory.remember("   ")
        with pytest.raises(UsageError, match="unknown memory kind"):
            memory.remember("x", kind="dream")
