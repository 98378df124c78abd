"""``heron chat`` with a scripted fake model, for the REPL tests (they drive it in a pseudo-terminal,
so the fake cannot be passed as an object; it is passed to ``heron.cli.main`` from this script)::

    python tests/cli/scripted_chat.py REPLIES.json [chat options]

REPLIES.json holds a JSON list of replies, used in order (see :class:`~heron.llm.ScriptedLLM`):

- a JSON object or list: the reply to a structured call, e.g. an agent action
  ``{"action": "calculator", "arguments": {"expression": "2+2"}}``;
- a string: the reply to a plain ``chat`` or ``stream`` call;
- ``{"$sleep": SECONDS, "reply": REPLY}``: ``REPLY`` after a pause (a slow model, to press Ctrl-C);
- ``{"$raise": "MESSAGE"}``: the call raises ``RuntimeError(MESSAGE)`` (a crashing model).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from heron.cli import main
from heron.llm import ScriptedLLM


def scripted_llm(path: Path) -> ScriptedLLM:
    replies = json.loads(path.read_text(encoding="utf-8"))
    return ScriptedLLM([_playable(reply) for reply in replies], name="scripted-test-llm")


def _playable(reply: Any) -> Any:
    if isinstance(reply, dict) and "$raise" in reply:
        return RuntimeError(str(reply["$raise"]))
    if isinstance(reply, dict) and "$sleep" in reply:
        delay, inner = float(reply["$sleep"]), _playable(reply.get("reply", ""))

        def slow(call: Any) -> Any:
            time.sleep(delay)
            return inner  # an exception instance is raised by ScriptedLLM itself

        return slow
    return reply


if __name__ == "__main__":
    replies, *args = sys.argv[1:]
    sys.exit(main(["chat", *args], obj={"llm": scripted_llm(Path(replies))}))
