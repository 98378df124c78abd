"""The interface every LLM backend implements: local llama.cpp, an OpenAI-compatible server, the fake."""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from heron.llm.types import Completion, GenerationOptions, Message, Usage

T = TypeVar("T", bound=BaseModel)


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations serialize concurrent callers and free memory on ``close``.

    Backends: ``LocalLLM`` (llama.cpp in-process), ``HTTPLLM`` (an OpenAI-compatible server),
    ``ScriptedLLM`` (a scripted fake for tests). ``heron.llm.open_llm(settings)`` picks one.
    """

    @property
    def name(self) -> str: ...

    @property
    def last_usage(self) -> Usage:
        """Usage of the most recent call (set when a stream is exhausted)."""
        ...

    def chat(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion: ...

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generator[str, None, None]:
        """Text deltas; at temperature 0 their concatenation equals ``chat(...).text``."""
        ...

    def structured(
        self, messages: Sequence[Message], schema: type[T], options: GenerationOptions | None = None
    ) -> T:
        """Decode under a grammar built from ``schema``; always returns a validated instance."""
        ...

    def structured_json(
        self, messages: Sequence[Message], schema: dict[str, Any], options: GenerationOptions | None = None
    ) -> Any:
        """Like ``structured`` for a plain JSON schema; returns the parsed JSON value."""
        ...

    def score_options(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """log P(option | prompt) for each option, as the assistant's reply (sum over its tokens)."""
        ...

    def best_of(
        self,
        messages: Sequence[Message],
        n: int,
        scorer: Callable[[str], float] | None = None,
        options: GenerationOptions | None = None,
    ) -> Completion:
        """Sample ``n`` candidates; pick the best by ``scorer``, or by majority when no scorer is given."""
        ...

    def save_state(self, path: Path) -> None:
        """Write what lets a resumed task skip re-processing its prompt (the local KV cache) to ``path``."""
        ...

    def load_state(self, path: Path) -> None:
        """Restore a file written by ``save_state`` of the same backend and model."""
        ...

    def close(self) -> None: ...
