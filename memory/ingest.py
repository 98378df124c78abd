"""Incremental ingestion of files and folders into a ``VectorMemory`` collection.

Each file is hashed; a file whose content and chunking settings match the manifest is skipped
without being read further, so re-ingesting an unchanged corpus writes nothing. A changed file is
split again: chunks whose id (source + heading path + content) is already stored only get their location
refreshed, new chunks are embedded and written, chunks that disappeared are deleted. Files that
vanished from an ingested folder lose their chunks.

Crash safety: a file's manifest row is written only after its chunks are committed to Chroma. If
the collection holds chunks the manifest does not account for (a run was killed mid-way), the next
run reads the collection's ids per source and reconciles, so re-running never leaves duplicates
or a partial file behind.

Example::

    with VectorMemory(settings) as memory:
        report = Ingester(memory).ingest([Path("docs")])
    print(report.summary())
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from heron.errors import IngestionError
from heron.memory.chroma_client import describe_store
from heron.memory.loaders import SUPPORTED_SUFFIXES, UnreadableFileError, kind_of, load_document
from heron.memory.manifest import MANIFEST_FILE_NAME, Manifest, ManifestEntry
from heron.memory.passages import Chunk
from heron.memory.splitting import split_document
from heron.memory.vector_memory import VectorMemory

ProgressCallback = Callable[[int, int, str], None]
"""Called as ``progress(files_done, files_total, current_path)``."""

SKIPPED_FOLDERS = frozenset({"node_modules", "__pycache__"})  # besides hidden ones (.git, .venv, ...)
# Bump when splitting or what is indexed changes, so every file is split again once. 2: chunks are
# indexed with their heading path (new ids for chunks under a heading), heading-only pieces merged.
_SPLITTER_VERSION = 2
FLUSH_CHUNKS = 512  # chunks embedded and committed together; the manifest advances per flush


@dataclass(frozen=True)
class SkippedFile:
    path: str
    reason: str


@dataclass
class IngestReport:
    """What one ingestion run did, per source file."""

    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    skipped: list[SkippedFile] = field(default_factory=list)
    chunks_written: int = 0
    chunks_deleted: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"{len(self.added)} added, {len(self.replaced)} replaced, {len(self.unchanged)} unchanged, "
            f"{len(self.deleted)} deleted, {len(self.skipped)} skipped; "
            f"{self.chunks_written} chunks written, {self.chunks_deleted} deleted in {self.seconds:.1f}s"
        )


@dataclass
class _FilePlan:
    source: str
    content_hash: str
    chunks: list[Chunk]
    to_write: list[Chunk]
    kept: list[Chunk]
    stale: list[str]
    is_new: bool


class Ingester:
    """Ingests paths into ``memory``'s collection, keeping a manifest under the data dir."""

    def __init__(
        self, memory: VectorMemory, manifest_path: Path | None = None, flush_chunks: int = FLUSH_CHUNKS
    ) -> None:
        self.memory = memory
        self.flush_chunks = flush_chunks
        settings = memory.settings
        self.manifest_path = manifest_path or settings.data_dir.expanduser() / MANIFEST_FILE_NAME
        self.settings_hash = _settings_hash(
            settings.memory.chunk_size,
            settings.memory.chunk_overlap,
            settings.memory.redact_personal_data,
            memory.embedder.name,
        )

    def ingest(self, paths: Sequence[Path | str], progress: ProgressCallback | None = None) -> IngestReport:
        """Bring the collection in line with ``paths`` (files or folders). Bad files are skipped and
        reported; a path that does not exist and was never ingested raises ``IngestionError``."""
        started = time.perf_counter()
        if not paths:
            raise IngestionError("no path to ingest", "name one or more files or folders")
        roots = [Path(os.path.abspath(Path(p).expanduser())) for p in paths]
        report = IngestReport()
        collection = self.memory.collection
        with Manifest(
            self.manifest_path, describe_store(self.memory.settings), str(collection.id)
        ) as manifest:
            committed = manifest.entries()
            stored = self._stored_ids_if_inconsistent(committed)
            files, removed = _scan(roots, set(committed) | set(stored or ()), report)
            run = _Run(self, manifest, committed, stored, report, progress, len(files))
            for path in files:
                run.add_file(path)
            run.flush()
            run.remove(removed)
        report.seconds = time.perf_counter() - started
        return report

    def _stored_ids_if_inconsistent(self, committed: dict[str, ManifestEntry]) -> dict[str, set[str]] | None:
        """Ids per source as Chroma holds them, read only when the counts disagree with the manifest
        (an interrupted run, or writes from elsewhere). None means the manifest is exact."""
        expected = sum(len(entry.chunk_ids) for entry in committed.values())
        if self.memory.count() == expected:
            return None
        stored: dict[str, set[str]] = defaultdict(set)
        for chunk_id, _, meta in self.memory.iter_records(("metadatas",)):
            stored[str(meta.get("source", ""))].add(chunk_id)
        return stored


class _Run:
    """The state of one ingestion run: plans waiting to be flushed, and the report."""

    def __init__(
        self,
        ingester: Ingester,
        manifest: Manifest,
        committed: dict[str, ManifestEntry],
        stored: dict[str, set[str]] | None,
        report: IngestReport,
        progress: ProgressCallback | None,
        total: int,
    ) -> None:
        self.ingester, self.memory, self.manifest = ingester, ingester.memory, manifest
        self.committed, self.stored, self.report = committed, stored, report
        self.progress, self.total, self.done = progress, total, 0
        self.pending: list[_FilePlan] = []
        self.pending_chunks = 0

    def add_file(self, path: Path) -> None:
        source = str(path)
        entry = self.committed.get(source)
        try:
            data = path.read_bytes()
        except OSError as exc:
            self.report.skipped.append(SkippedFile(source, f"unreadable: {exc.strerror or exc}"))
            return self._advance(source)
        content_hash = hashlib.sha256(data).hexdigest()
        stored_ids = self._stored_ids(source, entry)
        if (
            entry
            and entry.content_hash == content_hash
            and entry.settings_hash == self.ingester.settings_hash
            and stored_ids == set(entry.chunk_ids)
        ):
            self.report.unchanged.append(source)
            return self._advance(source)
        try:
            document = load_document(path, data)
        except UnreadableFileError as exc:
            self.report.skipped.append(SkippedFile(source, exc.reason))
            if stored_ids:  # it had text before: what it says now is "nothing"
                self.remove([source], report_as_deleted=False)
            return self._advance(source)
        settings = self.memory.settings.memory
        chunks = split_document(
            document,
            source,
            settings.chunk_size,
            settings.chunk_overlap,
            transform=self.memory.redact if self.memory.redactor else None,
        )
        new_ids = {chunk.id for chunk in chunks}
        plan = _FilePlan(
            source=source,
            content_hash=content_hash,
            chunks=chunks,
            to_write=[c for c in chunks if c.id not in stored_ids],
            kept=[c for c in chunks if c.id in stored_ids],
            stale=sorted(stored_ids - new_ids),
            is_new=entry is None,
        )
        self.pending.append(plan)
        self.pending_chunks += len(plan.to_write)
        if self.pending_chunks >= self.ingester.flush_chunks:
            self.flush()
        return None

    def flush(self) -> None:
        """Embed and commit the pending files, then record them in the manifest."""
        if not self.pending:
            return
        writes = [chunk for plan in self.pending for chunk in plan.to_write]
        kinds = {plan.source: kind_of(Path(plan.source)) or "text" for plan in self.pending}
        if writes:
            vectors = self.memory.embedder.embed_documents([c.indexed_text for c in writes])
            self.memory.write(
                [c.id for c in writes],
                [c.text for c in writes],
                [c.metadata({"file_type": kinds[c.source]}) for c in writes],
                vectors,
            )
        kept = [chunk for plan in self.pending for chunk in plan.kept]
        self.memory.update_metadata(
            [c.id for c in kept], [c.metadata({"file_type": kinds[c.source]}) for c in kept]
        )
        stale = [chunk_id for plan in self.pending for chunk_id in plan.stale]
        self.memory.delete(stale)
        self.manifest.commit(
            ManifestEntry(
                plan.source, plan.content_hash, self.ingester.settings_hash, tuple(c.id for c in plan.chunks)
            )
            for plan in self.pending
        )
        for plan in self.pending:
            (self.report.added if plan.is_new else self.report.replaced).append(plan.source)
            self._advance(plan.source)
        self.report.chunks_written += len(writes)
        self.report.chunks_deleted += len(stale)
        self.pending, self.pending_chunks = [], 0

    def remove(self, sources: Iterable[str], report_as_deleted: bool = True) -> None:
        """Delete every chunk of ``sources`` and forget them in the manifest."""
        sources = list(sources)
        ids = sorted({i for source in sources for i in self._stored_ids(source, self.committed.get(source))})
        self.memory.delete(ids)
        self.manifest.commit([], removed=sources)
        self.report.chunks_deleted += len(ids)
        if report_as_deleted:
            self.report.deleted.extend(sources)

    def _stored_ids(self, source: str, entry: ManifestEntry | None) -> set[str]:
        if self.stored is not None:
            return self.stored.get(source, set())
        return set(entry.chunk_ids) if entry else set()

    def _advance(self, source: str) -> None:
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total, source)


def _scan(roots: list[Path], known: set[str], report: IngestReport) -> tuple[list[Path], list[str]]:
    """Files to ingest, and known sources under the roots that are gone."""
    files: list[Path] = []
    for root in roots:
        if root.is_dir():
            for path in _walk(root):
                if path.suffix.lower() in SUPPORTED_SUFFIXES:
                    files.append(path)
                else:
                    report.skipped.append(
                        SkippedFile(str(path), f"unsupported file type ({path.suffix or 'none'})")
                    )
        elif root.exists():
            files.append(root)
        elif not _under(root, known):
            raise IngestionError(f"path not found: {root}", "check the spelling; nothing was ingested")
    files = list(dict.fromkeys(files))  # a file named twice, or inside two roots, once
    present = {str(path) for path in files} | {s.path for s in report.skipped}
    removed = sorted({source for root in roots for source in _under(root, known)} - present)
    return files, removed


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not d.startswith(".") and d not in SKIPPED_FOLDERS)
        found.extend(Path(folder) / name for name in sorted(names) if not name.startswith("."))
    return found


def _under(root: Path, known: Iterable[str]) -> list[str]:
    prefix = str(root).rstrip(os.sep) + os.sep
    return [source for source in known if source == str(root) or source.startswith(prefix)]


def _settings_hash(chunk_size: int, chunk_overlap: int, redact: bool, embedder: str) -> str:
    settings = {
        "chunk_size": chunk_size,
        "chunk_overlap": chunk_overlap,
        "redact": redact,
        "embedder": embedder,
        "splitter": _SPLITTER_VERSION,
    }
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
