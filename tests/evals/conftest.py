"""Heavy models for the eval tests, loaded once per test module: MiniLM and the bundled GGUF."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from heron.bundled import bundled_embedding_path, bundled_gguf_path
from heron.evals.embeddings import SentenceEmbedder
from heron.llm import LocalLLM


@pytest.fixture(scope="module")
def embedder() -> Iterator[SentenceEmbedder]:
    path = bundled_embedding_path()
    assert path is not None, "the bundled all-MiniLM-L6-v2 is not installed (run `make setup`)"
    with SentenceEmbedder(str(path)) as loaded:
        yield loaded


@pytest.fixture(scope="module")
def llm() -> Iterator[LocalLLM]:
    path = bundled_gguf_path()
    assert path is not None, "the bundled SmolLM2 GGUF is not installed (run `make setup`)"
    with LocalLLM(path, context_size=2048, seed=0) as loaded:
        yield loaded
