"""Keep other libraries' progress bars, warnings and log lines off stderr, unless asked for.

The CLI calls :func:`quiet_libraries` once at start-up (``heron -v`` passes ``verbose=True``), before
the heavy libraries load. It silences: the Hugging Face and sentence-transformers weight-loading bars,
transformers' and huggingface_hub's warnings, pypdf's complaints about malformed headers, chromadb's and
onnxruntime's log lines (onnxruntime's quantizer writes its "pre-processing" advice to the root logger),
and their Python warnings. heron's own messages and every error stay visible.

    quiet_libraries()              # a quiet CLI
    quiet_libraries(verbose=True)  # everything back as the libraries left it

A program that uses heron as a library keeps its own logging; only the model preparation heron does
on its own behalf (loading, exporting and quantizing the embedding model) runs :func:`hushed`, since
those bars and that advice are about heron's internals, not about the program, and reading a PDF runs
:func:`quiet_logger` for pypdf alone (its warnings repeat the reason ingestion reports).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Loggers of libraries heron loads; their warnings are advice to developers, not to heron's users.
LIBRARY_LOGGERS = (
    "chromadb",
    "huggingface_hub",
    "onnxruntime",
    "optimum",
    "pypdf",
    "sentence_transformers",
    "transformers",
)
# Read by the libraries when they are imported (and by child processes, such as a served model).
_QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}
_WARNING_MODULES = "(" + "|".join((*LIBRARY_LOGGERS, "torch")) + ")"  # a prefix of the warning's module


class _NotFromLibraries(logging.Filter):
    """Drops records below ERROR that an installed library logged on the root logger
    (``logging.warning(...)``); heron's own modules are not under site-packages."""

    def filter(self, record: logging.LogRecord) -> bool:
        from_library = any(part in record.pathname for part in ("site-packages", "dist-packages"))
        return record.levelno >= logging.ERROR or not from_library


_ROOT_FILTER = _NotFromLibraries()
_env_set: set[str] = set()  # the variables quiet_libraries set, so verbose mode can take them back
_verbose = False  # heron -v: the libraries speak, and hushed leaves them alone


def quiet_libraries(verbose: bool = False) -> None:
    """Silence the libraries' own output (``verbose=False``) or restore it (``verbose=True``)."""
    global _verbose
    _verbose = verbose
    level = logging.NOTSET if verbose else logging.ERROR
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(level)
    root = logging.getLogger()
    if verbose:
        root.removeFilter(_ROOT_FILTER)
        for key in _env_set:
            os.environ.pop(key, None)
        _env_set.clear()
        warnings.filterwarnings("default", module=_WARNING_MODULES)
    else:
        root.addFilter(_ROOT_FILTER)  # adding it twice keeps one
        for key, value in _QUIET_ENV.items():
            if key not in os.environ:  # a value the user chose wins
                os.environ[key] = value
                _env_set.add(key)
        warnings.filterwarnings("ignore", module=_WARNING_MODULES)
    _set_loaded_libraries(verbose)


def _set_loaded_libraries(verbose: bool) -> None:
    """Apply the choice to libraries already imported, which read their environment only at import."""
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(logging.WARNING if verbose else logging.ERROR)
        (hf_logging.enable_progress_bar if verbose else hf_logging.disable_progress_bar)()
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

        (enable_progress_bars if verbose else disable_progress_bars)()
    if "onnxruntime" in sys.modules:
        import onnxruntime

        onnxruntime.set_default_logger_severity(2 if verbose else 3)  # 2 warning, 3 error


@contextmanager
def hushed() -> Iterator[None]:
    """The libraries quiet for the length of a block heron runs on its own behalf, then as they were.

    Left alone under ``heron -v`` (``quiet_libraries(verbose=True)``) and when the program logs
    ``heron`` at INFO or below: they asked to see more. Blocks may overlap (two threads loading an
    embedder): the first to enter saves the state, the last to leave puts it back.
    """
    if _verbose or logging.getLogger("heron").isEnabledFor(logging.INFO):
        yield
        return
    _hush.enter()
    try:
        yield
    finally:
        _hush.leave()


class _Hush:
    """The process-wide state ``hushed`` changes, saved by the outermost block and restored by it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._levels: list[int] = []
        self._had_filter = False
        self._filters: list[Any] = []
        self._bars_were_on = False

    def enter(self) -> None:
        with self._lock:
            self._depth += 1
            if self._depth > 1:
                return
            bars = _transformers_logging()  # first: importing transformers sets its logger's level
            self._bars_were_on = bars is not None and bool(bars.is_progress_bar_enabled())
            if self._bars_were_on:
                bars.disable_progress_bar()
            loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
            self._levels = [logger.level for logger in loggers]
            for logger in loggers:
                logger.setLevel(logging.ERROR)
            root = logging.getLogger()
            self._had_filter = _ROOT_FILTER in root.filters
            root.addFilter(_ROOT_FILTER)
            self._filters = list(warnings.filters)
            warnings.filterwarnings("ignore", module=_WARNING_MODULES)

    def leave(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth > 0:
                return
            for name, level in zip(LIBRARY_LOGGERS, self._levels, strict=True):
                logging.getLogger(name).setLevel(level)
            if not self._had_filter:
                logging.getLogger().removeFilter(_ROOT_FILTER)
            warnings.filters[:] = self._filters  # type: ignore[index]  # (a list at run time)
            getattr(warnings, "_filters_mutated", lambda: None)()  # (as catch_warnings does on exit)
            bars = _transformers_logging()
            if self._bars_were_on and bars is not None:
                bars.enable_progress_bar()  # only what hushed itself turned off


_hush = _Hush()


class _QuietLogger:
    """One library logger held at ERROR while any ``quiet_logger`` block for it runs (blocks in
    several threads overlap: the first to enter saves its level, the last to leave puts it back)."""

    def __init__(self, name: str) -> None:
        self.logger = logging.getLogger(name)
        self._lock = threading.Lock()
        self._depth = 0
        self._level = logging.NOTSET

    @contextmanager
    def block(self) -> Iterator[None]:
        with self._lock:
            self._depth += 1
            if self._depth == 1:
                self._level = self.logger.level
                self.logger.setLevel(max(self._level, logging.ERROR))
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self.logger.setLevel(self._level)


_quiet_loggers: dict[str, _QuietLogger] = {}
_quiet_loggers_lock = threading.Lock()


def quiet_logger(name: str) -> contextlib.AbstractContextManager[None]:
    """The library logger ``name`` (and its children) says only errors for the length of a block:
    for a library heron calls on a file the user gave it, whose warnings repeat what heron reports
    (pypdf's "invalid pdf header" for a file ingestion skips with its reason). Nothing else changes,
    and ``heron -v`` or a program logging ``heron`` at INFO leaves it alone."""
    if _verbose or logging.getLogger("heron").isEnabledFor(logging.INFO):
        return contextlib.nullcontext()
    with _quiet_loggers_lock:
        quiet = _quiet_loggers.setdefault(name, _QuietLogger(name))
    return quiet.block()


def _transformers_logging() -> Any:
    """transformers' logging module (its switch for bars such as "Loading weights"), if installed."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    return hf_logging
