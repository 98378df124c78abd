"""The tokens one sequence of a llama.cpp context's KV cache holds: prefix reuse, decoding, scoring,
state snapshots.

``LocalLLM`` keeps two sequences in one context: the conversation it generates for (sequence 0) and
the prompts it scores (sequence 1), so a scored question never displaces the conversation. Each has
cells of its own (llama.cpp's per-sequence KV streams, ``kv_unified`` off): in one shared set of cells
the scored prompts sat between the conversation's tokens, which changed the order of attention's
floating-point sums, so a greedy reply could depend on what had been scored before it (a haiku came
out different after a few scored questions; with cells of its own it is the same as on a fresh model).
"""

from __future__ import annotations

import ctypes
from collections.abc import Sequence
from typing import Any

import numpy as np

from heron.errors import ContextOverflowError, ModelError
from heron.llm.prefix import common_prefix_length
from heron.llm.sampling import logprob_rows


class KVSession:
    """Tracks which tokens sit in one KV-cache sequence so a new prompt evaluates only what changed.

    Not thread-safe: its owner (``LocalLLM``) serializes callers.
    """

    def __init__(self, llama: Any, seq: int = 0) -> None:
        import llama_cpp
        from llama_cpp import _internals

        self._lib = llama_cpp
        self.ctx = llama.ctx
        self.vocab = llama_cpp.llama_model_get_vocab(llama.model)
        self.n_ctx = int(llama_cpp.llama_n_ctx_seq(self.ctx))  # this sequence's own cells
        self.n_vocab = int(llama.n_vocab())
        self.n_batch = int(llama.n_batch)
        self._memory = llama_cpp.llama_get_memory(self.ctx)
        self._batch = _internals.LlamaBatch(n_tokens=self.n_batch, embd=0, n_seq_max=1, verbose=False)
        self._piece_buffer = ctypes.create_string_buffer(256)
        self._pieces: dict[int, bytes] = {}
        self.tokens: list[int] = []
        self.seq = seq

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
        self.make_room(len(prompt) - reuse + reserve)
        self.decode(prompt[reuse:])
        return reuse

    def keep_prefix(self, tokens: Sequence[int]) -> int:
        """Keep the longest common prefix of the cache and ``tokens`` (all but the last at most) and
        return its length; the caller evaluates the rest. For a reply that goes on where an earlier
        call stopped: its unevaluated tokens are then evaluated as that call would have."""
        if len(tokens) + 1 > self.n_ctx:
            raise ContextOverflowError(
                f"the prompt and the reply begun have {len(tokens)} tokens; they do not fit the context "
                f"of {self.n_ctx} tokens (shorten the history, or raise context_size)"
            )
        return self.truncate(min(common_prefix_length(self.tokens, tokens), len(tokens) - 1))

    def truncate(self, n: int) -> int:
        """Drop cached tokens from position ``n`` on; return how many are kept."""
        if n >= len(self.tokens):
            return len(self.tokens)
        if not self._lib.llama_memory_seq_rm(self._memory, self.seq, n, -1):
            # Some memory types (recurrent models) cannot drop a tail: start over.
            self.clear()
            n = 0
        del self.tokens[n:]
        return n

    def clear(self) -> None:
        self._lib.llama_memory_seq_rm(self._memory, self.seq, -1, -1)
        self.tokens.clear()

    def make_room(self, n: int) -> bool:
        """Whether ``n`` more tokens fit after this sequence's. (More than the context never fits:
        ``prefill`` says so with its own error.)"""
        return n <= self.room

    def decode(self, tokens: Sequence[int], logits_for_all: bool = False) -> np.ndarray | None:
        """Evaluate ``tokens`` after the cached ones; with ``logits_for_all`` return their logits rows."""
        rows = []
        for start in range(0, len(tokens), self.n_batch):
            chunk = list(tokens[start : start + self.n_batch])
            self._fill_batch(chunk, logits_for_all)
            self._run_batch(len(chunk))
            self.tokens.extend(chunk)
            if logits_for_all:
                logits = self._lib.llama_get_logits(self.ctx)
                rows.append(np.ctypeslib.as_array(logits, shape=(len(chunk), self.n_vocab)).copy())
        return np.concatenate(rows) if logits_for_all and rows else None

    def decode_rows(self, tokens: Sequence[int], first_row: int = 0) -> None:
        """Evaluate ``tokens`` (one batch at most) after the cached ones, keeping the logits of every
        position from ``first_row`` on in llama.cpp's buffer until the next decode: row ``i``
        (``logits_row(i)``) predicts the token after ``tokens[i]``. For checking a guessed
        continuation (``heron.llm.lookup_draft``)."""
        if len(tokens) > self.n_batch:
            raise ModelError(f"{len(tokens)} tokens do not fit one batch of {self.n_batch}")
        self._fill_batch(tokens, logits_for_all=False)
        batch = self._batch.batch
        for i in range(first_row, len(tokens)):
            batch.logits[i] = True
        self._run_batch(len(tokens))
        self.tokens.extend(tokens)

    def decode_one(self, token: int) -> None:
        """Evaluate one generated token (the hot path of decoding: no Python loop over a batch)."""
        batch = self._batch.batch
        batch.n_tokens = 1
        batch.token[0] = token
        batch.pos[0] = len(self.tokens)
        batch.n_seq_id[0] = 1
        batch.seq_id[0][0] = self.seq
        batch.logits[0] = True
        self._run_batch(1)
        self.tokens.append(token)

    def _fill_batch(self, chunk: Sequence[int], logits_for_all: bool) -> None:
        batch = self._batch.batch
        batch.n_tokens = len(chunk)
        start = len(self.tokens)
        for i, token in enumerate(chunk):
            batch.token[i] = token
            batch.pos[i] = start + i
            batch.seq_id[i][0] = self.seq
            batch.n_seq_id[i] = 1
            batch.logits[i] = logits_for_all
        batch.logits[len(chunk) - 1] = True

    def last_logits(self) -> np.ndarray:
        """The last decoded position's logits, as a writable view of llama.cpp's buffer: what is
        changed here is what the next ``llama_sampler_sample`` sees."""
        return self.logits_row(-1)

    def logits_row(self, row: int) -> np.ndarray:
        """The logits of the last batch's position ``row`` (-1: its last), a writable view as above."""
        return np.ctypeslib.as_array(self._lib.llama_get_logits_ith(self.ctx, row), shape=(self.n_vocab,))

    def _run_batch(self, n_tokens: int) -> None:
        code = self._lib.llama_decode(self.ctx, self._batch.batch)
        if code != 0:
            # Positions after the failure are in an unknown state: forget the cache entirely.
            self.clear()
            raise ModelError(f"llama_decode failed with code {code} while evaluating {n_tokens} tokens")

    @property
    def room(self) -> int:
        """Tokens that still fit in this sequence's cells."""
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

    def score_continuations(
        self, prompt: Sequence[int], continuations: Sequence[Sequence[int]]
    ) -> tuple[list[float], int]:
        """log P(continuation | prompt) summed over its tokens, for each continuation; and how many
        prompt tokens were reused. The prompt is evaluated once: every continuation's first token is
        read from the logits of its last position, the rest of a longer one from one more batch."""
        longest = max((len(c) for c in continuations), default=0)
        if len(prompt) + longest > self.n_ctx:
            raise ContextOverflowError(
                f"prompt ({len(prompt)} tokens) plus option ({longest} tokens) does not fit the "
                f"context of {self.n_ctx} tokens"
            )
        reuse = self.prefill(prompt, reserve=max(longest, 1))
        last_row = self.last_logits().copy()
        scores = []
        for continuation in continuations:
            if not continuation:
                scores.append(0.0)
                continue
            score = logprob_rows(last_row[None, :], [continuation[0]])[0]
            if len(continuation) > 1:
                self.truncate(len(prompt))
                rows = self.decode(list(continuation[:-1]), logits_for_all=True)
                assert rows is not None
                score += sum(logprob_rows(rows[: len(continuation) - 1], list(continuation[1:])))
            scores.append(float(score))
        self.truncate(len(prompt))
        return scores, reuse

    # --- state snapshots -------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """This sequence's KV cache as bytes (llama.cpp's own sequence state format)."""
        size = self._lib.llama_state_seq_get_size(self.ctx, self.seq)
        buffer = (ctypes.c_uint8 * size)()
        written = self._lib.llama_state_seq_get_data(self.ctx, buffer, size, self.seq)
        return ctypes.string_at(buffer, written)

    def restore(self, tokens: Sequence[int], data: bytes) -> None:
        """Load a snapshot taken with ``snapshot`` together with the tokens it holds."""
        if len(tokens) > self.n_ctx:
            raise ModelError(
                f"the saved state holds {len(tokens)} tokens, more than the context of {self.n_ctx}"
            )
        self.clear()
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if self._lib.llama_state_seq_set_data(self.ctx, buffer, len(data), self.seq) == 0:
            self.clear()
            raise ModelError("llama.cpp refused the saved KV state (saved with other context settings?)")
        self.tokens = list(tokens)

    def close(self) -> None:
        self._batch.close()
