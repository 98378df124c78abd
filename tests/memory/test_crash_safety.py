"""SIGKILL an ingesting process mid-run, run again: no duplicates, and every chunk of every file."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from heron.config import Settings
from heron.memory.embeddings import Embedder
from heron.memory.ingest import Ingester
from heron.memory.loaders import load_document
from heron.memory.manifest import MANIFEST_FILE_NAME
from heron.memory.splitting import split_document
from heron.memory.vector_memory import VectorMemory
from tests.memory.helpers import all_records

FILES = 40
INGEST_SCRIPT = """
import sys
from heron.config import load_settings
from heron.memory.ingest import Ingester
from heron.memory.vector_memory import VectorMemory

with VectorMemory(load_settings()) as memory:
    Ingester(memory, flush_chunks=16).ingest([sys.argv[1]])
"""


def _write_corpus(folder: Path) -> None:
    words = [
        "heron",
        "egret",
        "bittern",
        "marsh",
        "reed",
        "water",
        "fish",
        "frog",
        "nest",
        "colony",
        "wing",
        "flight",
        "river",
        "lake",
        "dawn",
    ]
    rng = random.Random(7)
    folder.mkdir()
    for i in range(FILES):
        paragraphs = [
            " ".join(rng.choice(words) for _ in range(60)) + f" (file {i}, part {j})." for j in range(4)
        ]
        (folder / f"doc-{i:03d}.txt").write_text("\n\n".join(paragraphs))


def _committed_files(manifest: Path) -> int:
    if not manifest.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{manifest}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT COUNT(*) FROM sources").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not created yet
        return 0


@pytest.mark.usefixtures("shared_embedding_cache")
def test_sigkill_mid_ingest_then_rerun_leaves_a_complete_collection_without_duplicates(
    settings: Settings, embedder: Embedder, tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus"
    _write_corpus(corpus)
    manifest = settings.data_dir / MANIFEST_FILE_NAME
    process = subprocess.Popen(
        [sys.executable, "-c", INGEST_SCRIPT, str(corpus)],
        env=dict(os.environ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 240
    while _committed_files(manifest) < 2 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    _, stderr = process.communicate(timeout=30)
    committed_at_kill = _committed_files(manifest)
    assert process.returncode == -signal.SIGKILL, stderr.decode(errors="replace")[-2000:]
    assert 2 <= committed_at_kill < FILES  # it really died mid-run

    with VectorMemory(settings, embedder=embedder) as memory:
        report = Ingester(memory).ingest([corpus])
        records = all_records(memory)

    expected = {}
    for path in sorted(corpus.iterdir()):
        document = load_document(path, path.read_bytes())
        for chunk in split_document(
            document, str(path), settings.memory.chunk_size, settings.memory.chunk_overlap
        ):
            expected[chunk.id] = chunk.text
    assert {i: text for i, (text, _) in records.items()} == expected
    located = [(meta["source"], meta["start"]) for _, meta in records.values()]
    assert len(located) == len(set(located))  # no chunk stored twice under another id
    assert len(report.unchanged) >= committed_at_kill
    assert len(report.unchanged) + len(report.added) == FILES
