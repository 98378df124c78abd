"""The ``heron`` command. Each subcommand lives in its own module and registers itself on ``app``.

Exit codes, for schedulers and scripts (heron.status): 0 success, 1 run failure, 2 usage or config
mistake, 3 a budget ended the run.
"""

from __future__ import annotations

import inspect
import sys
from typing import Any

import typer
import typer.main
from rich.console import Console
from rich.markup import escape

from heron.cli.app import app
from heron.errors import HeronError, RunError, UsageError
from heron.status import EXIT_FAILED, EXIT_OK, EXIT_USAGE

err_console = Console(stderr=True, soft_wrap=True)  # paths in messages must stay whole: no folding


def _register() -> None:
    # Imported for their side effect of adding commands to `app`; one module per group of commands.
    from heron.cli import chat, commands, evals, ingest, mcp, models, run, serve  # noqa: F401


# typer (0.2x) labels parameters with Python types; --help names them as click always did.
_PLAIN_TYPE_WORDS = {"int": "INTEGER", "int range": "INTEGER", "float": "NUMBER", "float range": "NUMBER"}
_PLAIN_TYPE_WORDS |= {"str": "TEXT", "path": "PATH", "Path": "PATH", "datetime": "DATE"}


def _help_in_plain_words(command: Any) -> None:
    """Make ``--help`` read as prose: no ``<list[Path]>`` or ``<bool>`` labels (an argument's name says
    what it is, a flag takes no value, other options get click's words: PATH, INTEGER, TEXT),
    arguments on the usage line as click writes them (``PATHS...``, not ``{paths}...``), docstrings
    re-flowed, since typer keeps their source line breaks, and brackets kept: help text is plain text,
    not rich markup (``[mcp.servers.NAME]`` would vanish as a tag). A no-op on older typers."""
    if command.help:
        paragraphs = inspect.cleandoc(command.help).split("\n\n")
        command.help = escape("\n\n".join(" ".join(p.split()) for p in paragraphs))
    ctx = command.context_class(command)
    help_option = command.get_help_option(ctx)
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if not hasattr(param, "display_type"):
            continue
        if getattr(param, "help", None):
            param.help = escape(param.help)
        if param.param_type_name == "argument":
            param.display_type_rich = lambda ctx: None
            param.metavar = param.metavar or param.name.upper()
            param.get_usage_pieces = lambda ctx, argument=param: [_usage_piece(argument)]
        elif getattr(param, "is_flag", False):
            param.metavar = ""
        elif param.metavar is None:
            label = param.display_type(ctx).strip("<>")
            if label.startswith("list[") and label.endswith("]"):  # a repeatable option: one value's word
                label = label[5:-1]
            param.metavar = _PLAIN_TYPE_WORDS.get(label, label)
    for sub in getattr(command, "commands", {}).values():
        _help_in_plain_words(sub)


def _usage_piece(argument: Any) -> str:
    """An argument on the usage line as click writes it: ``NAME``, ``[NAME]`` when optional, ``...``
    after it when repeatable."""
    piece = argument.metavar if argument.required else f"[{argument.metavar}]"
    return piece + ("..." if argument.nargs != 1 else "")


def main(argv: list[str] | None = None, obj: dict[str, Any] | None = None) -> int:
    """Entry point of the console script; turns heron's errors into messages and exit codes.

    ``obj``: objects for the commands, as click's context object (``{"llm": ...}``: the model
    ``heron chat`` uses instead of loading the configured one, for embedding and tests)."""
    _register()
    command = typer.main.get_command(app)
    _help_in_plain_words(command)
    try:
        # Not standalone: click returns the exit code of typer.Exit instead of calling sys.exit.
        code = command(args=argv, prog_name="heron", standalone_mode=False, obj=obj)
    except UsageError as exc:
        # escaped: a message may hold brackets (`[evals] data_dir`, a list) that rich would take as markup
        err_console.print(f"[bold red]error:[/] {escape(exc.problem)}", highlight=False)
        if exc.hint:
            err_console.print(f"[bold]fix:[/] {escape(exc.hint)}", highlight=False)
        return EXIT_USAGE
    except (RunError, HeronError) as exc:
        err_console.print(f"[bold red]failed:[/] {escape(str(exc))}", highlight=False)
        return EXIT_FAILED if isinstance(exc, RunError) else EXIT_USAGE
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
