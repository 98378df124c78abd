"""The REPL's slash commands: /help, /tools, /ingest, /memory, /trace, /model, /reset, /exit.

Each handler gets the running :class:`~heron.cli.repl.Repl` and the text after the command; it
returns True to end the session. An error in a command is shown and the session goes on.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from heron.cli.render import render_event
from heron.errors import ModelLoadError
from heron.tracing import read_trace

if TYPE_CHECKING:
    from heron.cli.repl import Repl

_SOURCES_SHOWN = 20
_RECALL_K = 5


@dataclass(frozen=True)
class SlashCommand:
    usage: str
    help: str
    handler: Callable[[Repl, str], bool]


def run_command(repl: Repl, line: str) -> bool:
    """Run one ``/command args`` line; True when the session should end."""
    name, _, argument = line[1:].partition(" ")
    command = COMMANDS.get(name.strip().lower())
    if command is None:
        repl.view.note(f"[red]unknown command[/] /{escape(name)}; /help lists the commands")
        return False
    try:
        return command.handler(repl, argument.strip())
    except KeyboardInterrupt:
        repl.view.note(f"[yellow]/{name} stopped[/]")
    except Exception as exc:  # a failing command must not end the session
        repl.view.show_error(exc)
    return False


def _help(repl: Repl, argument: str) -> bool:
    table = Table(show_header=False, box=None, padding=(0, 2))
    for command in COMMANDS.values():
        table.add_row(command.usage, command.help)
    repl.view.console.print(table)
    repl.view.note(
        "Anything else is a message. Enter sends it; Alt-Enter (Esc, Enter) or a line ending in \\ "
        "starts a new line. Up/Down: history. Ctrl-C: stop the answer being written. Ctrl-D: exit."
    )
    return False


def _tools(repl: Repl, argument: str) -> bool:
    tools = repl.conversation.tools
    if not tools:
        repl.view.note("no tools: this is plain chat (started with --no-tools)")
        return False
    table = Table("tool", "risk", "what it does", box=None, padding=(0, 2), highlight=False)
    for tool in tools:
        risk = "[yellow]high: asks first[/]" if tool.risk.value == "high" else "low"
        table.add_row(tool.name, risk, escape(tool.description.strip().splitlines()[0]))
    repl.view.console.print(table)
    return False


def _ingest(repl: Repl, argument: str) -> bool:
    memory = repl.memory
    if memory is None:
        repl.view.note("memory is off (started with --no-memory); nothing to ingest into")
        return False
    paths = shlex.split(argument)
    if not paths:
        repl.view.note("usage: /ingest PATH [PATH...]  (files or folders)")
        return False
    from heron.memory import Ingester

    def progress(done: int, total: int, path: str) -> None:
        repl.view.note(f"[dim]  [{done}/{total}] {escape(path)}[/]")

    repl.view.note("[dim]ingesting (the embedding model loads on first use)...[/]")
    report = Ingester(memory).ingest([Path(p) for p in paths], progress=progress)
    repl.view.note(f"ingested: {escape(report.summary())}")
    for skipped in report.skipped:
        repl.view.note(f"[yellow]  skipped[/] {escape(skipped.path)}: {escape(skipped.reason)}")
    return False


def _memory(repl: Repl, argument: str) -> bool:
    memory = repl.memory
    if memory is None:
        repl.view.note("memory is off (started with --no-memory)")
        return False
    if argument:
        passages = memory.search(argument, k=_RECALL_K)
        if not passages:
            repl.view.note(f"nothing in memory matches {escape(argument)!r}")
        for passage in passages:
            text = " ".join(passage.text.split())[:200]
            repl.view.note(
                f"[cyan]\\[{escape(passage.id)}][/] {escape(passage.citation())}\n    {escape(text)}"
            )
        return False
    sources = Counter(str(meta.get("source", "?")) for _, _, meta in memory.iter_records())
    chunks = sum(sources.values())
    repl.view.note(
        f"memory (collection {memory.collection_name}): {chunks} chunks from {len(sources)} sources"
    )
    for source, count in sources.most_common(_SOURCES_SHOWN):
        repl.view.note(f"  {count:>5}  {escape(source)}")
    if len(sources) > _SOURCES_SHOWN:
        repl.view.note(f"  ... and {len(sources) - _SOURCES_SHOWN} more sources")
    repl.view.note("[dim]/memory QUERY shows the passages that match QUERY; /ingest PATH adds files[/]")
    return False


def _trace(repl: Repl, argument: str) -> bool:
    path = repl.last_trace
    if path is None or not path.is_file():
        repl.view.note("no run yet in this session: ask something first")
        return False
    events = read_trace(path)
    if argument != "all":  # the latest question only: from its run_started on
        starts = [i for i, e in enumerate(events) if e.type == "run_started"]
        events = events[starts[-1] :] if starts else events
    repl.view.note(f"[dim]trace {escape(str(path))}[/]")
    for event in events:
        line = render_event(event, verbose=argument == "full")
        if line:
            repl.view.console.print(line, highlight=False)
    return False


def _model(repl: Repl, argument: str) -> bool:
    if not argument:
        repl.view.note(f"model: [cyan]{escape(repl.llm.name)}[/]")
        repl.view.note("[dim]/model PATH.gguf switches to another GGUF file; the conversation is kept[/]")
        return False
    path = Path(argument).expanduser()
    if path.suffix.lower() != ".gguf" or not path.is_file():
        problem = f"model file not found: {path}" if not path.exists() else f"{path} is not a .gguf file"
        raise ModelLoadError(problem, "give /model the path of an existing GGUF model file")
    from heron.llm import LocalLLM

    repl.view.note(f"[dim]loading {escape(str(path))}...[/]")
    llm = LocalLLM.from_settings(repl.settings.model_copy(update={"model_path": path}))
    repl.switch_model(llm)
    repl.view.note(f"model: [cyan]{escape(llm.name)}[/] (the conversation is kept)")
    return False


def _reset(repl: Repl, argument: str) -> bool:
    repl.conversation.reset()
    repl.view.note("conversation cleared: the next message starts afresh")
    return False


def _exit(repl: Repl, argument: str) -> bool:
    return True


COMMANDS: dict[str, SlashCommand] = {
    "help": SlashCommand("/help", "this list", _help),
    "tools": SlashCommand("/tools", "the tools the agent may call, and which ask for approval", _tools),
    "ingest": SlashCommand(
        "/ingest PATH", "add files or folders to memory (searchable by the agent)", _ingest
    ),
    "memory": SlashCommand(
        "/memory [QUERY]", "what memory holds; with QUERY, the passages that match", _memory
    ),
    "trace": SlashCommand(
        "/trace [all|full]", "what the last question did: model turns, tools, answer", _trace
    ),
    "model": SlashCommand("/model [PATH]", "show the model, or switch to another GGUF file", _model),
    "reset": SlashCommand("/reset", "forget the conversation so far", _reset),
    "exit": SlashCommand("/exit", "leave (Ctrl-D does the same)", _exit),
}
