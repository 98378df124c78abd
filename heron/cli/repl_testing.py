"""Test support for ``heron chat``: a scripted fake LLM, chosen by an environment variable.

Only the REPL's own tests set ``HERON_TEST_SCRIPTED_REPLIES``; they drive ``heron chat`` through a
pseudo-terminal, so the fake cannot be passed in as an object. Nothing else reads the variable.

The file holds a JSON list of replies, used in order (see :class:`~heron.llm.ScriptedLLM`):

- a JSON object or list: the reply to a structured call, e.g. an agent action
  ``{"action": "calculator", "arguments": {"expression": "2+2"}}``;
- a string: the reply to a plain ``chat`` or ``stream`` call;
- ``{"$sleep": SECONDS, "reply": REPLY}``: ``REPLY`` after a pause (a slow model, to press Ctrl-C);
- ``{"$raise": "MESSAGE"}``: the call raises ``RuntimeError(MESSAGE)`` (a crashing model).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from heron.errors import UsageError
from heron.llm import ScriptedLLM

SCRIPTED_REPLIES_ENV = "HERON_TEST_SCRIPTED_REPLIES"


def scripted_llm_for_tests() -> ScriptedLLM | None:
    """The fake LLM the REPL tests asked for with ``HERON_TEST_SCRIPTED_REPLIES``, else None."""
    location = os.environ.get(SCRIPTED_REPLIES_ENV)
    if not location:
        return None
    path = Path(location)
    try:
        replies = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(
            f"{SCRIPTED_REPLIES_ENV}={path} cannot be read as JSON: {exc}",
            f"write a JSON list of replies there, or unset {SCRIPTED_REPLIES_ENV}",
        ) from exc
    if not isinstance(replies, list):
        raise UsageError(f"{path} holds {type(replies).__name__}, not a list", "write a JSON list of replies")
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
