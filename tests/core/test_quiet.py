"""``hushed``: the libraries quiet around heron's own model preparation, then exactly as they were."""

from __future__ import annotations

import logging
import threading
import warnings

from heron import quiet
from heron.quiet import LIBRARY_LOGGERS, hushed, quiet_libraries


def _state() -> tuple[list[int], bool, list[object]]:
    quiet._transformers_logging()  # imported: its import sets its loggers' levels once
    levels = [logging.getLogger(name).level for name in LIBRARY_LOGGERS]
    return levels, quiet._ROOT_FILTER in logging.getLogger().filters, list(warnings.filters)


def test_hushed_silences_the_libraries_inside_and_restores_everything_after() -> None:
    logging.getLogger("transformers").setLevel(logging.INFO)
    try:
        before = _state()
        with hushed():
            assert logging.getLogger("transformers").level == logging.ERROR
            assert quiet._ROOT_FILTER in logging.getLogger().filters
        assert _state() == before
    finally:
        logging.getLogger("transformers").setLevel(logging.NOTSET)


def test_overlapping_blocks_in_two_threads_leave_the_state_as_it_was() -> None:
    before = _state()
    first_in, second_done = threading.Event(), threading.Event()

    def first() -> None:
        with hushed():
            first_in.set()
            second_done.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    first_in.wait(10)
    with hushed():  # enters while the first is inside, leaves before it
        pass
    assert logging.getLogger("sentence_transformers").level == logging.ERROR  # the first is still inside
    second_done.set()
    thread.join(10)
    assert _state() == before


def test_hushed_leaves_the_libraries_alone_under_verbose_or_when_heron_logs_info() -> None:
    filters = list(warnings.filters)
    try:
        quiet_libraries(verbose=True)  # heron -v
        with hushed():
            assert logging.getLogger("onnxruntime").level == logging.NOTSET
    finally:
        quiet._verbose = False
        warnings.filters[:] = filters
    heron_logger = logging.getLogger("heron")
    heron_logger.setLevel(logging.INFO)
    try:
        with hushed():
            assert logging.getLogger("onnxruntime").level == logging.NOTSET
    finally:
        heron_logger.setLevel(logging.NOTSET)
