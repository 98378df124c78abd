"""The ``heron`` command. Each subcommand lives in its own module and registers itself on ``app``.

Exit codes, for schedulers and scripts: 0 success, 1 run failure, 2 usage or config mistake.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

import heron
from heron.errors import HeronError, RunError, UsageError

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="heron",
    help="heron: local-first agents and RAG. A planner LLM runs in-process through llama.cpp and calls "
    "tools (sandboxed Python, retrieval over Chroma, files, a calculator). Nothing calls a cloud service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"heron {heron.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print heron's version and exit."
    ),
) -> None:
    """Settings come from heron.toml (project dir, then user config dir) and HERON_* variables."""


def _register() -> None:
    # Imported for their side effect of adding commands to `app`; one module per group of commands.
    from heron.cli import chat, commands, evals, ingest, run  # noqa: F401


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; turns heron's errors into messages and exit codes."""
    _register()
    try:
        # Not standalone: click returns the exit code of typer.Exit instead of calling sys.exit.
        code = app(args=argv, standalone_mode=False)
    except UsageError as exc:
        err_console.print(f"[bold red]error:[/] {exc.problem}", highlight=False)
        if exc.hint:
            err_console.print(f"[bold]fix:[/] {exc.hint}", highlight=False)
        return EXIT_USAGE
    except (RunError, HeronError) as exc:
        err_console.print(f"[bold red]failed:[/] {exc}", highlight=False)
        return EXIT_RUN_FAILED if isinstance(exc, RunError) else EXIT_USAGE
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            return EXIT_USAGE
        raise
    return code if isinstance(code, int) else EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
