"""What a run of eval suites shares: settings, data folder, limit, progress display, and the heavy
models (LLM, sentence embedder), each opened on first use and closed when the session ends."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TypeVar

from heron.config import Settings
from heron.evals.embeddings import SentenceEmbedder
from heron.llm.base import LLM

T = TypeVar("T")
# (items, description) -> the same items, shown with a progress bar while they are consumed
ProgressFactory = Callable[[Sequence[T], str], Iterable[T]]


def no_progress(items: Sequence[T], description: str) -> Iterable[T]:
    return items


def _open_llm(settings: Settings) -> LLM:
    from heron.llm import open_llm  # llama.cpp loads here, not when the evals are imported

    return open_llm(settings)


@dataclass
class EvalSession:
    """Use as a context manager; ``llm`` and ``embedder`` load lazily and are closed on exit::

    with EvalSession(load_settings(), limit=20) as session:
        result = run_suite("truthfulqa", session)
    """

    settings: Settings
    data_root: Path | None = None
    limit: int | None = None
    progress: ProgressFactory = no_progress
    selfcheck_samples: int = 4
    open_llm: Callable[[Settings], LLM] = _open_llm
    _llm: LLM | None = field(default=None, init=False, repr=False)
    _embedder: SentenceEmbedder | None = field(default=None, init=False, repr=False)
    _stack: ExitStack = field(default_factory=ExitStack, init=False, repr=False)

    @property
    def llm(self) -> LLM:
        if self._llm is None:
            self._llm = self.open_llm(self.settings)
            self._stack.callback(self._llm.close)
        return self._llm

    @property
    def embedder(self) -> SentenceEmbedder:
        if self._embedder is None:
            self._embedder = self._stack.enter_context(SentenceEmbedder.from_settings(self.settings))
        return self._embedder

    def model_name(self) -> str:
        """The LLM's name without loading it: the GGUF file name (or the configured server model)."""
        if self._llm is not None:
            return self._llm.name
        base_url = getattr(self.settings, "llm_base_url", None)
        if base_url:
            return str(getattr(self.settings, "llm_model_name", None) or base_url)
        return self.settings.llm_model_path().name

    def track(self, description: str) -> Callable[[Iterable[T]], Iterable[T]]:
        """A one-argument progress wrapper for the eval functions, labelled ``description``."""

        def wrap(items: Iterable[T]) -> Iterable[T]:
            return self.progress(list(items), description)

        return wrap

    def close(self) -> None:
        self._stack.close()
        self._llm = None
        self._embedder = None

    def __enter__(self) -> EvalSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
