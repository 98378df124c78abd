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
those bars and that advice are about heron's internals, not about the program.
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

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


def quiet_libraries(verbose: bool = False) -> None:
    """Silence the libraries' own output (``verbose=False``) or restore it (``verbose=True``)."""
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

    Left alone when the program logs ``heron`` at INFO or below: it asked to see more.
    """
    if logging.getLogger("heron").isEnabledFor(logging.INFO):
        yield
        return
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    levels = [logger.level for logger in loggers]
    root = logging.getLogger()
    had_filter = _ROOT_FILTER in root.filters
    bars = _transformers_progress_bar()
    try:
        for logger in loggers:
            logger.setLevel(logging.ERROR)
        root.addFilter(_ROOT_FILTER)
        if bars is not None:
            bars.disable_progress_bar()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=_WARNING_MODULES)
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)
        if not had_filter:
            root.removeFilter(_ROOT_FILTER)
        if bars is not None and bars.was_enabled:
            bars.enable_progress_bar()


class _ProgressBars:
    def __init__(self, module: object) -> None:
        self.disable_progress_bar = module.disable_progress_bar  # type: ignore[attr-defined]
        self.enable_progress_bar = module.enable_progress_bar  # type: ignore[attr-defined]
        self.was_enabled = bool(module.is_progress_bar_enabled())  # type: ignore[attr-defined]


def _transformers_progress_bar() -> _ProgressBars | None:
    """transformers' switch for its bars ("Loading weights"), when transformers is installed."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return None
    return _ProgressBars(hf_logging)
