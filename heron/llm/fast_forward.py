"""Fast-forward under a grammar: text the grammar forces is evaluated in one batch, not sampled.

In a tool call most characters are fixed by the schema: the braces, the key names in their order,
the rest of a tool name once its first letters pick it. Sampling them token by token costs one
forward pass each; evaluating them together costs about as much as one. ``ForcedText`` finds that
text by asking the grammar which single bytes it admits next: while exactly one is admitted (and the
grammar cannot end there), that byte is forced. The decode loop tokenizes the forced text, feeds it
to the grammar and evaluates it as one batch (``LocalLLM``'s loop; ``GenerationOptions.fast_forward``).

Token healing: unless the grammar ends after it, the forced text's last token is not forced but left
to the sampler, which the grammar still holds to the same bytes. A model splits `"b": -3` as `":`,
` -`, `3`; forced whole, `": ` leaves a lone ` ` token the model never saw before a number, and the
1.5B then wrote `3` for `-3` (BFCL's quadratic-roots request); left to it, it writes ` -` itself.
That token is sampled as any other: the call's logit biases, repetition penalty and temperature
apply to it, among the tokens the grammar allows.

This is the "jump-forward" of compressed finite-state machines (SGLang), done here with llama.cpp's
grammar sampler as the oracle: a probe is one apply over at most 257 candidates (each byte and the end
of generation), which leaves the grammar's state as it was; following a forced run works on a clone.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_FORCED_BYTES = 256  # one jump at most; the next step probes again


class ForcedText:
    """Probes a llama.cpp grammar sampler for the text it forces next (holds no native memory).

    ``piece`` gives a token's bytes. A vocabulary where some byte begins a token but has no token of
    its own cannot be probed completely: then ``usable`` is False and nothing is forced.
    """

    def __init__(self, n_vocab: int, piece: Callable[[int], bytes], end_token: int) -> None:
        import llama_cpp

        self._lib = llama_cpp
        byte_token: dict[int, int] = {}
        leading: set[int] = set()  # the bytes some token starts with: all the model can write next
        for token in range(n_vocab):
            text = piece(token)
            if text:
                leading.add(text[0])
            if len(text) == 1 and text[0] not in byte_token:
                byte_token[text[0]] = token
        # a byte no token starts with can never come next; any other needs its own token to be probed
        self.usable = leading <= byte_token.keys() and end_token >= 0
        self._bytes = sorted(byte_token)  # probe position -> byte; the last position is the end
        ids = [byte_token[b] for b in self._bytes] + [end_token]
        self._ids = np.asarray(ids, dtype=np.intc)
        self._end = len(ids) - 1
        self._token_of = byte_token
        self._data = np.zeros(
            len(ids), dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        )
        self._array = llama_cpp.llama_token_data_array(
            data=self._data.ctypes.data_as(llama_cpp.llama_token_data_p),
            size=len(ids),
            selected=-1,
            sorted=False,
        )

    def forced(self, grammar: Any) -> tuple[bytes, bool]:
        """(the ASCII text every continuation ``grammar`` admits starts with, whether the grammar admits
        only the end after it). ``grammar`` itself is left as it was (a clone is probed)."""
        if not self.usable:
            return b"", False
        first, ends = self._single(grammar)  # the usual case, nothing forced: no clone needed
        if first is None:
            return b"", ends
        lib = self._lib
        probe = lib.llama_sampler_clone(grammar)
        out = bytearray([first])
        try:
            lib.llama_sampler_accept(probe, self._token_of[first])
            while len(out) < MAX_FORCED_BYTES:
                byte, ends = self._single(probe)
                if byte is None:
                    return bytes(out), ends
                out.append(byte)
                lib.llama_sampler_accept(probe, self._token_of[byte])
        finally:
            lib.llama_sampler_free(probe)
        return bytes(out), False

    def _single(self, grammar: Any) -> tuple[int | None, bool]:
        """(the one ASCII byte ``grammar`` admits next or None, whether it admits only the end)."""
        allowed = self._admitted(grammar)
        if len(allowed) != 1:
            return None, False
        if int(allowed[0]) == self._end:
            return None, True
        byte = self._bytes[int(allowed[0])]
        # a lone multi-byte lead byte is not forced: half a character cannot be tokenized
        return (byte, False) if byte < 0x80 else (None, False)

    def _admitted(self, grammar: Any) -> np.ndarray:
        data = self._data
        data["id"] = self._ids
        data["logit"] = 0.0
        data["p"] = 0.0
        array = self._array
        array.size, array.selected, array.sorted = len(self._ids), -1, False
        self._lib.llama_sampler_apply(grammar, ctypes.byref(array))
        return np.flatnonzero(np.isfinite(data["logit"]))
