"""The REPL's slash commands: /help, /tools, /ingest, /memory, /trace, /model, /reset, /exit.

Each handler gets the running session (a :class:`ReplHost`, which :class:`~heron.cli.repl.Repl` is)
and the text after the command; it returns True to end the session. An error in a command is shown
and the session goes on.
"""

from __future__ import annotations

import shlex
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from rich.markup import escape
from rich.table import Table

from heron.cli.render import render_event
from heron.tracing import read_trace

if TYPE_CHECKING:
    from heron.cli.conversations import Conversation
    from heron.cli.repl_view import ReplView
    from heron.config import Settings
    from heron.llm.base import LLM
    from heron.memory import VectorMemory


class ReplHost(Protocol):
    """What the slash commands may use of the session that runs them (``heron.cli.repl.Repl``)."""

    settings: Settings
    view: ReplView
    llm: LLM
    memory: VectorMemory | None
    conversation: Conversation
    last_trace: Path | None

    def switch_model(self, llm: LLM) -> None: ...


_SOURCES_SHOWN = 20
_RECALL_K = 5


@dataclass(frozen=True)
class SlashCommand:
    usage: str
    help: str
    handler: Callable[[ReplHost, str], bool]


def run_command(repl: ReplHost, line: str) -> bool:
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


def _help(repl: ReplHost, argument: str) -> bool:
    table = Table(show_header=False, box=None, padding=(0, 2))
    for command in COMMANDS.values():
        table.add_row(escape(command.usage), escape(command.help))  # `[QUERY]`, `[all|full]`: not markup
    repl.view.console.print(table)
    repl.view.note(
        "Anything else is a message. Enter sends it; Alt-Enter (Esc, Enter) or a line ending in \\ "
        "starts a new line. Up/Down: history. Ctrl-C: stop the answer being written. Ctrl-D: exit."
    )
    return False


def _tools(repl: ReplHost, argument: str) -> bool:
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


def _ingest(repl: ReplHost, argument: str) -> bool:
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


def _memory(repl: ReplHost, argument: str) -> bool:
    memory = repl.memory
    if memory is None:
        repl.view.note("memory is off (started with --no-memory)")
        return False
    if argument:
        from heron.memory.tools import cite_id

        passages = memory.search(argument, k=_RECALL_K, distinct=True)  # each text once, as retrieve shows it
        if not passages:
            repl.view.note(f"nothing in memory matches {escape(argument)!r}")
        for passage in passages:  # by the id the agent's retrieve shows and cites
            text = " ".join(passage.text.split())[:200]
            repl.view.note(
                f"[cyan]\\[{escape(cite_id(passage))}][/] {escape(passage.citation())}\n    {escape(text)}"
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


def _trace(repl: ReplHost, argument: str) -> bool:
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


def _model(repl: ReplHost, argument: str) -> bool:
    served = repl.settings.llm_base_url
    if not argument:
        repl.view.note(f"model: [cyan]{escape(repl.llm.name)}[/]")
        switch = (
            "a model name the server offers" if served else "a model name (`heron models`) or a GGUF path"
        )
        repl.view.note(f"[dim]/model NAME switches to {switch}; the conversation is kept[/]")
        return False
    if served:  # the configured backend is a server: switch the model it serves, not to a local file
        settings = repl.settings.model_copy(update={"llm_model_name": argument})
    else:  # a name heron knows or a path: checked before anything loads
        settings = repl.settings.model_copy(update={"model": argument, "model_path": None})
        settings.llm_model_path()
    from heron.llm import open_llm

    repl.view.note(f"[dim]loading {escape(argument)}...[/]")
    llm = open_llm(settings)
    repl.switch_model(llm)
    repl.view.note(f"model: [cyan]{escape(llm.name)}[/] (the conversation is kept)")
    return False


def _reset(repl: ReplHost, argument: str) -> bool:
    repl.conversation.reset()
    repl.view.note("conversation cleared: the next message starts afresh")
    return False


def _exit(repl: ReplHost, argument: str) -> bool:
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
    "model": SlashCommand(
        "/model [NAME]", "show the model, or switch to another (a name, a GGUF path, a served model)", _model
    ),
    "reset": SlashCommand("/reset", "forget the conversation so far", _reset),
    "exit": SlashCommand("/exit", "leave (Ctrl-D does the same)", _exit),
}
