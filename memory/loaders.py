"""Reading files into text for ingestion: plain text, Markdown, HTML, PDF and source code.

``load_document`` never raises for a bad file: it raises ``UnreadableFileError`` with a short reason
("binary file", "empty", "not a readable PDF: ..."), which ingestion reports and skips.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from langchain_text_splitters import Language

from heron.quiet import quiet_logger

Kind = Literal["text", "markdown", "html", "pdf", "code"]

MAX_FILE_BYTES = 64 * 2**20  # larger files are almost always data dumps, not documents

TEXT_SUFFIXES = frozenset(
    {
        ".txt",
        ".text",
        ".log",
        ".csv",
        ".tsv",
        ".json",
        ".jsonl",
        ".yaml",
        ".yml",
        ".toml",
        ".ini",
        ".cfg",
        ".xml",
        ".tex",
        ".sh",
        ".bash",
        ".sql",
    }
)
MARKDOWN_SUFFIXES = frozenset({".md", ".markdown", ".mdx"})
HTML_SUFFIXES = frozenset({".html", ".htm", ".xhtml"})
CODE_LANGUAGES: dict[str, Language] = {
    ".py": Language.PYTHON,
    ".pyi": Language.PYTHON,
    ".js": Language.JS,
    ".jsx": Language.JS,
    ".mjs": Language.JS,
    ".ts": Language.TS,
    ".tsx": Language.TS,
    ".go": Language.GO,
    ".rs": Language.RUST,
    ".java": Language.JAVA,
    ".kt": Language.KOTLIN,
    ".scala": Language.SCALA,
    ".c": Language.C,
    ".h": Language.C,
    ".cc": Language.CPP,
    ".cpp": Language.CPP,
    ".hpp": Language.CPP,
    ".cs": Language.CSHARP,
    ".rb": Language.RUBY,
    ".php": Language.PHP,
    ".swift": Language.SWIFT,
    ".lua": Language.LUA,
    ".pl": Language.PERL,
    ".hs": Language.HASKELL,
    ".ex": Language.ELIXIR,
    ".exs": Language.ELIXIR,
    ".r": Language.R,
    ".sol": Language.SOL,
    ".proto": Language.PROTO,
    ".rst": Language.RST,
    ".ps1": Language.POWERSHELL,
}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | {".pdf"} | frozenset(CODE_LANGUAGES)


class UnreadableFileError(Exception):
    """A file that ingestion skips; ``reason`` says why in a few words."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Section:
    """Text extracted from one file, or from one page of a PDF."""

    text: str
    page: int | None = None


@dataclass(frozen=True)
class Document:
    kind: Kind
    sections: list[Section]
    language: Language | None = None  # for code


def kind_of(path: Path) -> Kind | None:
    """The loader for ``path`` by its suffix, or None for a type heron does not ingest from folders."""
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        return "markdown"
    if suffix in HTML_SUFFIXES:
        return "html"
    if suffix == ".pdf":
        return "pdf"
    if suffix in CODE_LANGUAGES:
        return "code"
    if suffix in TEXT_SUFFIXES:
        return "text"
    return None


def load_document(path: Path, data: bytes) -> Document:
    """Extract the text of ``data`` (the bytes of ``path``). Unknown suffixes are read as plain text."""
    if len(data) > MAX_FILE_BYTES:
        raise UnreadableFileError(f"larger than {MAX_FILE_BYTES // 2**20} MiB")
    kind = kind_of(path) or "text"
    if kind == "pdf":
        document = Document("pdf", _pdf_pages(data))
    else:
        text = _decode(data)
        if kind == "html":
            document = Document("html", [Section(html_to_text(text))])
        else:
            document = Document(kind, [Section(text)], CODE_LANGUAGES.get(path.suffix.lower()))
    if not any(section.text.strip() for section in document.sections):
        raise UnreadableFileError(
            "empty (no text)" if kind != "pdf" else "no extractable text (scanned PDF?)"
        )
    return document


def _decode(data: bytes) -> str:
    if b"\x00" in data[:8192]:
        raise UnreadableFileError("binary file")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1].hex()
        raise UnreadableFileError(f"not UTF-8 text (byte 0x{bad} at offset {exc.start})") from exc


def _pdf_pages(data: bytes) -> list[Section]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        # pypdf's warnings ("invalid pdf header") say less than the skipped file's reason in the report
        with quiet_logger("pypdf"):
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableFileError("encrypted PDF")
            return [
                Section(page.extract_text() or "", page=i) for i, page in enumerate(reader.pages, start=1)
            ]
    except UnreadableFileError:
        raise
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise UnreadableFileError(f"not a readable PDF: {exc}") from exc


_BLOCK_GAP = re.compile(r"\n\s*\n\s*(\n\s*)+")
_BLOCK_TAGS = [
    "p",
    "div",
    "li",
    "tr",
    "td",
    "th",
    "pre",
    "blockquote",
    "section",
    "article",
    "header",
    "footer",
    "aside",
    "main",
    "table",
    "ul",
    "ol",
    "dl",
    "dt",
    "dd",
    "figure",
    "figcaption",
]


def html_to_text(html: str) -> str:
    """The visible text of an HTML page, headings written as Markdown ``#`` lines for the splitter.

    A ``<nav>`` element (the page's links to other pages, by HTML's definition) is left out: a
    recipe page's "Home | Recipes | Contact" became a passage of its own, which searches returned."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "svg", "head", "nav"]):
        tag.decompose()
    for level in range(1, 7):
        for heading in soup.find_all(f"h{level}"):
            title = " ".join(heading.get_text(" ").split())
            heading.replace_with(f"\n\n{'#' * level} {title}\n\n")
    for br in soup.find_all("br"):
        br.replace_with("\n")
    for block in soup.find_all(_BLOCK_TAGS):
        block.insert_before("\n")
        block.insert_after("\n")
    # No separator: inline elements (<b>, <a>) stay inside their sentence.
    lines = (" ".join(line.split()) for line in soup.get_text().splitlines())
    return _BLOCK_GAP.sub("\n\n", "\n".join(lines)).strip()
