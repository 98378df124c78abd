"""Core subcommands: doctor, config, demo."""

from __future__ import annotations

import json
import math
from typing import Any, get_args, get_origin

import typer
from rich.console import Console
from rich.markup import escape

import heron
from heron.cli.app import app
from heron.cli.doctor import run_checks
from heron.config import Settings, load_settings

console = Console(soft_wrap=True)  # long paths must stay whole for copy-paste
_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "problem": "[bold red]problem[/]"}


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check what heron will use here: python, llama.cpp (GPU offload, devices), the model (or the model
    server), embeddings, Chroma, the data dir, the run store, the Ray cluster (HERON_RAY_ADDRESS) and the
    sandbox. Exits 1 if any check is a problem."""
    checks = run_checks(load_settings())
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            pad = " " * (7 - len(c.status))
            console.print(f"{_MARK[c.status]}{pad} [bold]{c.name:<12}[/] {escape(c.detail)}", highlight=False)
            if c.fix and c.status != "ok":
                console.print(f"{'':8} {'':12} [cyan]fix:[/] {escape(c.fix)}", highlight=False)
    if any(c.status == "problem" for c in checks):
        raise typer.Exit(1)


@app.command("config")
def show_config() -> None:
    """Print the effective settings (files, HERON_* variables and defaults merged) as TOML that heron
    reads back: save it as heron.toml to start from. Unset settings are printed as comments."""
    settings = load_settings()
    files = ", ".join(str(p) for p in settings.config_files) or "none"
    typer.echo(f"# heron {heron.__version__}; config files read: {files}")
    data = settings.model_dump(mode="json")
    _print_table(data, Settings.model_fields)
    _print_groups([], data, Settings.model_fields)


def _print_groups(
    path: list[str], values: dict[str, Any], fields: dict[str, Any], entries: dict[str, Any] | None = None
) -> None:
    """Each dict in ``values`` as its own ``[a.b]`` table, nested ones too (``[mcp.servers.time]``).

    ``entries``: the fields of every value when ``values`` is a ``dict[str, Model]`` of named entries."""
    for key, value in values.items():
        if not isinstance(value, dict):
            continue
        info = fields.get(key)
        group = info.annotation if info is not None else None
        named = None
        if entries is not None:
            inner = entries
        elif get_origin(group) is dict:  # dict[str, Model]: named entries, each a Model
            inner, named = {}, _fields_of(get_args(group)[1])
        else:
            inner = _fields_of(group)
        table = [*path, toml_key(key)]
        typer.echo(f"\n[{'.'.join(table)}]")
        _print_table(value, inner)
        _print_groups(table, value, inner, named)


def _fields_of(annotation: Any) -> dict[str, Any]:
    is_model = isinstance(annotation, type) and hasattr(annotation, "model_fields")
    return annotation.model_fields if is_model else {}


def toml_key(key: str) -> str:
    """A table or key name as TOML writes it: bare when it can be, else quoted."""
    return key if key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key) else _toml_string(key)


def _print_table(values: dict[str, Any], fields: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict):
            continue  # a group: printed as its own [table]
        if value is None:  # TOML has no null: an unset value is a comment
            info = fields.get(key)
            about = f" ({info.description})" if info is not None and info.description else ""
            typer.echo(f"# {toml_key(key)} = ...  unset{about}")
        else:
            typer.echo(f"{toml_key(key)} = {toml_value(value)}")


def toml_value(value: Any) -> str:
    """A JSON-mode value (str, int, float, bool, list) as a TOML value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # inside a list: an inline table
        return "{" + ", ".join(f"{toml_key(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return _toml_string(value) if isinstance(value, str) else json.dumps(value)


def _toml_string(text: str) -> str:
    # JSON's string escapes (\\ \" \n \uXXXX) are TOML's; ensure_ascii=False keeps characters outside
    # the BMP whole, since TOML rejects the surrogate pairs JSON would write for them; TOML also
    # rejects a raw DEL, which JSON leaves as it is.
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")
