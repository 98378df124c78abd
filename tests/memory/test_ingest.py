"""Ingestion against real Chroma, embedded and a real `chroma run` server: incremental, exact, honest."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from heron.config import Settings
from heron.errors import IngestionError
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.vector_memory import VectorMemory
from tests.memory.helpers import all_records, unique_collection, write_docs

STORES = ["embedded", "server"]


@pytest.mark.parametrize("store", STORES)
def test_reingesting_an_unchanged_folder_adds_no_chunks(
    store: str, settings_for: Callable[..., Settings], embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings_for(store), unique_collection(), embedder) as memory:
        first = Ingester(memory).ingest([docs])
        before = all_records(memory)
        second = Ingester(memory).ingest([docs])
        after = all_records(memory)
    assert len(first.added) == 4 and first.chunks_written == len(before) > 4
    assert second.chunks_written == 0 and second.added == second.replaced == second.deleted == []
    assert sorted(second.unchanged) == sorted(first.added)
    assert after == before


@pytest.mark.parametrize("store", STORES)
def test_an_edited_file_replaces_only_its_own_chunks(
    store: str, settings_for: Callable[..., Settings], embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    guide = docs / "guide.md"
    with VectorMemory(settings_for(store), unique_collection(), embedder) as memory:
        Ingester(memory).ingest([docs])
        before = all_records(memory)
        guide.write_text(guide.read_text().replace("Herons nest in colonies", "Herons breed in heronries"))
        report = Ingester(memory).ingest([docs])
        after = all_records(memory)
    assert report.replaced == [str(guide)] and report.added == [] and report.deleted == []
    others_before = {i: r for i, r in before.items() if r[1]["source"] != str(guide)}
    others_after = {i: r for i, r in after.items() if r[1]["source"] != str(guide)}
    assert others_after == others_before
    guide_texts = [text for text, meta in after.values() if meta["source"] == str(guide)]
    assert any("Herons breed in heronries" in t for t in guide_texts)
    assert not any("nest in colonies" in t for t in guide_texts)
    # only the edited chunk was embedded again; its unchanged neighbours kept their ids
    assert report.chunks_written == 1 and report.chunks_deleted == 1


@pytest.mark.parametrize("store", STORES)
def test_a_deleted_file_loses_its_chunks(
    store: str, settings_for: Callable[..., Settings], embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    removed = docs / "notes.txt"
    with VectorMemory(settings_for(store), unique_collection(), embedder) as memory:
        Ingester(memory).ingest([docs])
        count_before = memory.count()
        removed_ids = [i for i, (_, meta) in all_records(memory).items() if meta["source"] == str(removed)]
        removed.unlink()
        report = Ingester(memory).ingest([docs])
        remaining_sources = {meta["source"] for _, meta in all_records(memory).values()}
        count_after = memory.count()
    assert removed_ids and report.deleted == [str(removed)]
    assert str(removed) not in remaining_sources
    assert count_after == count_before - len(removed_ids)


def test_bad_files_are_reported_and_skipped_and_the_rest_is_ingested(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    (docs / "empty.md").write_text("  \n\n")
    (docs / "blob.txt").write_bytes(b"PK\x03\x04\x00\x00binary")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (docs / "dangling.txt").symlink_to(docs / "missing-target.txt")
    (docs / "photo.jpg").write_bytes(b"\xff\xd8\xff")
    with VectorMemory(settings, embedder=embedder) as memory:
        report = Ingester(memory).ingest([docs])
        sources = {meta["source"] for _, meta in all_records(memory).values()}
    reasons = {Path(s.path).name: s.reason for s in report.skipped}
    assert reasons["empty.md"] == "empty (no text)"
    assert reasons["blob.txt"] == "binary file"
    assert reasons["latin1.txt"].startswith("not UTF-8 text")
    assert reasons["dangling.txt"].startswith("unreadable")
    assert reasons["photo.jpg"] == "unsupported file type (.jpg)"
    assert len(report.added) == 4 and sources == set(report.added)


def test_a_missing_path_raises_and_writes_nothing(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings, embedder=embedder) as memory:
        with pytest.raises(IngestionError, match="path not found") as caught:
            Ingester(memory).ingest([docs, tmp_path / "no-such-folder"])
        assert caught.value.hint
        assert memory.count() == 0


def test_a_removed_file_named_directly_loses_its_chunks(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    notes = docs / "notes.txt"
    with VectorMemory(settings, embedder=embedder) as memory:
        Ingester(memory).ingest([notes, docs / "guide.md"])
        notes.unlink()
        report = Ingester(memory).ingest([notes])
        sources = {meta["source"] for _, meta in all_records(memory).values()}
    assert report.deleted == [str(notes)]
    assert sources == {str(docs / "guide.md")}


def test_chunks_carry_source_heading_and_exact_offsets(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings, embedder=embedder) as memory:
        Ingester(memory).ingest([docs])
        passages = memory.search("herons nest in colonies called heronries", k=3)
        records = all_records(memory)
    top = passages[0]
    assert top.source == str(docs / "guide.md")
    assert top.location.heading == "Herons > Breeding"
    assert "nest in colonies" in top.text
    for text, meta in records.values():
        original = Path(meta["source"]).read_text()
        if meta["file_type"] in ("text", "markdown", "code"):
            assert original[meta["start"] : meta["end"]] == text
    assert "guide.md (Herons > Breeding, chars" in top.citation()


def test_pdf_pages_are_located(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

    pdf = tmp_path / "report.pdf"
    with PdfPages(pdf) as pages:
        for text in ("The annual heron census counted 412 nests.", "Grey herons migrate south in winter."):
            figure = Figure()
            figure.text(0.1, 0.5, text)
            pages.savefig(figure)
    with VectorMemory(settings, embedder=embedder) as memory:
        report = Ingester(memory).ingest([pdf])
        top = memory.search("Where do grey herons go in winter?", k=1)[0]
    assert report.added == [str(pdf)]
    assert top.location.page == 2 and "migrate" in top.text


def test_redaction_masks_personal_data_before_storage_only_when_enabled(
    settings_for: Callable[..., Settings], embedder: Embedder, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "contacts.txt").write_text("Write to jane.doe@example.com or call +1 415 555 0100 about herons.")
    stored = {}
    for redact in (False, True):
        settings = settings_for("embedded", memory={"redact_personal_data": redact})
        with VectorMemory(settings, f"redact-{redact}".lower(), embedder) as memory:
            Ingester(memory).ingest([docs])
            stored[redact] = " ".join(text for text, _ in all_records(memory).values())
    assert "jane.doe@example.com" in stored[False]
    assert "jane.doe@example.com" not in stored[True] and "415 555 0100" not in stored[True]
    assert "[REDACTED:email]" in stored[True] and "[REDACTED:phone]" in stored[True]


def test_writes_are_batched_under_chromas_max_batch_size(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings, embedder=embedder) as memory:
        monkeypatch.setattr(memory, "max_batch_size", lambda: 3)
        batch_sizes: list[int] = []
        upsert = memory.collection.upsert

        def recording_upsert(**kwargs: Any) -> None:
            batch_sizes.append(len(kwargs["ids"]))
            upsert(**kwargs)

        monkeypatch.setattr(memory.collection, "upsert", recording_upsert)
        report = Ingester(memory).ingest([docs])
        stored = len(all_records(memory))  # read back in pages of 3 as well
    assert max(batch_sizes) == 3 and sum(batch_sizes) == report.chunks_written == stored


def test_progress_is_reported_per_file(settings: Settings, embedder: Embedder, tmp_path: Path) -> None:
    docs = write_docs(tmp_path / "docs")
    calls: list[tuple[int, int, str]] = []
    with VectorMemory(settings, embedder=embedder) as memory:
        Ingester(memory).ingest([docs], progress=lambda done, total, path: calls.append((done, total, path)))
    assert [done for done, _, _ in calls] == [1, 2, 3, 4]
    assert {total for _, total, _ in calls} == {4}
    assert {path for _, _, path in calls} == {str(p) for p in docs.rglob("*") if p.is_file()}


def test_a_collection_ingested_before_heading_paths_were_indexed_is_brought_up_to_date(
    settings: Settings, embedder: Embedder, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import heron.memory.ingest as ingest_module
    from heron.memory.passages import Chunk, chunk_id

    docs = write_docs(tmp_path / "docs")
    with VectorMemory(settings, "fresh", embedder) as fresh:
        Ingester(fresh, tmp_path / "fresh-manifest.sqlite3").ingest([docs])
        expected = all_records(fresh)
    with VectorMemory(settings, embedder=embedder) as memory:
        with monkeypatch.context() as old:  # splitter version 1: ids and vectors without the heading path
            old.setattr(ingest_module, "_SPLITTER_VERSION", 1)
            old.setattr(Chunk, "id", property(lambda c: chunk_id(c.source, c.text, c.occurrence)))
            old.setattr(Chunk, "indexed_text", property(lambda c: c.text))
            Ingester(memory).ingest([docs])
        old_ids = set(all_records(memory))
        upgrade = Ingester(memory).ingest([docs])
        upgraded = all_records(memory)
        again = Ingester(memory).ingest([docs])
        assert all_records(memory) == upgraded
    headed = {i for i, (_, meta) in expected.items() if "heading" in meta}
    assert headed and not headed & old_ids  # chunks under a heading got new ids
    assert len(upgrade.replaced) == 4 and upgrade.chunks_written == len(headed)
    assert upgraded == expected  # as if ingested fresh: no stale chunk left, no duplicate
    assert again.chunks_written == again.chunks_deleted == 0 and len(again.unchanged) == 4
