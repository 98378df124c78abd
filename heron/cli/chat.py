"""`heron chat`: the interactive REPL (see :mod:`heron.cli.repl` and docs/repl.md)."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from heron.cli.app import app
from heron.config import load_settings

if TYPE_CHECKING:
    from heron.llm.base import LLM


@app.command()
def chat(
    ctx: typer.Context,
    model: Path | None = typer.Option(
        None, "--model", help="GGUF file to chat with (default: the configured model, see `heron models`)."
    ),
    yes: bool = typer.Option(False, "--yes", help="Run risky tools (python, write_file) without asking."),
    no_memory: bool = typer.Option(
        False, "--no-memory", help="No vector memory: no retrieval, /ingest, /memory."
    ),
    no_tools: bool = typer.Option(
        False, "--no-tools", help="Plain chat without tools; replies stream by token."
    ),
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        help="Folder the tools read and write files in, e.g. `--workspace .` for this one "
        "(default: <data_dir>/workspace).",
    ),
) -> None:
    """Chat with the agent: tool calls, approvals and citations shown as they happen. /help inside lists
    the commands; Ctrl-C stops an answer, Ctrl-D exits. History is kept in <data_dir>/chat_history."""
    from heron.cli.repl import Repl

    # A shell without job control starts background commands with SIGINT ignored, and the process
    # inherits that; an interactive chat always takes Ctrl-C, which stops the running answer.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    overrides = {"model_path": model} if model is not None else {}
    settings = load_settings(**overrides)
    console = Console(highlight=False, soft_wrap=True)
    llm: LLM | None = (ctx.obj or {}).get("llm")  # given by a program embedding heron (or a test)
    if llm is None:
        from heron.llm import open_llm

        with console.status("loading the model..."):
            llm = open_llm(settings)
    memory = None
    try:
        if not no_memory:
            from heron.memory import VectorMemory

            memory = VectorMemory(settings)  # Chroma and the embedding model load on first use
        repl = Repl(
            settings,
            llm,
            memory=memory,
            use_tools=not no_tools,
            approve_risky=yes,
            console=console,
            workspace=workspace,
        )
    except BaseException:
        if memory is not None:
            memory.close()
        llm.close()
        raise
    try:
        code = repl.run()
    finally:
        repl.close()
    raise typer.Exit(code)
