"""``heron ingest PATH...``: add files and folders to vector memory, incrementally."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heron.cli.app import app
from heron.config import load_settings
from heron.errors import IngestionError

if TYPE_CHECKING:
    from heron.memory.ingest import IngestReport

console = Console(soft_wrap=True)  # paths are long: never break them
progress_console = Console(stderr=True)


@app.command()
def ingest(
    paths: list[Path] = typer.Argument(..., help="Files or folders to ingest (folders recursively)."),
    collection: str | None = typer.Option(
        None,
        "--collection",
        "-c",
        help="Chroma collection; default: the memory.collection setting ('heron').",
    ),
) -> None:
    """Add .txt, .md, .html, .pdf, .csv and source files to vector memory for retrieval.

    Re-running writes only what changed: unchanged files are skipped, edited files replace their chunks,
    files removed from an ingested folder lose theirs. Unreadable, binary or empty files are reported and
    skipped.

    Exit code: 0 when something was ingested or everything was already ingested unchanged, 2 when
    nothing could be ingested (a missing path, or every file skipped)."""
    from heron.memory.ingest import Ingester
    from heron.memory.vector_memory import VectorMemory

    settings = load_settings()
    with (
        VectorMemory(settings, collection) as memory,
        Progress(
            TextColumn("[bold]ingest[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.description}"),
            console=progress_console,
            transient=True,
            disable=not progress_console.is_terminal,  # a log file gets the summary, not a stray newline
        ) as bar,
    ):
        task = bar.add_task("", total=None)

        def on_progress(done: int, total: int, path: str) -> None:
            bar.update(task, completed=done, total=total, description=Path(path).name)

        report = Ingester(memory).ingest(paths, on_progress)
        total_chunks = memory.count()
        name = memory.collection_name
    for label, sources in (
        ("added", report.added),
        ("replaced", report.replaced),
        ("deleted", report.deleted),
    ):
        for source in sources:
            console.print(f"  [green]{label}[/] {escape(str(source))}", highlight=False)
    for skipped in report.skipped:
        console.print(
            f"  [yellow]skipped[/] {escape(str(skipped.path))}: {escape(skipped.reason)}", highlight=False
        )
    console.print(
        f"[bold]{name}[/]: {len(report.added)} added, {len(report.unchanged)} unchanged, "
        f"{len(report.replaced)} replaced, {len(report.deleted)} deleted, {len(report.skipped)} skipped; "
        f"{report.chunks_written} chunks written, {report.chunks_deleted} deleted, {total_chunks} in the "
        f"collection ({report.seconds:.1f}s)",
        highlight=False,
    )
    _check_something_ingested(report, paths)


def _check_something_ingested(report: IngestReport, paths: list[Path]) -> None:
    """Raise when the run changed nothing and nothing was already there: every file was skipped, or
    there was no file. Unchanged files are a success: they are in memory from an earlier run."""
    if report.added or report.replaced or report.deleted:
        return
    if report.unchanged:
        console.print(
            f"nothing new: {len(report.unchanged)} unchanged since they were ingested", highlight=False
        )
        return
    if report.skipped:
        raise IngestionError(
            f"nothing was ingested: every file was skipped ({len(report.skipped)}, reasons above)",
            "ingest files with text in them: .txt, .md, .html, .pdf or source code (a file named on the "
            "command line is read as plain text whatever its suffix; a scanned PDF needs OCR first, "
            "e.g. ocrmypdf)",
        )
    raise IngestionError(
        "nothing was ingested: no files in " + ", ".join(str(p) for p in paths),
        "name files or folders that hold documents (hidden files and folders are left out)",
    )
