"""Loading and splitting files: Markdown headings, code by language, HTML text, exact offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.memory.loaders import UnreadableFileError, html_to_text, load_document
from heron.memory.passages import Chunk, chunk_id
from heron.memory.splitting import split_document

MARKDOWN = """Preface line.

# Guide

Intro words.

## Install

```bash
# a comment, not a heading
pip install heron
```

### Linux

Use apt.

# Reference

Details.
"""


def test_markdown_chunks_follow_headings_and_point_into_the_file() -> None:
    chunks = split_document(load_document(Path("g.md"), MARKDOWN.encode()), "g.md", 1000, 100)
    assert [c.location.heading for c in chunks] == [
        None,
        "Guide",
        "Guide > Install",
        "Guide > Install > Linux",
        "Reference",
    ]
    for chunk in chunks:
        assert MARKDOWN[chunk.location.start : chunk.location.end] == chunk.text
    assert "# a comment, not a heading" in chunks[2].text


def test_long_sections_are_split_with_overlap_under_the_size() -> None:
    text = "# Title\n\n" + " ".join(f"word{i}" for i in range(800))
    chunks = split_document(load_document(Path("t.md"), text.encode()), "t.md", 500, 50)
    assert len(chunks) > 5 and all(len(c.text) <= 500 for c in chunks)
    assert all(c.location.heading == "Title" for c in chunks)
    assert chunks[0].text.startswith("word0")  # the lone heading line is not a chunk of its own
    assert chunks[1].location.start < chunks[0].location.end  # overlap


def test_python_is_split_at_function_boundaries() -> None:
    functions = "\n\n".join(f"def f{i}(x):\n    return x + {i}\n" + "    # padding\n" * 8 for i in range(6))
    chunks = split_document(load_document(Path("m.py"), functions.encode()), "m.py", 200, 0)
    assert all(c.text.startswith("def f") for c in chunks)


def test_html_keeps_visible_text_and_headings_only() -> None:
    text = html_to_text(
        "<nav>Home | Recipes</nav><h1>Title</h1><script>evil()</script><p>One <b>bold</b> word.</p>"
        "<h2>Sub</h2><p>Two</p>"
    )
    assert text == "# Title\n\nOne bold word.\n\n## Sub\n\nTwo"


def test_identical_chunks_in_one_file_get_distinct_stable_ids() -> None:
    text = "same paragraph\n\n" * 3
    first = split_document(load_document(Path("r.txt"), text.encode()), "r.txt", 20, 0)
    again = split_document(load_document(Path("r.txt"), text.encode()), "r.txt", 20, 0)
    assert len(first) == 3 and len({c.id for c in first}) == 3
    assert [c.id for c in first] == [c.id for c in again]
    other_file = split_document(load_document(Path("s.txt"), text.encode()), "s.txt", 20, 0)
    assert not {c.id for c in first} & {c.id for c in other_file}


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("a.txt", b"", "empty (no text)"),
        ("a.txt", b"\x00\x01\x02", "binary file"),
        ("a.md", "é".encode("latin-1"), "not UTF-8 text (byte 0xe9 at offset 0)"),
        ("a.pdf", b"%PDF-1.4 garbage", "not a readable PDF"),
    ],
)
def test_unusable_files_raise_a_short_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableFileError) as caught:
        load_document(Path(name), data)
    assert caught.value.reason.startswith(reason)


def test_a_corrupt_pdf_is_reported_by_its_reason_without_pypdf_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """pypdf logs "invalid pdf header" and "EOF marker not found" for such a file; ingestion's report
    already names it and why, so a program using heron saw the same problem twice, once in pypdf's
    words."""
    with pytest.raises(UnreadableFileError) as caught:
        load_document(Path("corrupt.pdf"), b"\\\x10\xa2\xb3T not a pdf at all")
    assert caught.value.reason.startswith("not a readable PDF")
    # (with no handler of the program's own, Python writes a library's warnings to stderr)
    assert [r.getMessage() for r in caplog.records if r.name.startswith("pypdf")] == []


def _markdown_chunks(text: str, chunk_size: int = 1000, overlap: int = 100) -> list[Chunk]:
    chunks = split_document(load_document(Path("n.md"), text.encode()), "n.md", chunk_size, overlap)
    for chunk in chunks:
        assert text[chunk.location.start : chunk.location.end] == chunk.text
    return chunks


def test_a_title_without_body_is_merged_into_the_section_after_it() -> None:
    text = "# Great blue heron\n\n## Size\n\nIts wingspan is 185 cm.\n\n## Range\n\nAlaska to Mexico.\n"
    chunks = _markdown_chunks(text)
    assert [(c.location.heading, c.text) for c in chunks] == [
        ("Great blue heron > Size", "# Great blue heron\n\n## Size\n\nIts wingspan is 185 cm."),
        ("Great blue heron > Range", "## Range\n\nAlaska to Mexico."),
    ]


def test_empty_sibling_headings_merge_forward_and_a_trailing_one_is_dropped() -> None:
    text = "## Notes\n\n## Size\n\n95 cm.\n\n## Feeding\n\n"
    chunks = _markdown_chunks(text)
    assert [(c.location.heading, c.text) for c in chunks] == [("Size", "## Notes\n\n## Size\n\n95 cm.")]
    assert _markdown_chunks("# Only a title\n") == []


def test_a_heading_with_a_body_of_its_own_stays_its_own_chunk() -> None:
    # Negative cases: a one-line intro is a body; a "#" line inside fenced code is not a heading.
    text = "# Heron\n\nA wading bird.\n\n## Install\n\n```bash\n# comment\n```\n\n## Size\n\n1 m.\n"
    chunks = _markdown_chunks(text)
    assert [c.location.heading for c in chunks] == ["Heron", "Heron > Install", "Heron > Size"]
    assert chunks[0].text == "# Heron\n\nA wading bird."
    assert chunks[1].text == "## Install\n\n```bash\n# comment\n```"


def test_no_chunk_of_a_long_section_is_only_its_headings() -> None:
    text = "# Heron\n\n## Size\n\n" + " ".join(f"word{i}" for i in range(400))
    chunks = _markdown_chunks(text, chunk_size=300, overlap=30)
    assert len(chunks) > 3 and all(c.location.heading == "Heron > Size" for c in chunks)
    assert all("word" in c.text for c in chunks)


def test_chunks_are_indexed_with_their_heading_path_and_stored_without_it() -> None:
    chunk = _markdown_chunks("# Grey heron\n\n## Size\n\nIts wingspan is 175 cm.\n")[0]
    assert chunk.text == "# Grey heron\n\n## Size\n\nIts wingspan is 175 cm."
    assert chunk.indexed_text == "Grey heron > Size\n\n" + chunk.text
    assert chunk.metadata()["heading"] == "Grey heron > Size"


def test_files_without_headings_are_indexed_by_their_text_alone() -> None:
    # A .txt line starting with "#" is text, and the file's name is not a heading.
    text = "# not a heading in a text file\nHerons were counted.\n"
    chunks = split_document(load_document(Path("field-notes.txt"), text.encode()), "field-notes.txt", 1000, 0)
    assert [(c.location.heading, c.indexed_text) for c in chunks] == [(None, text.strip())]
    # Without a heading path the id is the one earlier versions gave, so such chunks are not re-embedded.
    assert chunks[0].id == chunk_id("field-notes.txt", text.strip(), 0)


def test_the_same_text_under_two_headings_gets_two_ids() -> None:
    chunks = _markdown_chunks("# Grey heron\n\nSee the photo.\n\n# Little egret\n\nSee the photo.\n")
    assert len({c.id for c in chunks}) == 2
    assert {c.occurrence for c in chunks} == {0}


def test_redaction_rewrites_the_heading_path_too() -> None:
    text = "# Notes for jane@example.com\n\nHerons nest in colonies.\n"
    document = load_document(Path("n.md"), text.encode())
    [chunk] = split_document(
        document, "n.md", 1000, 0, transform=lambda s: s.replace("jane@example.com", "[X]")
    )
    assert chunk.location.heading == "Notes for [X]" and "[X]" in chunk.text
