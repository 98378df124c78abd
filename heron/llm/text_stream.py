"""Generated token bytes to text deltas: whole UTF-8 characters only, cut at the first stop sequence."""

from __future__ import annotations

import codecs
from collections.abc import Sequence


class StopTextStream:
    """Feeds token pieces in, hands text out; text that might begin a stop sequence is held back.

    >>> s = StopTextStream(stop=["\\n\\n"])
    >>> s.push(b"Hi\\n"), s.push(b"\\nmore"), s.stopped
    ('Hi', '', True)
    """

    def __init__(self, stop: Sequence[str] = ()) -> None:
        self._stop = [s for s in stop if s]
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._held = ""
        self.stopped = False

    def push(self, piece: bytes) -> str:
        """Add one token's bytes; return the text that is now safe to emit ("" while held back)."""
        if self.stopped:
            return ""
        text = self._decoder.decode(piece)
        if not self._stop:
            return text
        self._held += text
        cut = self._first_stop()
        if cut is not None:
            out, self._held = self._held[:cut], ""
            self.stopped = True
            return out
        keep = self._longest_stop_prefix_suffix()
        out = self._held[: len(self._held) - keep]
        self._held = self._held[len(self._held) - keep :]
        return out

    def finish(self) -> str:
        """The text still held back, once generation has ended without a stop sequence."""
        if self.stopped:
            return ""
        out = self._held + self._decoder.decode(b"", final=True)
        self._held = ""
        return out

    def _first_stop(self) -> int | None:
        found = [i for i in (self._held.find(s) for s in self._stop) if i >= 0]
        return min(found) if found else None

    def _longest_stop_prefix_suffix(self) -> int:
        # The longest tail of the held text that is a proper prefix of some stop sequence.
        best = 0
        for stop in self._stop:
            for k in range(min(len(stop) - 1, len(self._held)), best, -1):
                if self._held.endswith(stop[:k]):
                    best = k
                    break
        return best
