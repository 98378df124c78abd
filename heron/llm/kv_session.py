"""The tokens held in one llama.cpp context's KV cache: prefix reuse, decoding, scoring, state snapshots."""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from heron.errors import ContextOverflowError, ModelError
from heron.llm.sampling import logprob_rows


class KVSession:
    """Tracks which tokens sit in the KV cache (sequence 0) so a new prompt evaluates only what changed.

    Not thread-safe: its owner (``LocalLLM``) serializes callers.
    """

    def __init__(self, llama: Any) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._lib = llama_cpp
        self.ctx = llama.ctx
        self.vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.n_ctx = int(llama.n_ctx())
        self.n_vocab = int(llama.n_vocab())
        self.n_batch = int(llama.n_batch)
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._pieces: dict[int, bytes] = {}
        self.tokens: list[int] = []

    # --- the cache -------------------------------------------------------------------------------

    def prefill(self, prompt: Sequence[int], reserve: int = 1) -> int:
        """Make the cache hold ``prompt`` with fresh logits for its last token; return tokens reused.

        The longest common prefix with what the cache holds is kept; at least the last prompt token
        is evaluated again, since only a live decode provides the logits to sample from.
        """
        if not prompt:
            raise ModelError("the rendered prompt is empty")
        if len(prompt) + reserve > self.n_ctx:
            raise ContextOverflowError(
                f"the prompt has {len(prompt)} tokens; with room for {reserve} more it does not fit the "
                f"context of {self.n_ctx} tokens (shorten the history, or raise context_size up to the "
                "model's trained context)"
            )
        reuse = min(common_prefix_length(self.tokens, prompt), len(prompt) - 1)
        reuse = self.truncate(reuse)
        self.decode(prompt[reuse:])
        return reuse

    def truncate(self, n: int) -> int:
        """Drop cached tokens from position ``n`` on; return how many are kept."""
        if n >= len(self.tokens):
            return len(self.tokens)
        if not self._lib.llama_memory_seq_rm(self._memory, 0, n, -1):
            # Some memory types (recurrent models) cannot drop a tail: start over.
            self._lib.llama_memory_clear(self._memory, True)
            n = 0
        del self.tokens[n:]
        return n

    def clear(self) -> None:
        self._lib.llama_memory_clear(self._memory, True)
        self.tokens.clear()

    def decode(self, tokens: Sequence[int], logits_for_all: bool = False) -> np.ndarray | None:
        """Evaluate ``tokens`` after the cached ones; with ``logits_for_all`` return their logits rows."""
        rows = []
        for start in range(0, len(tokens), self.n_batch):
            chunk = list(tokens[start : start + self.n_batch])
            self._batch.set_batch(chunk, n_past=len(self.tokens), logits_all=logits_for_all)
            self._run_batch(len(chunk))
            self.tokens.extend(chunk)
            if logits_for_all:
                logits = self._lib.llama_get_logits(self.ctx)
                rows.append(np.ctypeslib.as_array(logits, shape=(len(chunk), self.n_vocab)).copy())
        return np.concatenate(rows) if logits_for_all and rows else None

    def decode_one(self, token: int) -> None:
        """Evaluate one generated token (the hot path of decoding: no Python loop over a batch)."""
        batch = self._batch.batch
        batch.n_tokens = 1
        batch.token[0] = token
        batch.pos[0] = len(self.tokens)
        batch.n_seq_id[0] = 1
        batch.seq_id[0][0] = 0
        batch.logits[0] = True
        self._run_batch(1)
        self.tokens.append(token)

    def last_logits(self) -> np.ndarray:
        """The last decoded position's logits, as a writable view of llama.cpp's buffer: what is
        changed here is what the next ``llama_sampler_sample`` sees."""
        return np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, -1), shape=(self.n_vocab,))

    def _run_batch(self, n_tokens: int) -> None:
        code = self._lib.llama_decode(self.ctx, self._batch.batch)
        if code != 0:
            # Positions after the failure are in an unknown state: forget the cache entirely.
            self.clear()
            raise ModelError(f"llama_decode failed with code {code} while evaluating {n_tokens} tokens")

    @property
    def room(self) -> int:
        """Tokens that still fit in the context."""
        return self.n_ctx - len(self.tokens)

    # --- tokens ----------------------------------------------------------------------------------

    @property
    def end_token(self) -> int:
        """A token that ends generation (end of turn, else end of text); -1 if the vocabulary has none."""
        for token in (self._lib.llama_vocab_eot(self.vocab), self._lib.llama_vocab_eos(self.vocab)):
            if token >= 0 and self.is_end_of_generation(token):
                return int(token)
        return -1

    def is_end_of_generation(self, token: int) -> bool:
        return bool(self._lib.llama_vocab_is_eog(self.vocab, token))

    def piece(self, token: int) -> bytes:
        """The bytes a generated token stands for (special tokens: none)."""
        cached = self._pieces.get(token)
        if cached is None:
            buffer = self._piece_buffer
            n = self._lib.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
            if n < 0:
                buffer = ctypes.create_string_buffer(-n)
                n = self._lib.llama_token_to_piece(self.vocab, token, buffer, len(buffer), 0, False)
            cached = self._pieces[token] = buffer.raw[: max(n, 0)]
        return cached

    # --- scoring ---------------------------------------------------------------------------------

    def score_continuation(self, prompt: Sequence[int], continuation: Sequence[int]) -> tuple[float, int]:
        """log P(continuation | prompt) summed over its tokens, and how many prompt tokens were reused."""
        if not continuation:
            return 0.0, 0
        if len(prompt) + len(continuation) > self.n_ctx:
            raise ContextOverflowError(
                f"prompt ({len(prompt)} tokens) plus option ({len(continuation)} tokens) does not fit the "
                f"context of {self.n_ctx} tokens"
            )
        # Cache the prompt but its last token; then one batch with logits at every position scores
        # every option token (the logits at position i predict token i + 1).
        head = list(prompt[:-1])
        reuse = self.truncate(common_prefix_length(self.tokens, head))
        self.decode(head[reuse:])
        rows = self.decode([prompt[-1], *continuation[:-1]], logits_for_all=True)
        assert rows is not None
        return float(sum(logprob_rows(rows, list(continuation)))), reuse

    # --- state snapshots -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The KV cache of sequence 0 as bytes (llama.cpp's own sequence state format)."""
        size = self._lib.llama_state_seq_get_size(self.ctx, 0)
        buffer = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self.ctx, buffer, size, 0)
        return ctypes.string_at(buffer, written)

    def restore(self, tokens: Sequence[int], data: bytes) -> None:
        """Load a snapshot taken with ``snapshot`` together with the tokens it holds."""
        if len(tokens) > self.n_ctx:
            raise ModelError(
                f"the saved state holds {len(tokens)} tokens, more than the context of {self.n_ctx}"
            )
        self.clear()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._lib.llama_state_seq_set_data(self.ctx, buffer, len(data), 0) == 0:
            self.clear()
            raise ModelError("llama.cpp refused the saved KV state (saved with other context settings?)")
        self.tokens = list(tokens)

    def close(self) -> None:
        self._batch.close()


def common_prefix_length(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
