"""``heron ingest PATH...``: add files and folders to vector memory, incrementally."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from heron.cli import app
from heron.config import load_settings

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
    """Add .txt, .md, .html, .pdf and source files to vector memory for retrieval.

    Re-running writes only what changed: unchanged files are skipped, edited files replace their chunks,
    files removed from an ingested folder lose theirs. Unreadable, binary or empty files are reported and
    skipped."""
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
            console.print(f"  [green]{label}[/] {source}", highlight=False)
    for skipped in report.skipped:
        console.print(f"  [yellow]skipped[/] {skipped.path}: {skipped.reason}", highlight=False)
    console.print(
        f"[bold]{name}[/]: {len(report.added)} added, {len(report.unchanged)} unchanged, "
        f"{len(report.replaced)} replaced, {len(report.deleted)} deleted, {len(report.skipped)} skipped; "
        f"{report.chunks_written} chunks written, {report.chunks_deleted} deleted, {total_chunks} in the "
        f"collection ({report.seconds:.1f}s)",
        highlight=False,
    )
