"""The interface every LLM backend implements: local llama.cpp, an OpenAI-compatible server, the fake."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from heron.llm.types import Completion, GenerationOptions, Message, Usage

T = TypeVar("T", bound=BaseModel)


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations serialize concurrent callers and free memory on ``close``."""

    @property
    def name(self) -> str: ...

    @property
    def last_usage(self) -> Usage:
        """Usage of the most recent call (set when a stream is exhausted)."""
        ...

    def chat(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Completion: ...

    def stream(self, messages: Sequence[Message], options: GenerationOptions | None = None) -> Iterator[str]:
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

    def close(self) -> None: ...
