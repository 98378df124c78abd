"""The DRY repetition penalty (see :class:`heron.llm.types.RepetitionControl`) in heron's decode loop.

At each step, every earlier position whose text ends like the text written so far (the longest
common suffix, ``n`` tokens, not crossing a sequence breaker) names a token that would extend the
repeat: the token that followed there. That token loses ``multiplier * base ** (n - allowed_length)``
when ``n >= allowed_length``, the longest such repeat counting. This is llama.cpp's DRY sampler
(from koboldcpp, after the original in text-generation-webui); the suffix lengths are kept up to
date token by token (a match ending at ``i`` grows by one when the token at ``i`` equals the new one,
else it is zero), one vector operation per step instead of a scan of the whole text.

Sequence breakers are single tokens here: a token whose text holds a breaker string. A breaker
longer than one token (llama.cpp matches those token sequence by token sequence) counts only where
one token holds it whole.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from heron.llm.json_cursor import JsonCursor
from heron.llm.types import RepetitionControl

# A cap keeps the penalty a finite bias: where the grammar allows only penalised tokens, logits
# stay far enough from float32's limits for the model's own preference among them to decide.
MAX_PENALTY = 1e4


def breaker_tokens(texts: Sequence[str], breakers: Sequence[str]) -> np.ndarray:
    """For each token of a vocabulary (by text), whether it holds one of ``breakers``."""
    out = np.zeros(len(texts), dtype=bool)
    if breakers:
        for token, text in enumerate(texts):
            out[token] = any(b in text for b in breakers if b)
    return out


class RepetitionPenalty:
    """One decode's DRY state: ``adjustment`` before each step, ``feed`` with the chosen token after.

    ``is_breaker`` is :func:`breaker_tokens` for the model's vocabulary; ``capacity`` the tokens
    expected (more are fine); ``prompt`` the call's prompt, whose last ``control.prompt_tokens``
    count as earlier text; ``structured``: the output is JSON (under a grammar), which with
    ``control.strings_only`` limits the penalty to string values and text around the JSON,
    ``control.free_keys`` leaves the values of those keys alone, and ``control.per_value`` compares
    each string value with itself only.
    """

    def __init__(
        self,
        control: RepetitionControl,
        is_breaker: np.ndarray,
        capacity: int,
        prompt: Sequence[int] = (),
        structured: bool = False,
    ) -> None:
        self.control = control
        self._is_breaker = is_breaker
        context = prompt[-control.prompt_tokens :] if control.prompt_tokens else ()
        size = len(context) + capacity + 1
        self._tokens = np.zeros(size, dtype=np.intc)
        # _match[i]: tokens in the longest common suffix of tokens[: i + 1] and of all tokens so far
        self._match = np.zeros(size, dtype=np.intc)
        self._n = 0
        self._context = [int(token) for token in context]
        scoped = control.strings_only or control.free_keys or control.per_value
        self._cursor = JsonCursor() if structured and scoped else None
        self._restart()

    def feed(self, token: int, text: str) -> None:
        """The token just chosen, and its text."""
        self._push(token)
        cursor = self._cursor
        if cursor is not None:
            was_in_value, breaks = cursor.in_string_value, cursor.line_breaks
            cursor.feed(text)
            if self.control.per_value and cursor.in_string_value and not was_in_value:
                self._restart()  # a new string value: its own text
            if cursor.line_breaks != breaks or (cursor.in_string_value and not was_in_value):
                self._line_start = self._n  # a new line of a value begins after this token

    def _restart(self) -> None:
        """Forget the output so far: only the prompt's counted tail is earlier text."""
        self._n = 0  # (entries past _n are never read: each is set when its token is pushed)
        self._line_start = 0  # where the line being written began (for ``looping``)
        for token in self._context:
            self._push(token)

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and what to add to their logits at this step (negative: penalties)."""
        cursor = self._cursor
        if cursor is not None:
            if self.control.strings_only and not cursor.in_text:
                return _NO_IDS, _NO_AMOUNTS
            if self._in_free_value():
                return _NO_IDS, _NO_AMOUNTS
        return self.penalties()

    @property
    def looping(self) -> bool:
        """Whether the line a free key's value is writing now repeats ``control.free_loop_tokens``
        tokens of its earlier text verbatim: a loop, which its decode ends as cut (see
        ``RepetitionControl``). Within the line: a file may hold the same line several times."""
        limit = self.control.free_loop_tokens
        n = self._n
        if limit is None or n - self._line_start < limit or not self._in_free_value():
            return False
        return int(self._match[:n].max()) >= limit

    def _in_free_value(self) -> bool:
        cursor = self._cursor
        return cursor is not None and cursor.in_string_value and cursor.value_key in self.control.free_keys

    def penalties(self) -> tuple[np.ndarray, np.ndarray]:
        """The DRY penalties for the next token, whatever the scope: ids and (negative) amounts."""
        n, allowed = self._n, self.control.allowed_length
        if n < 2:
            return _NO_IDS, _NO_AMOUNTS
        lengths = self._match[: n - 1]  # a match ending at i is continued by the token at i + 1
        ends = np.flatnonzero(lengths >= allowed)
        if not len(ends):
            return _NO_IDS, _NO_AMOUNTS
        following = self._tokens[ends + 1]
        keep = ~self._is_breaker[following]
        following, repeat = following[keep], lengths[ends][keep]
        if not len(following):
            return _NO_IDS, _NO_AMOUNTS
        ids, where = np.unique(following, return_inverse=True)
        longest = np.zeros(len(ids), dtype=np.intc)
        np.maximum.at(longest, where, repeat)
        exponent = (longest - allowed).astype(np.float64)
        penalty = np.minimum(self.control.multiplier * np.power(self.control.base, exponent), MAX_PENALTY)
        return ids.astype(np.intc), (-penalty).astype(np.float32)

    def _push(self, token: int) -> None:
        n = self._n
        if n == len(self._tokens):  # more tokens than the capacity given: grow
            self._tokens = np.concatenate([self._tokens, np.zeros_like(self._tokens)])
            self._match = np.concatenate([self._match, np.zeros_like(self._match)])
        tokens, match = self._tokens, self._match
        if n:
            if self._is_breaker[token]:
                match[:n] = 0
            else:
                same = tokens[:n] == token
                match[1:n] = np.where(same[1:], match[: n - 1] + 1, 0)
                match[0] = 1 if same[0] else 0
        tokens[n] = token
        match[n] = 0
        self._n = n + 1


_NO_IDS = np.zeros(0, dtype=np.intc)
_NO_AMOUNTS = np.zeros(0, dtype=np.float32)
