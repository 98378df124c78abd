"""The longest common prefix of two prompts: how much of the previous prompt (and of the KV cache
it filled) a new prompt can reuse. Shared by LocalLLM's KV session and ScriptedLLM's accounting."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def common_prefix_length(a: Sequence[Any], b: Sequence[Any]) -> int:
    """How many leading items ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
