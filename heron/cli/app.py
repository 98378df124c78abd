"""The `heron` command tree (typer). Each command module adds its commands to ``app``; the package's
``main`` imports them and runs it. Kept apart from ``heron.cli`` so that the command modules import
it without importing the package that imports them."""

from __future__ import annotations

import typer

import heron

app = typer.Typer(
    name="heron",
    help="heron: local-first agents and RAG. A planner LLM runs in-process through llama.cpp and calls "
    "tools (sandboxed Python, retrieval over Chroma, files, a calculator). Nothing calls a cloud service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"heron {heron.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print heron's version and exit."
    ),
    verbose: bool = typer.Option(
        False,
        "--verbose",
        "-v",
        help="Also show the libraries' own output on stderr (weight-loading bars, warnings, log lines); "
        "give it before the command: heron -v ingest DOCS.",
    ),
) -> None:
    """Settings come from heron.toml (project dir, then user config dir) and HERON_* variables."""
    from heron.quiet import quiet_libraries

    quiet_libraries(verbose)
    _warn_of_unknown_variables()


def _warn_of_unknown_variables() -> None:
    """One plain line per misspelt HERON_* variable, instead of Python's warning (file and line)."""
    import warnings

    from rich.console import Console
    from rich.markup import escape

    from heron.config import unknown_variables
    from heron.errors import SettingsWarning

    console = Console(stderr=True, soft_wrap=True)
    for line in unknown_variables():
        console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False)
    warnings.filterwarnings("ignore", category=SettingsWarning)
