"""The REPL's line editor (prompt_toolkit): history kept across sessions, multi-line input.

Enter sends the message. A new line inside a message: Alt-Enter (Esc then Enter), or end the line
with a backslash and press Enter. Up and Down walk the history, which lives in
``<data_dir>/chat_history``; Tab completes slash commands.

When standard input is not a terminal (``heron chat < questions.txt``, or a pipe), messages and
approval replies are read line by line instead (:class:`PipedLines`), and each is echoed after its
prompt, so the output reads as the same session would on a terminal.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Protocol, TextIO

from prompt_toolkit import PromptSession
from prompt_toolkit.application import get_app
from prompt_toolkit.completion import WordCompleter
from prompt_toolkit.filters import Condition
from prompt_toolkit.history import FileHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

HISTORY_FILE_NAME = "chat_history"
PROMPT = "heron> "
CONTINUATION = "...... "


def history_path(data_dir: Path) -> Path:
    return data_dir.expanduser() / HISTORY_FILE_NAME


def _line_continues() -> bool:
    return get_app().current_buffer.document.text_before_cursor.endswith("\\")


def _key_bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("enter", filter=Condition(_line_continues))
    def _continue_line(event: KeyPressEvent) -> None:
        event.current_buffer.delete_before_cursor(1)
        event.current_buffer.insert_text("\n")

    @bindings.add("enter", filter=~Condition(_line_continues))
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _new_line(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


class LineReader(Protocol):
    """What the REPL reads a message or a reply with: a terminal's line editor, or :class:`PipedLines`."""

    def prompt(self, message: str = ..., *, default: str = ...) -> str: ...


class PipedLines:
    """Lines from a standard input that is not a terminal: each line is one message or reply; a line
    ending in a backslash goes on with the next, as at the prompt. End of input raises ``EOFError``
    (Ctrl-D's meaning at the prompt). What is read is echoed after its prompt with ``echo``; an empty
    reply to a prompt with a ``default`` keeps the default."""

    def __init__(self, echo: Callable[[str], None], stream: TextIO | None = None, message: str = "") -> None:
        self._echo, self._stream, self._message = echo, stream, message
        self._put_back: list[str] = []

    def put_back(self, text: str) -> None:
        """Read ``text`` again at the next prompt (a line that was not the reply a prompt wanted)."""
        self._put_back.append(text)

    def prompt(self, message: str | None = None, *, default: str = "") -> str:
        shown = self._message if message is None else message
        if self._put_back:
            text = self._put_back.pop()
            self._echo(shown + text.replace("\n", "\n" + CONTINUATION))
            return text
        lines: list[str] = []
        while True:
            line = (self._stream or sys.stdin).readline()
            if not line:
                if not lines:
                    raise EOFError
                break
            line = line.rstrip("\r\n")
            if not line.endswith("\\"):
                lines.append(line)
                break
            lines.append(line[:-1])
        text = "\n".join(lines)
        self._echo(shown + text.replace("\n", "\n" + CONTINUATION))
        return text if text.strip() or not default else default


def reads_a_terminal() -> bool:
    """Whether standard input is a terminal (else the REPL reads it line by line)."""
    return sys.stdin is not None and sys.stdin.isatty()


def message_reader(data_dir: Path, commands: Iterable[str], echo: Callable[[str], None]) -> LineReader:
    """The line editor with history on a terminal; :class:`PipedLines` otherwise."""
    if not reads_a_terminal():
        return PipedLines(echo, message=PROMPT)
    return message_session(data_dir, commands)


def answer_reader(echo: Callable[[str], None]) -> LineReader:
    """The prompt for approvals and edited arguments: a plain line editor on a terminal (kept out of
    the history); :class:`PipedLines` otherwise (the REPL then hands it its message reader, so a
    line put back is read as the next message)."""
    return answer_session() if reads_a_terminal() else PipedLines(echo)


def message_session(data_dir: Path, commands: Iterable[str]) -> PromptSession[str]:
    """The prompt for messages and slash commands, with persistent history."""
    path = history_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    return PromptSession(
        PROMPT,
        history=FileHistory(str(path)),
        multiline=True,  # Enter is bound to send; Alt-Enter and a trailing backslash add lines
        key_bindings=_key_bindings(),
        prompt_continuation=CONTINUATION,
        completer=WordCompleter(sorted(commands), sentence=True),
        complete_while_typing=False,
    )


def answer_session() -> PromptSession[str]:
    """A plain one-line prompt for approvals and edited arguments (kept out of the history)."""
    return PromptSession()
