"""``VectorMemory``: one Chroma collection of text chunks with vector, BM25 and hybrid search.

Example::

    from heron.config import load_settings
    from heron.memory import VectorMemory

    with VectorMemory(load_settings()) as memory:
        memory.add_texts(["Herons hunt fish in shallow water."], [{"source": "notes.txt"}])
        for passage in memory.search("what do herons eat?", k=3):
            print(passage.citation(), passage.text)

Chroma, the embedding model and the BM25 index all load on first use; ``close`` (or the ``with``
block) releases them. Vectors are computed by heron's :class:`Embedder` and handed to Chroma, so
Chroma's own default embedding function (which would download a model) is never used.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from heron.config import COLLECTION_NAME_RULE, Settings, collection_name_problem
from heron.errors import ConfigError, UsageError
from heron.memory.chroma_client import ServerCalls, open_chroma_client
from heron.memory.embeddings import Embedder
from heron.memory.lexical import LexicalIndex
from heron.memory.passages import HEADING_KEY, SOURCE_KEY, Passage, chunk_id, indexed_text
from heron.memory.ranking import maximal_marginal_relevance, relative_score_fusion
from heron.memory.redaction import Redactor

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.collection_configuration import CreateHNSWConfiguration
    from chromadb.api.models.Collection import Collection

SearchMode = Literal["hybrid", "vector", "bm25"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "bm25")

REVISION_KEY = "heron:revision"  # changes on every write, so readers know when to rebuild BM25
DIMENSION_KEY = "heron:embedding_dimension"
MODEL_KEY = "heron:embedding_model"
# Chroma's defaults (ef 100) cost about a point of recall@1 on a 5k-passage corpus against exact
# search, and made two builds of the same corpus differ by as much; these make HNSW search
# near-exact at that size for a few milliseconds per query.
HNSW_CONFIGURATION: CreateHNSWConfiguration = {"space": "cosine", "ef_construction": 200, "ef_search": 256}
_CANDIDATES_PER_RESULT = 4  # each ranking feeding fusion or MMR returns k * this many candidates
_MIN_CANDIDATES = 20


class VectorMemory:
    """A Chroma collection of text with stable ids, searchable by meaning, by words, or both."""

    def __init__(
        self,
        settings: Settings,
        collection: str | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.settings = settings
        self.collection_name = validate_collection_name(collection or settings.memory.collection)
        self._embedder = embedder
        self._owns_embedder = embedder is None
        self._client: ClientAPI | None = None
        self._collection: Collection | None = None
        self._lexical: _LexicalCache | None = None
        self.redactor = Redactor() if settings.memory.redact_personal_data else None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def client(self) -> ClientAPI:
        if self._client is None:
            self._client = open_chroma_client(self.settings)
        return self._client

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = Embedder.from_settings(self.settings)
        return self._embedder

    @property
    def collection(self) -> Collection:
        """The Chroma collection, created (cosine space, no embedding function) on first use."""
        if self._collection is None:
            collection = self.client.get_or_create_collection(
                self.collection_name,
                embedding_function=None,
                configuration={"hnsw": HNSW_CONFIGURATION},
                metadata={REVISION_KEY: uuid.uuid4().hex},
            )
            self._collection = self._served(collection)
        return self._collection

    def close(self) -> None:
        """Release Chroma, the BM25 index and (when this object loaded it) the embedding model."""
        if self._client is not None:
            close = getattr(self._client, "close", None)
            if close is not None:
                close()
        self._client = None
        self._collection = None
        self._lexical = None
        if self._owns_embedder and self._embedder is not None:
            self._embedder.close()
            self._embedder = None

    def __enter__(self) -> VectorMemory:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------------

    def count(self) -> int:
        return self.collection.count()

    def max_batch_size(self) -> int:
        return int(self.client.get_max_batch_size())

    def redact(self, text: str) -> str:
        """``text`` with personal data masked when ``memory.redact_personal_data`` is on."""
        return self.redactor.redact(text) if self.redactor else text

    def add_texts(
        self, texts: Sequence[str], metadatas: Sequence[Mapping[str, Any]] | None = None
    ) -> list[str]:
        """Store free texts (redacted if configured); ids come from source, heading and content, so
        adding the same text for the same source again stores nothing new. Returns the ids. A
        ``heading`` in a text's metadata is searched with it (see ``indexed_text``)."""
        metadatas = [dict(m) for m in metadatas] if metadatas else [{} for _ in texts]
        if len(metadatas) != len(texts):
            raise UsageError(
                f"{len(texts)} texts but {len(metadatas)} metadatas", "pass one metadata per text"
            )
        stored = [self.redact(t) for t in texts]
        ids = [
            chunk_id(str(m.get(SOURCE_KEY, "")), t, heading=_heading(m))
            for t, m in zip(stored, metadatas, strict=True)
        ]
        unique = dict(zip(ids, zip(stored, metadatas, strict=True), strict=True))
        self.write(list(unique), [t for t, _ in unique.values()], [m for _, m in unique.values()])
        return ids

    def write(
        self,
        ids: Sequence[str],
        texts: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        embeddings: np.ndarray | None = None,
    ) -> None:
        """Upsert records in batches under Chroma's max batch size. Without ``embeddings``, embeds
        each text with its metadata's heading path (``indexed_text``), as search expects."""
        if not ids:
            return
        if embeddings is None:
            embeddings = self.embedder.embed_documents(
                [indexed_text(t, _heading(m)) for t, m in zip(texts, metadatas, strict=True)]
            )
        self._check_dimension(embeddings.shape[1])
        step = self.max_batch_size()
        for start in range(0, len(ids), step):
            end = start + step
            self.collection.upsert(
                ids=list(ids[start:end]),
                documents=list(texts[start:end]),
                metadatas=[dict(m) for m in metadatas[start:end]],
                embeddings=embeddings[start:end],
            )
        self.mark_changed()

    def update_metadata(self, ids: Sequence[str], metadatas: Sequence[Mapping[str, Any]]) -> None:
        step = self.max_batch_size()
        for start in range(0, len(ids), step):
            end = start + step
            self.collection.update(
                ids=list(ids[start:end]), metadatas=[dict(m) for m in metadatas[start:end]]
            )
        if ids:
            self.mark_changed()

    def delete(self, ids: Sequence[str]) -> None:
        step = self.max_batch_size()
        for start in range(0, len(ids), step):
            self.collection.delete(ids=list(ids[start : start + step]))
        if ids:
            self.mark_changed()

    def mark_changed(self) -> None:
        """Stamp the collection with a new revision: every reader's BM25 index is stale from now on."""
        metadata = dict(self._fresh_collection().metadata or {})
        metadata[REVISION_KEY] = uuid.uuid4().hex
        if self._embedder is not None:
            metadata.setdefault(MODEL_KEY, self._embedder.name)
        self.collection.modify(metadata=metadata)

    # -- reading ---------------------------------------------------------------------------------

    def get(self, ids: Sequence[str]) -> list[Passage]:
        """Passages by id, in the order given; unknown ids are left out."""
        if not ids:
            return []
        found = self.collection.get(ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            i: Passage.from_record(i, doc or "", dict(meta or {}), 1.0)
            for i, doc, meta in zip(
                found["ids"], found["documents"] or [], found["metadatas"] or [], strict=True
            )
        }
        return [by_id[i] for i in ids if i in by_id]

    def iter_records(
        self, include: Sequence[str] = ("metadatas",)
    ) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every ``(id, text, metadata)`` in the collection, fetched in pages."""
        step = self.max_batch_size()
        offset = 0
        while True:
            page = self.collection.get(limit=step, offset=offset, include=list(include))  # type: ignore[arg-type]
            ids = page["ids"]
            docs = page.get("documents") or [""] * len(ids)
            metas = page.get("metadatas") or [{}] * len(ids)
            yield from zip(ids, docs, (dict(m or {}) for m in metas), strict=True)
            if len(ids) < step:
                return
            offset += step

    def search(
        self,
        query: str,
        k: int = 5,
        filters: Mapping[str, Any] | None = None,
        mode: SearchMode = "hybrid",
        mmr: bool = False,
        mmr_lambda: float = 0.5,
        distinct: bool = False,
    ) -> list[Passage]:
        """The ``k`` best passages for ``query``, best first.

        ``mode``: ``"vector"`` (cosine similarity of embeddings), ``"bm25"`` (lexical), or
        ``"hybrid"`` (both, each list's scores scaled to [0, 1] and summed). ``filters`` is a Chroma
        ``where`` clause on chunk metadata, e.g. ``{"source": "/docs/a.md"}`` or
        ``{"page": {"$gte": 3}}``; it applies to both rankings. ``mmr`` re-ranks a larger candidate
        set for diversity (maximal marginal relevance, ``mmr_lambda`` = 1 for pure relevance).
        ``distinct``: a passage whose text (whitespace aside) is that of a better-ranked one is left
        out, so a file ingested from two places fills two of the ``k`` places once (the agent's
        ``retrieve`` asks for this).
        """
        if mode not in SEARCH_MODES:
            raise UsageError(f"unknown search mode {mode!r}", f"use one of {', '.join(SEARCH_MODES)}")
        if k < 1:
            raise UsageError(f"k must be at least 1, got {k}", "ask for one or more passages")
        if not query.strip() or self.count() == 0:
            return []
        where = dict(filters) if filters else None
        widen = mmr or distinct or mode == "hybrid"
        pool = max(k * _CANDIDATES_PER_RESULT, _MIN_CANDIDATES) if widen else k
        records: dict[str, tuple[str, dict[str, Any]]] = {}
        rankings: list[list[tuple[str, float]]] = []
        query_vector = None
        if mode in ("vector", "hybrid"):
            query_vector = self.embedder.embed_query(query)
            rankings.append(self._vector_ranking(query_vector, pool, where, records))
        if mode in ("bm25", "hybrid"):
            rankings.append(self._lexical_ranking(query, pool, where, records))
        ranked = relative_score_fusion(rankings) if mode == "hybrid" else rankings[0]
        if mmr and ranked:
            ranked = self._diversify(query, query_vector, ranked, k, mmr_lambda)
        ranked = [(i, score) for i, score in ranked if i in records]
        if distinct:
            ranked = _first_of_each_text(ranked, records)
        return [Passage.from_record(i, *records[i], score) for i, score in ranked[:k]]

    # -- internals -------------------------------------------------------------------------------

    def _vector_ranking(
        self,
        query_vector: np.ndarray,
        n: int,
        where: dict[str, Any] | None,
        records: dict[str, tuple[str, dict[str, Any]]],
    ) -> list[tuple[str, float]]:
        self._check_dimension(len(query_vector))
        try:
            found = self.collection.query(
                query_embeddings=[query_vector],
                n_results=n,
                where=where,
                include=["documents", "metadatas", "distances"],
            )
        except ValueError as exc:
            raise _filter_error(where, exc) from exc
        ranking = []
        ids = found["ids"][0]
        docs = (found["documents"] or [[""] * len(ids)])[0]
        metas = (found["metadatas"] or [[{}] * len(ids)])[0]
        distances = (found["distances"] or [[1.0] * len(ids)])[0]
        for i, doc, meta, distance in zip(ids, docs, metas, distances, strict=True):
            records[i] = (doc or "", dict(meta or {}))
            ranking.append((i, 1.0 - float(distance)))  # cosine space: distance = 1 - similarity
        return ranking

    def _lexical_ranking(
        self, query: str, n: int, where: dict[str, Any] | None, records: dict[str, tuple[str, dict[str, Any]]]
    ) -> list[tuple[str, float]]:
        index, texts = self._lexical_index()
        allowed = None
        if where:
            try:
                allowed = set(self.collection.get(where=where, include=[])["ids"])
            except ValueError as exc:
                raise _filter_error(where, exc) from exc
        ranking = index.search(query, n, allowed)
        for i, _ in ranking:
            records.setdefault(i, texts[i])
        return ranking

    def _lexical_index(self) -> tuple[LexicalIndex, dict[str, tuple[str, dict[str, Any]]]]:
        """The BM25 index, rebuilt when the collection's revision stamp or size changed."""
        stamp = (str((self._fresh_collection().metadata or {}).get(REVISION_KEY, "")), self.count())
        if self._lexical is None or self._lexical.stamp != stamp:
            records = {i: (doc, meta) for i, doc, meta in self.iter_records(("documents", "metadatas"))}
            texts = [indexed_text(doc, _heading(meta)) for doc, meta in records.values()]
            index = LexicalIndex(list(records), texts)
            self._lexical = _LexicalCache(stamp, index, records)
        return self._lexical.index, self._lexical.records

    def _diversify(
        self,
        query: str,
        query_vector: np.ndarray | None,
        ranked: list[tuple[str, float]],
        k: int,
        mmr_lambda: float,
    ) -> list[tuple[str, float]]:
        ids = [i for i, _ in ranked]
        found = self.collection.get(ids=ids, include=["embeddings"])
        vectors = dict(zip(found["ids"], found["embeddings"], strict=True))  # type: ignore[arg-type]
        ids = [i for i in ids if i in vectors]
        if query_vector is None:
            query_vector = self.embedder.embed_query(query)
        candidates = np.asarray([vectors[i] for i in ids], dtype=np.float32)
        scores = dict(ranked)
        return [
            (ids[j], scores[ids[j]])
            for j in maximal_marginal_relevance(query_vector, candidates, k, mmr_lambda)
        ]

    def _fresh_collection(self) -> Collection:
        """The collection as stored now (metadata written by other processes included)."""
        return self._served(self.client.get_collection(self.collection_name, embedding_function=None))

    def _served(self, collection: Collection) -> Collection:
        """A server's collection says so when the server stops answering (see ServerCalls)."""
        if self.settings.chroma.mode == "server":
            return cast("Collection", ServerCalls(collection, self.settings))
        return collection

    def _check_dimension(self, dimension: int) -> None:
        stored = (self.collection.metadata or {}).get(DIMENSION_KEY)
        if stored is None:
            metadata = dict(self._fresh_collection().metadata or {})
            if metadata.get(DIMENSION_KEY) is None:
                metadata[DIMENSION_KEY] = int(dimension)
                metadata[MODEL_KEY] = self.embedder.name
                self.collection.modify(metadata=metadata)
            stored = metadata[DIMENSION_KEY]
        if int(stored) != int(dimension):
            model = (self.collection.metadata or {}).get(MODEL_KEY, "another model")
            raise ConfigError(
                f"collection {self.collection_name!r} holds {stored}-dimensional vectors from {model}, "
                f"but the configured embedding model gives {dimension}",
                "set HERON_EMBEDDING_MODEL to the model the collection was built with, or use another "
                "collection (--collection NAME, or [memory] collection in heron.toml)",
            )


@dataclass(frozen=True)
class _LexicalCache:
    stamp: tuple[str, int]  # (revision, count) of the collection the index was built from
    index: LexicalIndex
    records: dict[str, tuple[str, dict[str, Any]]]  # id -> (text, metadata)


def _heading(metadata: Mapping[str, Any]) -> str | None:
    heading = metadata.get(HEADING_KEY)
    return str(heading) if heading else None


def validate_collection_name(name: str) -> str:
    """``name`` if Chroma accepts it as a collection name (heron.config's rule), else UsageError."""
    problem = collection_name_problem(name)
    if problem:
        raise UsageError(problem, COLLECTION_NAME_RULE)
    return name


def _filter_error(where: Mapping[str, Any] | None, exc: Exception) -> UsageError:
    return UsageError(
        f"invalid metadata filter {dict(where or {})!r}: {exc}",
        "use Chroma's where syntax, e.g. {'source': '/docs/a.md'} or {'page': {'$gte': 3}}",
    )


def _first_of_each_text(
    ranked: list[tuple[str, float]], records: dict[str, tuple[str, dict[str, Any]]]
) -> list[tuple[str, float]]:
    """``ranked`` without the entries whose text, whitespace aside, an earlier entry already has."""
    seen: set[str] = set()
    kept = []
    for i, score in ranked:
        text = " ".join(records[i][0].split())
        if text not in seen:
            seen.add(text)
            kept.append((i, score))
    return kept
