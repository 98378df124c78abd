"""Core subcommands: doctor, config, demo."""

from __future__ import annotations

import json

import typer
from rich.console import Console

from heron.cli import app
from heron.cli.doctor import run_checks
from heron.config import load_settings

console = Console(soft_wrap=True)  # long paths must stay whole for copy-paste
_MARK = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "problem": "[bold red]problem[/]"}


@app.command()
def doctor(as_json: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check what heron will use here: python, llama.cpp (GPU offload, devices), the model, embeddings,
    Chroma, the data dir and the sandbox. Exits 1 if any check is a problem."""
    checks = run_checks(load_settings())
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], indent=2))
    else:
        for c in checks:
            pad = " " * (7 - len(c.status))
            console.print(f"{_MARK[c.status]}{pad} [bold]{c.name:<12}[/] {c.detail}", highlight=False)
            if c.fix and c.status != "ok":
                console.print(f"{'':8} {'':12} [cyan]fix:[/] {c.fix}", highlight=False)
    if any(c.status == "problem" for c in checks):
        raise typer.Exit(1)


@app.command("config")
def show_config() -> None:
    """Print the effective settings (files, HERON_* variables and defaults merged) as TOML-like lines."""
    settings = load_settings()
    data = settings.model_dump(mode="json")
    for key, value in data.items():
        if isinstance(value, dict):
            continue
        typer.echo(f"{key} = {json.dumps(value)}")
    for key, value in data.items():
        if isinstance(value, dict):
            typer.echo(f"\n[{key}]")
            for sub, sub_value in value.items():
                typer.echo(f"{sub} = {json.dumps(sub_value)}")
    files = ", ".join(str(p) for p in settings.config_files) or "none"
    typer.echo(f"\n# config files read: {files}")
