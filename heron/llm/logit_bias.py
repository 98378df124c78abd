"""Logit biases: policies that shift some logits before each sampling step of ``LocalLLM``'s loop.

Each policy (copy bias, repetition penalty) says which tokens to shift and by how much, and is told
the token chosen. The shifts go into llama.cpp's logits buffer just before sampling, so the grammar
check sees them, and come out again right after, so reported logprobs stay the model's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Protocol

import numpy as np

from heron.llm.copy_bias import CopyBiaser


class LogitBias(Protocol):
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


class CopyBiasStep:
    """A :class:`~heron.llm.copy_bias.CopyBiaser` as a :class:`LogitBias`."""

    def __init__(self, copier: CopyBiaser) -> None:
        self.copier = copier

    def adjustment(self) -> tuple[np.ndarray, np.ndarray]:
        favoured, penalised = self.copier.bonus()
        if not len(favoured) and not len(penalised):
            return favoured, np.zeros(0, dtype=np.float32)
        favoured, penalised = np.unique(favoured), np.unique(penalised)
        strength = np.float32(self.copier.bias.strength)
        amounts = np.concatenate(
            [np.full(len(favoured), strength, np.float32), np.full(len(penalised), -strength, np.float32)]
        )
        return np.concatenate([favoured, penalised]).astype(np.intc), amounts

    def feed(self, token: int, text: str) -> None:
        self.copier.feed(text)
