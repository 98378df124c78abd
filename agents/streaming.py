"""Streaming: the answer text out of a turn's JSON while the grammar-constrained decode runs, and a
run's events out of the worker thread it runs in.

The model writes ``{"action": "final_answer", "answer": "Paris is ...", ...}``; callers want
``Paris is ...`` token by token. :class:`AnswerStream` watches the raw deltas and hands out the
decoded characters of the ``answer`` string as they arrive.
"""

from __future__ import annotations

import asyncio
import json
import queue
import re
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from heron.agents.actions import FINAL_ANSWER, STEP_DONE
from heron.tracing import EventCallback, ToolCallEvent

_DONE = object()

# the action, an optional thought (a JSON string), then the answer
_ANSWER_START = re.compile(
    rf'"action"\s*:\s*"(?:{FINAL_ANSWER}|{STEP_DONE})"\s*,\s*'
    r'(?:"thought"\s*:\s*"(?:[^"\\]|\\.)*"\s*,\s*)?"answer"\s*:\s*"'
)
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class TextStream:
    """A native turn's text as it arrives, up to where a call or the sources line starts (``ends``):
    ``feed`` returns the text it can already tell is not the start of one of them."""

    def __init__(self, ends: tuple[str, ...]) -> None:
        self.ends = tuple(e for e in ends if e)
        self.reset()

    def reset(self) -> None:
        self._raw, self._sent, self._done = "", 0, False

    def feed(self, delta: str) -> str:
        if self._done:
            return ""
        self._raw += delta
        cut = min((i for i in (self._raw.find(e) for e in self.ends) if i >= 0), default=-1)
        if cut >= 0:
            self._done = True
        else:  # hold back a tail that may be the beginning of an end marker
            held = max(
                (n for e in self.ends for n in range(1, len(e)) if self._raw.endswith(e[:n])), default=0
            )
            cut = len(self._raw) - held
        out, self._sent = self._raw[self._sent : cut], max(self._sent, cut)
        return out


class AnswerStream:
    """Feed raw JSON deltas; ``feed`` returns the newly decoded answer text (often empty)."""

    def __init__(self) -> None:
        self._raw = ""
        self._pos: int | None = None  # where the answer's characters start in _raw
        self._done = False

    def reset(self) -> None:
        """Forget what was fed (the turn is decoded again)."""
        self._raw, self._pos, self._done = "", None, False

    def feed(self, delta: str) -> str:
        if self._done:
            return ""
        self._raw += delta
        if self._pos is None:
            match = _ANSWER_START.search(self._raw)
            if match is None:
                return ""
            self._pos = match.end()
        out = []
        i = self._pos
        raw = self._raw
        while i < len(raw):
            char = raw[i]
            if char == '"':
                self._done = True
                i += 1
                break
            if char != "\\":
                out.append(char)
                i += 1
                continue
            if i + 1 >= len(raw):
                break  # wait for the escaped character
            code = raw[i + 1]
            if code == "u":
                if i + 6 > len(raw):
                    break
                try:
                    out.append(json.loads(f'"{raw[i : i + 6]}"'))
                except json.JSONDecodeError:
                    out.append(raw[i : i + 6])
                i += 6
                continue
            out.append(_ESCAPES.get(code, code))
            i += 2
        self._pos = i
        return "".join(out)


class _RunInThread:
    """``run(callback)`` in a daemon worker thread, its events queued for one reader.

    A tool call runs only once the reader has taken its event (:class:`ToolCallEvent`): a stream kept
    in a variable and no longer read stops before its next call, instead of making it in the
    background (a risky one included); closing the stream then cancels the run there."""

    def __init__(self, run: Callable[[EventCallback], Any], cancel: Callable[[], None]) -> None:
        self.events: queue.Queue[Any] = queue.Queue()
        self.outcome: dict[str, Any] = {}
        self.finished = False  # the reader has seen the run's end
        self._cancel = cancel
        self._read = threading.Condition()  # guards the two counts and ``_stopped``
        self._put = self._taken = 0  # events queued, events the reader has taken
        self._stopped = False  # the reader is gone

        def work() -> None:
            try:
                self.outcome["result"] = run(self.hand_out)
            except BaseException as exc:  # handed to the reader by ``result``
                self.outcome["error"] = exc
            finally:
                self.events.put(_DONE)

        self.thread = threading.Thread(target=work, name="heron-agent-run", daemon=True)
        self.thread.start()

    def hand_out(self, event: Any) -> None:
        """Queue ``event`` for the reader (the run's callback, in the worker's threads); for a tool
        call's event, wait until the reader has taken it or is gone."""
        with self._read:
            self.events.put(event)
            self._put += 1
            if isinstance(event, ToolCallEvent):
                mine = self._put
                self._read.wait_for(lambda: self._taken >= mine or self._stopped)

    def take(self, event: Any) -> bool:
        """Whether ``event`` is one to hand out (False once the run has ended)."""
        with self._read:
            self._taken += 1
            self._read.notify_all()
        if event is _DONE:
            self.finished = True
        return not self.finished

    def stop(self) -> None:
        """The reader is done: cancel the run unless it ended, then wait for the worker (the current
        model turn stops at its next token; a running tool call finishes first, a waiting one is not
        made)."""
        if not self.finished and self.thread.is_alive():
            self._cancel()
        with self._read:
            self._stopped = True
            self._read.notify_all()
        self.thread.join()

    def result(self) -> Any:
        if "error" in self.outcome:
            raise self.outcome["error"]
        return self.outcome["result"]


def events_of(run: Callable[[EventCallback], Any], cancel: Callable[[], None]) -> Iterator[Any]:
    """Call ``run(callback)`` in a worker thread; yield each event it passes to ``callback`` as it
    happens, then what ``run`` returned (its exception is raised here).

    A reader that stops early (``break``, ``close()``, dropping the iterator, Ctrl-C while waiting)
    calls ``cancel`` and waits for the worker to end: a run nobody reads does not go on decoding in
    the background."""
    worker = _RunInThread(run, cancel)
    try:
        while worker.take(event := worker.events.get()):
            yield event
    finally:
        worker.stop()
    yield worker.result()


async def async_events_of(
    run: Callable[[EventCallback], Any], cancel: Callable[[], None]
) -> AsyncIterator[Any]:
    """``events_of`` for asyncio: the same events, each awaited without blocking the loop. A reader
    that stops early (``break`` then ``aclose()``, its task cancelled, a timeout) cancels the run and
    waits for the worker the same way."""
    worker = _RunInThread(run, cancel)
    try:
        # a cancelled wait leaves one ``get`` in its thread: it takes one event (at the latest the end)
        while worker.take(event := await asyncio.to_thread(worker.events.get)):
            yield event
    finally:
        await asyncio.to_thread(worker.stop)
    yield worker.result()
