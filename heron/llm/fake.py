"""``ScriptedLLM``: a fake LLM that plays back scripted replies, for orchestration tests (yours and heron's).

>>> llm = ScriptedLLM(["Hello!", {"tool": "search", "query": "heron"}])
>>> llm.chat([Message.user("hi")]).text
'Hello!'
>>> llm.structured([Message.user("next?")], Step)   # validated against Step like a real reply
>>> llm.calls[0].method, llm.calls[1].schema
('chat', <class 'Step'>)

A reply is: a string; a ``Completion``; a pydantic instance or dict/list (JSON, for ``structured``);
a list of floats (for ``score_options``); an exception instance (raised by that call); or a callable
taking the ``RecordedCall`` and returning any of these. Token counts in ``last_usage`` are
whitespace-separated words, and ``cached_prompt_tokens`` counts the words shared with the previous
prompt, so prefix-reuse bookkeeping can be tested without a model.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

from heron.errors import OutputTruncatedError, UsageError
from heron.llm.call_guard import CallGuard
from heron.llm.prefix import common_prefix_length
from heron.llm.schema import parse_json_output, validate_structured
from heron.llm.state_file import read_state_file, write_state_file
from heron.llm.types import Completion, GenerationOptions, Message, Usage

T = TypeVar("T", bound=BaseModel)
Method = Literal["chat", "stream", "structured", "structured_json", "score_options"]
_BACKEND = "scripted"


@dataclass(frozen=True)
class RecordedCall:
    """One call the fake received, in order."""

    method: Method
    messages: tuple[Message, ...]
    options: GenerationOptions | None = None
    schema: Any = None
    choices: tuple[str, ...] = ()  # the options passed to score_options


class ScriptedLLM:
    """Implements the ``LLM`` protocol by popping scripted replies in order; records every call."""

    def __init__(self, replies: Iterable[Any] = (), *, name: str = "scripted") -> None:
        self._replies: deque[Any] = deque(replies)
        self._name = name
        self.calls: list[RecordedCall] = []
        self._guard = CallGuard("ScriptedLLM")
        self._last_usage = Usage()
        self._previous_prompt: list[str] = []

    def add(self, *replies: Any) -> ScriptedLLM:
        """Queue more replies; returns self for chaining."""
        self._replies.extend(replies)
        return self

    @property
    def remaining(self) -> int:
        """Replies not yet used."""
        return len(self._replies)

    @property
    def name(self) -> str:
        return self._name

    @property
    def last_usage(self) -> Usage:
        return self._last_usage

    # --- the LLM protocol ----------------------------------------------------------------------

    def chat(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion:
        with self._guard.exclusive():
            call = self._record("chat", messages, options)
            return self._completion(call, self._next(call), options or GenerationOptions())

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generator[str, None, None]:
        with self._guard.exclusive():
            call = self._record("stream", messages, options)
            completion = self._completion(call, self._next(call), options or GenerationOptions())
            yield from re.findall(r"\s*\S+\s*|\s+", completion.text)

    def structured(
        self, messages: Sequence[Message], schema: type[T], options: GenerationOptions | None = None
    ) -> T:
        with self._guard.exclusive():
            call = self._record("structured", messages, options, schema=schema)
            reply = self._next(call)
            if isinstance(schema, type) and isinstance(reply, schema):
                text = reply.model_dump_json()
            else:
                text = _as_json_text(reply, call)
            self._account(call, text)
            return validate_structured(text, schema)

    def structured_json(
        self, messages: Sequence[Message], schema: dict[str, Any], options: GenerationOptions | None = None
    ) -> Any:
        with self._guard.exclusive():
            call = self._record("structured_json", messages, options, schema=schema)
            text = _as_json_text(self._next(call), call)
            self._account(call, text)
            if options is not None and options.on_text is not None:
                for piece in re.findall(r"\s*\S+\s*|\s+", text):  # word by word, like a decode
                    options.on_text(piece)
            return parse_json_output(text)

    def score_options(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        with self._guard.exclusive():
            call = self._record("score_options", messages, None, choices=tuple(options))
            reply = self._next(call)
            if not (isinstance(reply, list | tuple) and len(reply) == len(options)):
                raise UsageError(
                    f"ScriptedLLM: score_options with {len(options)} options got the reply {reply!r}",
                    f"script a list of {len(options)} floats for this call",
                )
            self._account(call, "")
            return [float(x) for x in reply]

    def save_state(self, path: Path | str) -> None:
        """Writes a marker file (the fake has no KV cache); ``load_state`` accepts only such files."""
        write_state_file(Path(path), {"backend": _BACKEND, "calls": len(self.calls), "payload_bytes": 0})

    def load_state(self, path: Path | str) -> None:
        read_state_file(Path(path), _BACKEND)

    def close(self) -> None:
        with self._guard.closing():
            pass

    def __enter__(self) -> ScriptedLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- playback ------------------------------------------------------------------------------

    def _record(
        self,
        method: Method,
        messages: Sequence[Message],
        options: GenerationOptions | None,
        schema: Any = None,
        choices: tuple[str, ...] = (),
    ) -> RecordedCall:
        if options is not None and options.reply_start:
            raise UsageError(
                "ScriptedLLM cannot go on with a reply begun by an earlier call (reply_start)",
                "script the whole reply; heron pauses a reply only on a backend that ResumesReplies",
            )
        call = RecordedCall(method, tuple(messages), options, schema, choices)
        self.calls.append(call)
        return call

    def _next(self, call: RecordedCall) -> Any:
        if not self._replies:
            last = call.messages[-1].content[:80] if call.messages else ""
            raise UsageError(
                f"ScriptedLLM has no reply left for call #{len(self.calls)} "
                f"({call.method}, last message: {last!r})",
                "script more replies: ScriptedLLM([...]) or llm.add(...)",
            )
        reply = self._replies.popleft()
        if callable(reply) and not isinstance(reply, type | BaseModel):
            reply = reply(call)
        if isinstance(reply, OutputTruncatedError):
            self._account(call, reply.text)  # a cut decode generated tokens all the same
        if isinstance(reply, BaseException):
            raise reply
        return reply

    def _completion(self, call: RecordedCall, reply: Any, options: GenerationOptions) -> Completion:
        if isinstance(reply, Completion):
            self._account(call, reply.text)
            return reply
        text = reply if isinstance(reply, str) else _as_json_text(reply, call)
        finish: Literal["stop", "length"] = "stop"
        for stop in options.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        words = re.findall(r"\s*\S+", text)
        if len(words) > options.max_tokens:
            text, finish = "".join(words[: options.max_tokens]), "length"
        usage = self._account(call, text)
        return Completion(text=text, usage=usage, finish_reason=finish)

    def _account(self, call: RecordedCall, text: str) -> Usage:
        prompt = " ".join(f"{m.role}: {m.content}" for m in call.messages).split()
        shared = common_prefix_length(self._previous_prompt, prompt)
        cached = min(shared, max(len(prompt) - 1, 0))
        self._previous_prompt = prompt
        self._last_usage = Usage(
            prompt_tokens=len(prompt), cached_prompt_tokens=cached, completion_tokens=len(text.split())
        )
        return self._last_usage


def _as_json_text(reply: Any, call: RecordedCall) -> str:
    if isinstance(reply, str):
        return reply
    if isinstance(reply, BaseModel):
        return reply.model_dump_json()
    try:
        return json.dumps(reply)
    except TypeError as exc:
        raise UsageError(
            f"ScriptedLLM: cannot turn the scripted reply {reply!r} for {call.method} into JSON",
            "script a string, a pydantic instance, or JSON-compatible dicts and lists",
        ) from exc
