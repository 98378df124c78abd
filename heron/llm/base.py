"""The interface every LLM backend implements (``LLM``: chat, stream, structured output, usage,
close), and the capabilities only some have, each its own protocol checked with ``isinstance``:
``ScoresOptions`` (log-probabilities of given replies: local llama.cpp and the fake),
``DecodesGrammar`` (a raw grammar and the template's tools: native tool calls) and ``KeepsState``
(save and restore what a resumed task needs: the local KV cache)."""

from __future__ import annotations

from collections.abc import Generator, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from heron.errors import UsageError
from heron.llm.tool_formats import ToolFormat
from heron.llm.types import Completion, GenerationOptions, Message, TokenLogprob, Usage

T = TypeVar("T", bound=BaseModel)


@runtime_checkable
class LLM(Protocol):
    """A chat model. Implementations serialize concurrent callers and free memory on ``close``.

    Backends: ``LocalLLM`` (llama.cpp in-process), ``HTTPLLM`` (an OpenAI-compatible server),
    ``ScriptedLLM`` (a scripted fake for tests). ``heron.llm.open_llm(settings)`` picks one.
    Sampling several candidates is a function over any of them: ``heron.llm.best_of``.
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

    def close(self) -> None: ...


@runtime_checkable
class ScoresOptions(Protocol):
    """A backend that scores given replies (``LocalLLM``, ``ScriptedLLM``; not a served model)."""

    def score_options(self, messages: Sequence[Message], options: Sequence[str]) -> list[float]:
        """log P(option | prompt) for each option, as the assistant's reply (sum over its tokens)."""
        ...


@runtime_checkable
class DecodesGrammar(Protocol):
    """A backend that decodes under a GBNF grammar given as text and renders tool declarations through
    its chat template (``LocalLLM``): what a model's native tool-call format needs."""

    @property
    def native_tool_format(self) -> ToolFormat | None:
        """The tool-call syntax the model's chat template writes (None: the template has no tools)."""
        ...

    def grammar_chat(
        self, messages: Sequence[Message], grammar: str, options: GenerationOptions
    ) -> Completion:
        """A reply under ``grammar`` (GBNF, root rule ``root``); ``options.tools`` go to the template."""
        ...


@runtime_checkable
class ResumesReplies(Protocol):
    """A backend that goes on with a reply an earlier call began and ``stop_when`` ended
    (``GenerationOptions.reply_start``), as if the reply had not stopped (``LocalLLM``). A caller can
    then look at a reply's start, ask the model other things, and let the reply go on."""

    @property
    def resumes_replies(self) -> bool: ...


@runtime_checkable
class ReportsLogprobs(Protocol):
    """A backend that tells the log-probability of each token its last call generated, when the call
    asked for them (``GenerationOptions.logprobs``), also under a grammar (``LocalLLM``)."""

    @property
    def last_logprobs(self) -> list[TokenLogprob] | None:
        """The most recent call's tokens and their log-probabilities; None if it did not ask."""
        ...


@runtime_checkable
class KeepsState(Protocol):
    """A backend whose prompt processing a resumed task can skip (``LocalLLM``: its KV cache)."""

    def save_state(self, path: Path) -> None:
        """Write the state (the local KV cache and the tokens it holds) to ``path``."""
        ...

    def load_state(self, path: Path) -> None:
        """Restore a file written by ``save_state`` of the same backend and model."""
        ...


def option_scorer(llm: LLM) -> ScoresOptions:
    """``llm`` as a scorer of given replies; a UsageError saying so for a backend that cannot score."""
    if not isinstance(llm, ScoresOptions):
        raise UsageError(
            f"{llm.name} cannot score given replies: OpenAI-style chat APIs return log-probabilities "
            "only for text the server generates",
            "use a local model (unset llm_base_url) for scores, evals and the first-call check",
        )
    return llm
