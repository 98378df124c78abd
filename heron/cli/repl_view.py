"""What the REPL shows: events as they happen, streamed text, approvals, errors (rich output)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.markup import escape

from heron.agents import ApprovalRequest, ApprovalResult
from heron.cli.render import render_event
from heron.cli.repl_input import LineReader, PipedLines, answer_reader
from heron.errors import ContextOverflowError, HeronError, UsageError
from heron.status import CUT_NOTE, calls_in_doubt, describe, unsourced_note

_SNIPPET_CHARS = 160
_BAR_CELLS = 24


class ReplView:
    """Prints to ``console``; asks the user through prompt_toolkit (or reads a piped standard input
    line by line). Main thread only."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self._answers: LineReader = answer_reader(self.echo)
        self._streaming = False  # text deltas of the current reply are being printed
        self._generated = 0  # tokens the model generated for the current question
        self._stopping = False  # Ctrl-C was pressed: text still queued from the model is dropped
        self._streamed = ""  # the answer text already streamed, so it is not printed twice

    def read_replies_from(self, lines: PipedLines) -> None:
        """Read approval replies from the piped lines the messages come from."""
        self._answers = lines

    def _not_a_reply(self, reply: str, hint: str) -> bool:
        """An unknown reply: on a terminal, say what to type and ask again (False); from piped lines,
        put the line back to be read as the next message and refuse the call (True)."""
        if isinstance(self._answers, PipedLines):
            self._answers.put_back(reply)
            self.console.print(
                f"[yellow]'{escape(reply)}' is no reply to the approval:[/] the call is refused, and the "
                "line is read as the next message (pass --yes to run risky tools without asking)",
                highlight=False,
            )
            return True
        self.console.print(hint)
        return False

    def echo(self, line: str) -> None:
        """A line read from a piped standard input, shown after its prompt as a terminal would."""
        self.console.print(line, markup=False, highlight=False)

    # -- events -----------------------------------------------------------------------------------

    def show_event(self, event: Any) -> None:
        """One event of the running question, as it happens."""
        kind = getattr(event, "type", "")
        if kind == "token":
            if not self._stopping:
                self._stream(event.text)
            return
        if self._streaming and kind != "answer":
            self._end_stream()
        if kind == "run_started":
            self._generated, self._stopping, self._streamed = 0, False, ""
            self.console.print("[dim]thinking... (Ctrl-C stops)[/]")
        elif kind == "model_turn":
            self._generated += event.completion_tokens
            self.console.print(render_event(event), highlight=False)
        elif kind == "retrieval":
            self._show_retrieval(event)
        elif kind == "tool_progress":
            self._show_progress(event)
        elif kind == "answer":
            self._show_answer(event)
        elif kind == "run_finished":
            self._show_finished(event)
        else:
            line = render_event(event)
            if line:
                self.console.print(line, highlight=False)

    def _stream(self, text: str) -> None:
        if not self._streaming:
            self._streaming = True
            self._streamed = ""
            self.console.print("[bold green]heron:[/] ", end="")
        self._streamed += text
        self.console.file.write(text)  # raw: model text is not rich markup
        self.console.file.flush()

    def _end_stream(self) -> None:
        self._streaming = False
        self.console.file.write("\n")
        self.console.file.flush()

    def _show_progress(self, event: Any) -> None:
        """One line redrawn in place (a bar and done/total) until the tool's last step."""
        total = max(event.total, 1)
        filled = min(_BAR_CELLS, _BAR_CELLS * event.done // total)
        bar = "#" * filled + "-" * (_BAR_CELLS - filled)
        end = "\n" if event.done >= event.total else ""
        self.console.file.write(f"\r  {event.tool}: {event.label} [{bar}] {event.done}/{event.total}{end}")
        self.console.file.flush()

    def _show_retrieval(self, event: Any) -> None:
        query = f' for "{escape(event.query)}"' if event.query else ""
        self.console.print(f"[cyan]retrieved[/] {len(event.passages)} passages{query}:", highlight=False)
        for passage in event.passages:
            self.console.print(f"  {_passage_line(passage)}", highlight=False)

    def _show_answer(self, event: Any) -> None:
        # a streamed answer is not printed again; the footer says when a stop, not the model, ended the run
        already_shown = bool(self._streamed.strip()) and self._streamed.strip() == event.text.strip()
        was_streaming = self._streaming
        if was_streaming:
            self._end_stream()
        if not event.answered:
            flag = f" (stopped by {event.stopped_by})" if event.stopped_by != "answer" else ""
            if self._streamed.strip():  # a verdict on the text just shown, not a second reply
                self.console.print(
                    f"[red](the text above is no answer{flag}: {escape(event.note)})[/]", highlight=False
                )
            else:
                self.console.print(
                    f"[bold red]heron:[/] no answer{flag}: {escape(event.note)}", highlight=False
                )
        elif not already_shown and not was_streaming:
            flag = "" if event.stopped_by == "answer" else f" [red](stopped by {event.stopped_by})[/]"
            self.console.print(f"[bold green]heron:[/]{flag} {escape(event.text)}", highlight=False)
        if event.answered and event.cut:
            self.console.print(f"[yellow]{CUT_NOTE}[/]", highlight=False)
        if event.answered and event.unsourced:
            self.console.print(f"[yellow]{escape(unsourced_note(event.unsourced))}[/]", highlight=False)
        if event.citations:
            # a citation names a passage by its id or by its source, depending on the tool
            passages = {str(p.get(key)): p for p in event.retrieved for key in ("source", "id") if p.get(key)}
            self.console.print("[cyan]sources:[/]")
            for cid in event.citations:
                passage = passages.get(cid)
                line = _passage_line(passage) if passage else escape(cid)
                self.console.print(f"  {line}", highlight=False)

    def _show_finished(self, event: Any) -> None:
        if event.status in ("error", "cancelled"):
            return  # a stopped or failed question gets its own message from the REPL
        # a chat session's usage adds up over the conversation: count this question's own turns
        tokens = self._generated or int(event.usage.get("completion_tokens", 0))
        status = describe(event.status, event.stopped_by or "")
        failures = calls_in_doubt(getattr(event, "failed_calls", 0), getattr(event, "denied_calls", 0))
        self.console.print(f"[dim]({status} in {event.seconds:.1f}s, {tokens} tokens generated{failures})[/]")

    # -- approvals --------------------------------------------------------------------------------

    def ask_approval(self, request: ApprovalRequest) -> ApprovalResult:
        """Approve, deny or edit a risky call; KeyboardInterrupt / EOFError propagate (= stop)."""
        arguments = json.dumps(request.arguments, ensure_ascii=False, indent=2)
        self.console.print(
            f"[bold yellow]approval needed:[/] {request.tool} ({request.risk} risk) wants to run with:",
            highlight=False,
        )
        self.console.print(arguments, markup=False, highlight=False)
        while True:
            line = self._answers.prompt("approve? [y]es / [n]o / [e]dit arguments: ")
            reply = line.strip().lower()
            if reply in ("y", "yes"):
                return ApprovalResult.approve(request.arguments)
            if reply in ("n", "no"):
                return ApprovalResult.deny("denied by the user")
            if reply in ("e", "edit"):
                edited = self._edited_arguments(request.arguments)
                if edited is not None:
                    return ApprovalResult.edit(edited)
            elif self._not_a_reply(line, "type y to run the call, n to refuse it, e to change its arguments"):
                return ApprovalResult.deny("the reply was not y, n or e")

    def ask_batch_approval(self, requests: list[ApprovalRequest]) -> list[ApprovalResult]:
        """Several risky calls of one turn, shown together before any runs: approve all, go through
        them one by one, or refuse all; KeyboardInterrupt / EOFError propagate (= stop)."""
        self.console.print(
            f"[bold yellow]approval needed:[/] {len(requests)} calls of one turn want to run:",
            highlight=False,
        )
        for number, request in enumerate(requests, 1):
            arguments = json.dumps(request.arguments, ensure_ascii=False)
            self.console.print(f"  {number}. {request.tool} ({request.risk} risk) {arguments}", markup=False)
        while True:
            line = self._answers.prompt("approve? [a]ll / [e]ach in turn / [n]one: ")
            reply = line.strip().lower()
            if reply in ("a", "all"):
                return [ApprovalResult.approve(r.arguments) for r in requests]
            if reply in ("n", "none", "no"):
                return [ApprovalResult.deny("denied by the user") for _ in requests]
            if reply in ("e", "each"):
                return [self.ask_approval(r) for r in requests]
            if self._not_a_reply(line, "type a to run them all, e to decide each one, n to refuse them all"):
                return [ApprovalResult.deny("the reply was not a, e or n") for _ in requests]

    def _edited_arguments(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """The arguments the user types instead, asked again until they are a JSON object; None (back to
        the approval question) for an empty line."""
        retry = "type them again" + (  # (piped: an empty line keeps the arguments as they were)
            ""
            if isinstance(self._answers, PipedLines)
            else " (an empty line goes back to the approval question)"
        )
        while True:
            text = self._answers.prompt(
                "new arguments (JSON object): ", default=json.dumps(arguments, ensure_ascii=False)
            )
            if not text.strip():
                return None
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                self.console.print(f"[red]not JSON:[/] {escape(str(exc))}; {retry}", highlight=False)
                continue
            if isinstance(value, dict):
                return value
            self.console.print(
                f"[red]need a JSON object[/] ({{...}}), got {type(value).__name__}; {retry}", highlight=False
            )

    # -- outcomes ---------------------------------------------------------------------------------

    def stopping(self) -> None:
        self._stopping = True
        if self._streaming:
            self._end_stream()
        self.console.print(
            "[yellow]stopping...[/] [dim](a running python cell stops now; another tool call ends first)[/]"
        )

    def stopped(self) -> None:
        if self._streaming:
            self._end_stream()
        self.console.print("[yellow]stopped.[/] The question was dropped from the conversation.")

    def show_error(self, exc: BaseException) -> None:
        """An error, readable, with the fix when heron knows it; the session goes on."""
        if self._streaming:
            self._end_stream()
        if isinstance(exc, UsageError):
            self.console.print(f"[bold red]error:[/] {escape(exc.problem)}", highlight=False)
            if exc.hint:
                self.console.print(f"[bold]fix:[/] {escape(exc.hint)}", highlight=False)
            return
        label = "failed" if isinstance(exc, HeronError) else f"unexpected error ({type(exc).__name__})"
        cause = f" (cause: {type(exc.__cause__).__name__}: {exc.__cause__})" if exc.__cause__ else ""
        self.console.print(f"[bold red]{label}:[/] {escape(str(exc))}{escape(cause)}", highlight=False)
        if isinstance(exc, ContextOverflowError):
            self.console.print("[bold]fix:[/] /reset starts a new conversation with an empty history")
        self.console.print("[dim]the session goes on; /trace shows what the run did[/]")

    def note(self, text: str) -> None:
        self.console.print(text, highlight=False)


def _passage_line(passage: dict[str, Any]) -> str:
    """``[id] source (p. 2, Setup): "snippet..."`` in rich markup."""
    where = [f"p. {passage['page']}"] if passage.get("page") is not None else []
    if passage.get("heading"):
        where.append(str(passage["heading"]))
    location = f" ({', '.join(where)})" if where else ""
    text = " ".join(str(passage.get("text", "")).split())
    snippet = f': "{text[:_SNIPPET_CHARS]}{"..." if len(text) > _SNIPPET_CHARS else ""}"' if text else ""
    source = passage.get("source") or passage.get("uri") or ""
    return f"[cyan]\\[{escape(str(passage.get('id', '?')))}][/] {escape(f'{source}{location}{snippet}')}"
