"""A thread that checks something about a running sandbox from the host, on a cell-aware schedule.

Every 50 ms while a cell runs, every 0.5 s between cells (background processes may still act), and
never more than a fifth of a core: a slow check spaces the next one out. The first reason a check
returns is handed to ``on_breach`` once, and the watch ends.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class SandboxWatcher:
    """Calls ``on_breach(reason)`` once when ``check()`` (in a subclass) returns a reason."""

    name = "heron-sandbox-watcher"

    def __init__(
        self, on_breach: Callable[[str], None], busy_interval: float = 0.05, idle_interval: float = 0.5
    ) -> None:
        self._on_breach = on_breach
        self._intervals = (idle_interval, busy_interval)
        self.busy = False  # a cell is running: look more often
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._watch, name=self.name, daemon=True)

    def check(self) -> str | None:
        """Why the sandbox must stop now, or None."""
        raise NotImplementedError

    def start(self) -> None:
        self._thread.start()

    def set_busy(self, busy: bool) -> None:
        """A cell starts (True) or ends (False); a start wakes the watcher at once."""
        self.busy = busy
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    def _watch(self) -> None:
        pause = self._intervals[self.busy]
        while True:
            self._wake.wait(pause)
            self._wake.clear()
            if self._stop.is_set():
                return
            started = time.monotonic()
            reason = self.check()
            if reason is not None:
                self._on_breach(reason)
                return
            pause = max(self._intervals[self.busy], 4 * (time.monotonic() - started))
