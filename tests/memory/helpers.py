"""Helpers for memory tests: a small document folder and a full dump of a collection."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from heron.memory.vector_memory import VectorMemory

GUIDE_MD = """# Herons

Herons are long-legged freshwater and coastal birds in the family Ardeidae.

## Feeding

Herons hunt by standing still in shallow water and spearing fish, frogs and insects with their bills.
They also eat small mammals and reptiles when fish are scarce.

## Breeding

Herons nest in colonies called heronries, usually high in trees near water.
Both parents incubate the eggs, which hatch after about 25 days.

## Range

Grey herons live across Europe and Asia; great blue herons across North America.
"""

NOTES_TXT = """Chroma is an open-source vector database.
It stores embeddings with their documents and metadata.

A collection can be queried by vector similarity and filtered by metadata with a where clause.
"""

CODE_PY = '''"""Unit conversions."""


def celsius_to_fahrenheit(celsius: float) -> float:
    """Convert a temperature from degrees Celsius to degrees Fahrenheit."""
    return celsius * 9 / 5 + 32


def kilometres_to_miles(kilometres: float) -> float:
    """Convert a distance from kilometres to miles."""
    return kilometres * 0.621371
'''

PAGE_HTML = """<html><head><title>Lakes</title><script>var tracking = 1;</script></head>
<body><h1>Lake Baikal</h1><p>Lake Baikal in Siberia is the <b>deepest</b> lake in the world, 1,642 metres.</p>
<h2>Wildlife</h2><p>The Baikal seal is the only freshwater seal species.</p></body></html>
"""


def write_docs(folder: Path) -> Path:
    """Four files of four kinds (Markdown, text, Python, HTML), one of them in a subfolder."""
    (folder / "code").mkdir(parents=True)
    (folder / "guide.md").write_text(GUIDE_MD)
    (folder / "notes.txt").write_text(NOTES_TXT)
    (folder / "code" / "convert.py").write_text(CODE_PY)
    (folder / "lakes.html").write_text(PAGE_HTML)
    return folder


def all_records(memory: VectorMemory) -> dict[str, tuple[str, dict[str, Any]]]:
    """Every record of the collection: id -> (text, metadata)."""
    return {i: (text, meta) for i, text, meta in memory.iter_records(("documents", "metadatas"))}


def unique_collection() -> str:
    """A fresh collection name: tests share one Chroma server."""
    return f"test-{uuid.uuid4().hex[:12]}"
