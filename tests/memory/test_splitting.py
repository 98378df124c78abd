"""Loading and splitting files: Markdown headings, code by language, HTML text, exact offsets."""

from __future__ import annotations

from pathlib import Path

import pytest

from heron.memory.loaders import UnreadableFileError, html_to_text, load_document
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
        "<h1>Title</h1><script>evil()</script><p>One <b>bold</b> word.</p><h2>Sub</h2><p>Two</p>"
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
        ("a.md", "é".encode("latin-1"), "not UTF-8 text (byte 0)"),
        ("a.pdf", b"%PDF-1.4 garbage", "not a readable PDF"),
    ],
)
def test_unusable_files_raise_a_short_reason(name: str, data: bytes, reason: str) -> None:
    with pytest.raises(UnreadableFileError) as caught:
        load_document(Path(name), data)
    assert caught.value.reason.startswith(reason)
