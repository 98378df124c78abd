"""Lexical retrieval: BM25 (via ``bm25s``) over the chunks of one collection.

The index lives in memory. ``VectorMemory`` rebuilds it lazily, on the first lexical search after
the collection's revision stamp changed (every write by heron bumps it), so it always matches what
Chroma holds, including writes made by another process or through a shared Chroma server.
Words are stemmed (Snowball English, PyStemmer) on both sides, so "wingspans" finds "wingspan".
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

_STOPWORDS = "en"


def _stem() -> Callable[[list[str]], list[str]]:
    import Stemmer

    return Stemmer.Stemmer("english").stemWords


class LexicalIndex:
    """BM25 scores over a fixed list of texts, each known by its chunk id."""

    def __init__(self, ids: Sequence[str], texts: Sequence[str]) -> None:
        import bm25s

        # bm25s sets its logger to DEBUG when imported (after heron quieted the libraries), and a
        # handler some library installs on the root logger then prints "Building index ..." lines
        logging.getLogger("bm25s").setLevel(logging.WARNING)
        self.ids = list(ids)
        self._position = {chunk_id: i for i, chunk_id in enumerate(self.ids)}
        self._bm25 = bm25s.BM25()
        self._stem = _stem()
        if self.ids:
            tokens = bm25s.tokenize(
                list(texts), stopwords=_STOPWORDS, stemmer=self._stem, show_progress=False
            )
            self._bm25.index(tokens, show_progress=False)

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int, allowed_ids: set[str] | None = None) -> list[tuple[str, float]]:
        """The ``k`` best ``(chunk_id, score)`` pairs; chunks sharing no term with the query are left out."""
        import bm25s

        if not self.ids or k <= 0:
            return []
        query_tokens = bm25s.tokenize(
            [query], stopwords=_STOPWORDS, stemmer=self._stem, return_ids=False, show_progress=False
        )
        if not query_tokens[0]:
            return []
        mask = None
        if allowed_ids is not None:
            mask = np.zeros(len(self.ids), dtype=np.float32)
            mask[[self._position[i] for i in allowed_ids if i in self._position]] = 1.0
        hits, scores = self._bm25.retrieve(
            query_tokens, k=min(k, len(self.ids)), show_progress=False, weight_mask=mask, n_threads=1
        )
        return [(self.ids[int(h)], float(s)) for h, s in zip(hits[0], scores[0], strict=True) if s > 0]
