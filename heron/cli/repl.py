"""``heron chat``: the interactive REPL. Questions go to the agent (or to plain chat with
``--no-tools``); lines starting with ``/`` are commands (see :mod:`heron.cli.repl_commands`).
Standard input that is not a terminal is read line by line, one message per line
(:mod:`heron.cli.repl_input`).

Nothing that happens in one question ends the session: a tool or model error is shown and the
prompt comes back; Ctrl-C stops the running question (not the REPL); Ctrl-D or ``/exit`` leave.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape

from heron.agents import Agent, approve_all
from heron.cli.conversations import AgentConversation, Conversation, PlainChat
from heron.cli.render import render_event
from heron.cli.repl_commands import COMMANDS, run_command
from heron.cli.repl_input import PipedLines, message_reader
from heron.cli.repl_turns import TurnRunner
from heron.cli.repl_view import ReplView
from heron.config import Settings
from heron.llm.base import LLM
from heron.tools import builtin_tools
from heron.tools.mcp import MCPServers
from heron.tracing import trace_path

if TYPE_CHECKING:
    from heron.memory import VectorMemory


class Repl:
    """One interactive session: a model, a conversation, optional memory, the terminal.

    ``llm`` is owned by the REPL from here on (closed on exit or when ``/model`` replaces it).
    ``memory``: ingested documents for ``/ingest``, ``/memory`` and the agent's retrieve tool.
    ``approve_risky``: run risky tools (python, write_file) without asking (``--yes``).
    ``workspace``: the folder the tools read and write (default ``<data_dir>/workspace``).
    """

    def __init__(
        self,
        settings: Settings,
        llm: LLM,
        *,
        memory: VectorMemory | None = None,
        use_tools: bool = True,
        approve_risky: bool = False,
        console: Console | None = None,
        workspace: Path | None = None,
    ) -> None:
        self.settings = settings
        self.workspace = (workspace or settings.data_dir / "workspace").expanduser().resolve()
        self.llm = llm
        self.memory = memory
        self.view = ReplView(console or Console(highlight=False, soft_wrap=True))
        self.runner = TurnRunner(
            self._show, self.view.ask_approval, self.view.stopping, self.view.ask_batch_approval
        )
        self.last_trace: Path | None = None
        self._sub_runs: set[str] = set()  # runs of sub-agents (Agent.as_tool) inside a question's run
        self.memory_tools_missing = False
        self.mcp = MCPServers(settings.mcp.servers)  # [mcp.servers.*]: started with the first agent
        self._approve = approve_all if approve_risky else self.runner.approver
        self.conversation: Conversation = (
            AgentConversation(self._make_agent, llm) if use_tools else PlainChat(llm, settings)
        )

    def _make_agent(self, llm: LLM) -> Agent:
        memory = self.memory
        if memory is not None and importlib.util.find_spec("heron.memory.tools") is None:
            # an install without the retrieve/remember tools: /ingest and /memory still work
            self.memory_tools_missing, memory = True, None
        tools = builtin_tools()
        if self.settings.image.model_path is not None:  # offered only when a model can answer it
            from heron.tools.image import generate_image

            tools.append(generate_image)
        reported = len(self.mcp.problems)
        tools.extend(self.mcp.tools(taken={t.name for t in tools} | {"retrieve", "remember"}))
        for problem in self.mcp.problems[reported:]:  # a server that did not start costs its tools only
            self.view.note(f"[yellow]MCP:[/] {escape(problem)}")
        return Agent(
            model=llm,
            tools=tools,
            memory=memory,
            approve=self._approve,
            settings=self.settings,
            workspace=self.workspace,
        )

    # -- the loop ---------------------------------------------------------------------------------

    def run(self) -> int:
        """Read and answer until Ctrl-D or /exit; returns the exit code (0)."""
        prompt = message_reader(self.settings.data_dir, [f"/{name}" for name in COMMANDS], self.view.echo)
        piped = isinstance(prompt, PipedLines)
        self._banner(piped)
        if isinstance(prompt, PipedLines):  # replies and messages come from the same lines
            self.view.read_replies_from(prompt)
        while True:
            try:
                text = prompt.prompt().strip()
            except KeyboardInterrupt:  # Ctrl-C at the prompt clears the line
                continue
            except EOFError:  # Ctrl-D
                break
            if not text:
                continue
            try:
                if text.startswith("/"):
                    if run_command(self, text):
                        break
                else:
                    self.ask(text)
            except KeyboardInterrupt:  # a Ctrl-C that arrived between the steps of a question
                continue
            except Exception as exc:  # nothing in one message ends the session
                self.view.show_error(exc)
        self.view.note("[dim]bye[/]")
        return 0

    def ask(self, text: str) -> None:
        """Send one message and show the run as it happens; errors and Ctrl-C end only this question."""
        forgotten = self.conversation.forgotten
        outcome = self.runner.run(
            lambda callbacks: self.conversation.send(text, callbacks),
            on_cancel=getattr(getattr(self.conversation, "agent", None), "cancel", None),
        )
        if outcome.cancelled:
            self.view.stopped()
        elif outcome.error is not None:
            self.view.show_error(outcome.error)
        dropped = self.conversation.forgotten - forgotten
        if dropped > 0:
            self.view.note(
                f"[dim](the {dropped} oldest exchange{'s' if dropped > 1 else ''} left the conversation "
                "to keep it within the model's context; /reset starts afresh)[/]"
            )

    def _show(self, event: Any) -> None:
        kind = getattr(event, "type", "")
        if kind == "run_started" and event.parent_run_id:
            self._sub_runs.add(event.run_id)
        if getattr(event, "run_id", None) in self._sub_runs:  # a sub-agent's work: one indented line each
            line = render_event(event)
            if line:
                self.view.note("  [dim]│[/] " + line)
            return
        if kind == "run_started":
            self.last_trace = trace_path(self.settings.data_dir, event.run_id)
        self.view.show_event(event)

    def _banner(self, piped: bool) -> None:
        tools = ", ".join(t.name for t in self.conversation.tools) or "none (plain chat, replies stream)"
        memory = "off"
        if self.memory is not None:
            collection = f"collection {self.memory.collection_name}"
            # without tools there is no retrieve or remember tool: the model never reaches memory
            memory = (
                f"on ({collection})"
                if self.conversation.tools
                else f"unused without tools (/ingest and /memory still work on {collection})"
            )
        self.view.note(f"[bold]heron chat[/] - model [cyan]{escape(self.llm.name)}[/]")
        self.view.note(f"[dim]tools: {escape(tools)}; memory: {memory}[/]")
        if self.conversation.tools:
            self.view.note(
                f"[dim]workspace (files the tools read and write): {escape(str(self.workspace))}[/]"
            )
        if self.memory_tools_missing:
            self.view.note(
                "[yellow]the retrieve/remember tools are not installed; /ingest and /memory work[/]"
            )
        if piped:  # no keys to explain: the lines of standard input are the messages
            self.view.note(
                "[dim]reading standard input: each line is a message (a trailing \\ goes on with the "
                "next line), or the reply to an approval question before it.[/]"
            )
            return
        self.view.note(
            "[dim]/help lists commands. Enter sends; Alt-Enter or a trailing \\ adds a line; "
            "Ctrl-C stops an answer; Ctrl-D exits.[/]"
        )

    # -- resources --------------------------------------------------------------------------------

    def switch_model(self, llm: LLM) -> None:
        """Go on with ``llm`` (the conversation is kept) and free the model used so far."""
        old, self.llm = self.llm, llm
        self.conversation.switch_model(llm)
        old.close()

    def close(self) -> None:
        """Stop the tool session, release memory and free the model."""
        try:
            self.conversation.close()
        finally:
            self.mcp.close()
            if self.memory is not None:
                self.memory.close()
            self.llm.close()
