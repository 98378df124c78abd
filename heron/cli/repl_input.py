"""The REPL's line editor (prompt_toolkit): history kept across sessions, multi-line input.

Enter sends the message. A new line inside a message: Alt-Enter (Esc then Enter), or end the line
with a backslash and press Enter. Up and Down walk the history, which lives in
``<data_dir>/chat_history``; Tab completes slash commands.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

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
