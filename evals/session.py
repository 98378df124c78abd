"""What a run of eval suites shares: settings, data folder, limit, progress display, and the heavy
models (LLM, sentence embedder), each opened on first use and closed when the session ends."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, TypeVar

from heron.config import Settings
from heron.evals.embeddings import SentenceEmbedder
from heron.llm.base import LLM

T = TypeVar("T")
R = TypeVar("R")
# (items, description) -> the same items, shown with a progress bar while they are consumed
ProgressFactory = Callable[[Sequence[T], str], Iterable[T]]


class ItemMapper(Protocol):
    """Runs ``fn(llm, item)`` for every item somewhere else (a cluster's workers, each with its own
    model) and returns the results in the items' order; ``on_done(n)`` after every n items."""

    def __call__(
        self, fn: Callable[[LLM, Any], Any], items: Sequence[Any], *, on_chunk: Callable[[int], None]
    ) -> list[Any]: ...


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
    halueval_file: Path | None = None  # the hallucination suite's pairs, instead of the data folder's
    limit: int | None = None
    progress: ProgressFactory = no_progress
    selfcheck_samples: int = 4
    open_llm: Callable[[Settings], LLM] = _open_llm
    items_on: ItemMapper | None = None  # `heron eval --cluster`: per-item model work on the workers
    model_label: str | None = None  # the workers' model's own name, when they run the model
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
        if self.model_label:
            return self.model_label
        base_url = getattr(self.settings, "llm_base_url", None)
        if base_url:
            return str(getattr(self.settings, "llm_model_name", None) or base_url)
        return self.settings.llm_model_path().name

    def track(self, description: str) -> Callable[[Iterable[T]], Iterable[T]]:
        """A one-argument progress wrapper for the eval functions, labelled ``description``."""

        def wrap(items: Iterable[T]) -> Iterable[T]:
            return self.progress(list(items), description)

        return wrap

    def map(self, fn: Callable[[LLM, T], R], items: Sequence[T], description: str) -> list[R]:
        """``[fn(self.llm, item) for item in items]`` with a progress bar; on a cluster the items are
        shared out over its workers (``fn`` must be a module-level function) and come back in order."""
        if self.items_on is None:
            return [fn(self.llm, item) for item in self.progress(list(items), description)]
        done = iter(self.progress(list(range(len(items))), description))

        def advance(count: int) -> None:
            for _ in range(count):
                next(done, None)

        results = self.items_on(fn, items, on_chunk=advance)
        advance(len(items))  # let the bar finish
        return results

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
