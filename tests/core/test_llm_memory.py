"""Closing a LocalLLM frees its memory: no RSS growth over 50 load/close cycles."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest

from heron.config import load_settings
from heron.llm import GenerationOptions, LocalLLM, Message

pytestmark = [pytest.mark.model, pytest.mark.slow]


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS in /proc/self/status")


def cycle(settings_path: Path) -> None:
    with LocalLLM(settings_path, context_size=256) as llm:
        llm.chat([Message.user("Hi")], GenerationOptions(max_tokens=2))


def test_no_memory_growth_over_50_load_close_cycles() -> None:
    path = load_settings().llm_model_path()
    for _ in range(5):  # warm-up: allocator pools, lazy imports, first-use caches
        cycle(path)
    gc.collect()
    before = rss_mib()
    for _ in range(50):
        cycle(path)
    gc.collect()
    growth = rss_mib() - before
    # one loaded model is ~100 MiB resident: a leak of even half a model per cycle would show as GiBs
    assert growth < 25, f"RSS grew by {growth:.1f} MiB over 50 cycles"
