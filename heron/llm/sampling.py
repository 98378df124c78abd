"""Token sampling on llama.cpp's sampler chain, with a grammar that costs little when the model agrees.

Applying a grammar to every candidate of a 50k-token vocabulary at every step is what makes
constrained decoding several times slower. ``TokenSampler`` instead samples without the grammar,
checks that one token against it, and only when the grammar rejects it filters the full candidate
list and samples again (llama.cpp's common sampler does the same). Valid output is guaranteed
either way; the full pass runs only on the steps where the model wanted something invalid.
"""

from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from heron.llm.types import GenerationOptions


class TokenSampler:
    """Picks the next token from the context's last logits. Free with ``close`` (or use ``with``)."""

    def __init__(
        self, n_vocab: int, options: GenerationOptions, seed: int, grammar: Any | None = None
    ) -> None:
        """``grammar`` is a llama.cpp grammar sampler (owned by the caller, reset here) or None."""
        import llama_cpp

        self._lib = llama_cpp
        self._n_vocab = n_vocab
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        add = lambda s: llama_cpp.llama_sampler_chain_add(self._chain, s)  # noqa: E731
        if options.temperature == 0:
            add(llama_cpp.llama_sampler_init_greedy())
        else:
            if options.top_k > 0:
                add(llama_cpp.llama_sampler_init_top_k(options.top_k))
            if options.top_p < 1.0:
                add(llama_cpp.llama_sampler_init_top_p(options.top_p, 1))
            add(llama_cpp.llama_sampler_init_temp(options.temperature))
            add(llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))
        self._grammar = grammar
        if grammar is not None:
            llama_cpp.llama_sampler_reset(grammar)
            self._one_data = (llama_cpp.llama_token_data * 1)()
            self._one = llama_cpp.llama_token_data_array(
                data=ctypes.cast(self._one_data, llama_cpp.llama_token_data_p),
                size=1,
                selected=-1,
                sorted=False,
            )
            self._all_data = np.zeros(
                n_vocab, dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
            )
            self._all_ids = np.arange(n_vocab, dtype=np.intc)
            self._all = llama_cpp.llama_token_data_array(
                data=self._all_data.ctypes.data_as(llama_cpp.llama_token_data_p),
                size=n_vocab,
                selected=-1,
                sorted=False,
            )

    def sample(self, ctx: Any, row: int = -1) -> int:
        """The next token for position ``row`` of the last batch of ``ctx`` (a ``llama_context_p``;
        -1: its last position)."""
        lib = self._lib
        token = lib.llama_sampler_sample(self._chain, ctx, row)
        if self._grammar is None:
            return token
        if not self._grammar_allows(token):
            token = self._sample_under_grammar(ctx, row)
        lib.llama_sampler_accept(self._grammar, token)
        return token

    @property
    def grammar(self) -> Any | None:
        """The grammar sampler in use (its state: what was accepted so far), or None."""
        return self._grammar

    def accept_forced(self, token: int) -> bool:
        """Feed ``token``, chosen by the caller, to the grammar: False (and nothing fed) if it rejects it."""
        if self._grammar is not None:
            if not self._grammar_allows(token):
                return False
            self._lib.llama_sampler_accept(self._grammar, token)
        return True

    def _grammar_allows(self, token: int) -> bool:
        item = self._one_data[0]
        item.id, item.logit, item.p = token, 0.0, 0.0  # type: ignore[assignment]
        self._one.size, self._one.selected, self._one.sorted = 1, -1, False
        self._lib.llama_sampler_apply(self._grammar, ctypes.byref(self._one))
        return not math.isinf(self._one_data[0].logit)

    def _sample_under_grammar(self, ctx: Any, row: int) -> int:
        lib = self._lib
        logits = np.ctypeslib.as_array(lib.llama_get_logits_ith(ctx, row), shape=(self._n_vocab,))
        data = self._all_data
        data["id"] = self._all_ids
        data["logit"] = logits
        data["p"] = 0.0
        self._all.size, self._all.selected, self._all.sorted = self._n_vocab, -1, False
        lib.llama_sampler_apply(self._grammar, ctypes.byref(self._all))
        lib.llama_sampler_apply(self._chain, ctypes.byref(self._all))
        token = int(data["id"][self._all.selected])
        lib.llama_sampler_accept(self._chain, token)
        return token

    def close(self) -> None:
        if self._chain is not None:
            self._lib.llama_sampler_free(self._chain)
            self._chain = None

    def __enter__(self) -> TokenSampler:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def token_logprob(ctx: Any, n_vocab: int, token: int, row: int = -1) -> float:
    """log P(token) under the model's distribution at position ``row`` of the context's last batch."""
    import llama_cpp

    logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, row), shape=(n_vocab,))
    return float(logits[token] - _logsumexp(logits))


def _logsumexp(logits: np.ndarray) -> float:
    top = float(logits.max())
    return top + math.log(float(np.exp(logits - top).sum()))


def logprob_rows(rows: np.ndarray, targets: list[int]) -> list[float]:
    """For each row of logits, log P(target) of that row's target token."""
    out = []
    for row, target in zip(rows, targets, strict=True):
        out.append(float(row[target] - _logsumexp(row)))
    return out
