"""Logit biases: rules that shift some logits before each sampling step of ``LocalLLM``'s loop.

Each bias (the repetition penalty, or one a caller passes as ``GenerationOptions.logit_bias``) says
which tokens to shift and by how much, and is told the token chosen. The shifts go into llama.cpp's
logits buffer just before sampling, so the grammar check sees them, and come out again right after,
so reported logprobs stay the model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import numpy as np


class LogitBias(Protocol):
    """One decode's bias: ``adjustment`` before each sampled token, ``feed`` with the token chosen."""

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and what to add to their logits at this step (an id may appear more than once)."""
        ...

    def feed(self, token: int, text: str) -> None:
        """The token just chosen and its text."""
        ...


@contextmanager
def biased_logits(logits_of: Callable[[], np.ndarray], biases: Sequence[LogitBias]) -> Iterator[None]:
    """Shift the logits ``logits_of()`` returns (a writable view) by ``biases`` for the block's
    duration; the exact values are restored after, not recomputed."""
    if not biases:
        yield
        return
    logits = logits_of()
    saved: list[tuple[np.ndarray, np.ndarray]] = []
    for bias in biases:
        ids, amounts = bias.adjustment()
        if len(ids):
            saved.append((ids, logits[ids]))  # fancy indexing copies
            np.add.at(logits, ids, amounts)
    try:
        yield
    finally:
        for ids, values in reversed(saved):
            logits[ids] = values
