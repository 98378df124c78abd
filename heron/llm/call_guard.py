"""One call at a time per LLM: a lock that turns same-thread re-entry (an open stream) into an error."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from heron.errors import UsageError


class CallGuard:
    """Serializes an LLM's callers; other threads wait, the thread already inside gets a UsageError."""

    def __init__(self, what: str, on_enter: Callable[[], None] | None = None) -> None:
        self._what = what
        self._on_enter = on_enter  # runs inside the lock before each call (e.g. reload a suspended model)
        self._lock = threading.Lock()
        self._owner: int | None = None
        self.closed = False

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        if self._owner == threading.get_ident():
            raise UsageError(
                f"this {self._what} is already busy in this thread (an unfinished stream?)",
                "exhaust the stream or call its close() before the next call",
            )
        with self._lock:
            self._owner = threading.get_ident()
            try:
                if self.closed:
                    raise UsageError(f"this {self._what} has been closed", f"open a new {self._what}")
                if self._on_enter is not None:
                    self._on_enter()
                yield
            finally:
                self._owner = None

    @contextmanager
    def closing(self) -> Iterator[bool]:
        """Wait for a running call, then yield whether this is the first close (and mark it closed)."""
        with self._lock:
            first = not self.closed
            self.closed = True
            yield first
