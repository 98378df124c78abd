"""Sentence embeddings for the model-free scorers: heron.memory's Embedder (all-MiniLM-L6-v2 by
default, loaded lazily, offline) plus a per-text cache, since evals embed the same texts often."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType

import numpy as np

from heron.config import Settings
from heron.memory.embeddings import Embedder


class SentenceEmbedder:
    """Unit-length sentence vectors with a per-instance cache.

    The model loads on the first ``encode``; ``close`` (or leaving a ``with`` block) frees it::

        with SentenceEmbedder.from_settings(load_settings()) as embedder:
            vectors = embedder.encode(["a sentence", "another one"])
    """

    def __init__(self, model_path: str, batch_size: int = 64, embedder: Embedder | None = None) -> None:
        self.model_path = model_path
        self._embedder = embedder or Embedder(model_path, batch_size=batch_size)
        self._cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_settings(cls, settings: Settings) -> SentenceEmbedder:
        embedder = Embedder.from_settings(settings)
        return cls(embedder.model, embedder=embedder)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """One unit-length row per text (shape ``len(texts) x dim``); repeated texts are encoded once."""
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            vectors = self._embedder.embed_documents(missing)
            self._cache.update(zip(missing, np.asarray(vectors, dtype=np.float32), strict=True))
        if not texts:
            return np.zeros((0, self._embedder.dimension), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts])

    def similarity(self, first: Sequence[str], second: Sequence[str]) -> np.ndarray:
        """Cosine similarities, shape ``len(first) x len(second)``."""
        return self.encode(first) @ self.encode(second).T

    def close(self) -> None:
        self._embedder.close()
        self._cache.clear()

    def __enter__(self) -> SentenceEmbedder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
