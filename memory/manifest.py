"""What ingestion has committed, per source file: a small SQLite file under the data dir.

One row per (store, collection id, source) holds the file's content hash, the hash of the settings
that shaped its chunks, and its chunk ids. Ingestion writes a row only after the file's chunks are
committed to Chroma, so a crash leaves the file looking "not ingested" and the next run redoes it.
Rows are keyed by the collection's id (a UUID), not its name: a collection deleted and created
again starts with an empty manifest.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

MANIFEST_FILE_NAME = "ingest-manifest.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sources (
    store TEXT NOT NULL,
    collection_id TEXT NOT NULL,
    source TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL,
    chunk_ids TEXT NOT NULL,
    ingested_at REAL NOT NULL,
    PRIMARY KEY (store, collection_id, source)
)
"""


@dataclass(frozen=True)
class ManifestEntry:
    source: str
    content_hash: str
    settings_hash: str
    chunk_ids: tuple[str, ...]


class Manifest:
    """The committed sources of one collection in one Chroma store."""

    def __init__(self, path: Path, store: str, collection_id: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._key = (store, collection_id)
        # isolation_level=None: autocommit; every write below is one explicit transaction.
        self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(_SCHEMA)

    def entries(self) -> dict[str, ManifestEntry]:
        rows = self._db.execute(
            "SELECT source, content_hash, settings_hash, chunk_ids FROM sources "
            "WHERE store = ? AND collection_id = ?",
            self._key,
        )
        return {
            source: ManifestEntry(source, content_hash, settings_hash, tuple(json.loads(ids)))
            for source, content_hash, settings_hash, ids in rows
        }

    def commit(self, entries: Iterable[ManifestEntry], removed: Iterable[str] = ()) -> None:
        """Record ``entries`` and forget ``removed`` sources, all in one transaction."""
        now = time.time()
        with self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO sources VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        *self._key,
                        e.source,
                        e.content_hash,
                        e.settings_hash,
                        json.dumps(list(e.chunk_ids)),
                        now,
                    )
                    for e in entries
                ],
            )
            self._db.executemany(
                "DELETE FROM sources WHERE store = ? AND collection_id = ? AND source = ?",
                [(*self._key, source) for source in removed],
            )

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Manifest:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
