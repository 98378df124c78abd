"""The ``heron`` command. Each subcommand lives in its own module and registers itself on ``app``.

Exit codes, for schedulers and scripts: 0 success, 1 run failure, 2 usage or config mistake.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer
import typer.main
from rich.console import Console
from rich.markup import escape

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


def _register() -> None:
    # Imported for their side effect of adding commands to `app`; one module per group of commands.
    from heron.cli import chat, commands, evals, ingest, models, run  # noqa: F401


# typer (0.2x) labels parameters with Python types; --help names them as click always did.
_PLAIN_TYPE_WORDS = {"int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER"}
_PLAIN_TYPE_WORDS |= {"str": "TEXT", "path": "PATH", "Path": "PATH", "datetime": "DATE"}


def _help_in_plain_words(command: Any) -> None:
    """Make ``--help`` read as prose: no ``<list[Path]>`` or ``<bool>`` labels (an argument's name says
    what it is, a flag takes no value, other options get click's words: PATH, INTEGER, TEXT), and
    docstrings re-flowed, since typer keeps their source line breaks. A no-op on older typers."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = "\n\n".join(" ".join(p.split()) for p in paragraphs)
    ctx = command.context_class(command)
    help_option = command.get_help_option(ctx)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if not hasattr(param, "display_type"):
            continue
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.metavar is None:
            label = param.display_type(ctx).strip("<>")
            param.metavar = _PLAIN_TYPE_WORDS.get(label, label)
    for sub in getattr(command, "commands", {}).values():
        _help_in_plain_words(sub)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; turns heron's errors into messages and exit codes."""
    _register()
    command = typer.main.get_command(app)
    _help_in_plain_words(command)
    try:
        # Not standalone: click returns the exit code of typer.Exit instead of calling sys.exit.
        code = command(args=argv, prog_name="heron", standalone_mode=False)
    except UsageError as exc:
        # escaped: a message may hold brackets (`[evals] data_dir`, a list) that rich would take as markup
        err_console.print(f"[bold red]error:[/] {escape(exc.problem)}", highlight=False)
        if exc.hint:
            err_console.print(f"[bold]fix:[/] {escape(exc.hint)}", highlight=False)
        return EXIT_USAGE
    except (RunError, HeronError) as exc:
        err_console.print(f"[bold red]failed:[/] {escape(str(exc))}", highlight=False)
        return EXIT_RUN_FAILED if isinstance(exc, RunError) else EXIT_USAGE
    except typer.Exit as exc:
        return int(exc.exit_code or 0)
    except typer.Abort:
        err_console.print("aborted")
        return 130
    except Exception as exc:  # click's usage errors arrive here in non-standalone mode
        if not isinstance(exc, _click_usage_errors()):
            raise
        show = getattr(exc, "show", None)  # click's errors print usage and message themselves
        if show is not None:
            show()
        else:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        return EXIT_USAGE
    return code if isinstance(code, int) else EXIT_OK


def _click_usage_errors() -> tuple[type[Exception], ...]:
    # typer >= 0.2x carries its own copy of click, whose errors derive from typer.TyperException;
    # older typers raise the click package's.
    errors: list[type[Exception]] = []
    if hasattr(typer, "TyperException"):
        errors.append(typer.TyperException)
    try:
        import click

        errors.append(click.ClickException)
    except ImportError:
        pass
    return tuple(errors)


if __name__ == "__main__":
    sys.exit(main())
