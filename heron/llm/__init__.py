"""heron.llm: the local LLM runtime (llama.cpp in-process), an HTTP backend and a scripted fake.

>>> from heron.config import load_settings
>>> from heron.llm import Message, open_llm
>>> with open_llm(load_settings()) as llm:
...     print(llm.chat([Message.user("Name a colour.")]).text)

Importing this package is cheap: llama.cpp loads when a ``LocalLLM`` is opened.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from heron.llm.base import (
    LLM,
    DecodesGrammar,
    KeepsState,
    ReportsLogprobs,
    ResumesReplies,
    ScoresOptions,
    option_scorer,
)
from heron.llm.best_of import best_of
from heron.llm.fake import ScriptedLLM
from heron.llm.http import HTTPLLM
from heron.llm.types import (
    Completion,
    GenerationOptions,
    Message,
    RepetitionControl,
    TokenLogprob,
    Usage,
)

if TYPE_CHECKING:
    from heron.config import Settings
    from heron.llm.local import LocalLLM

# llama.cpp's CPU backend uses OpenMP; with the default (active) wait policy its idle threads spin,
# and on a machine whose cores are busy with anything else prompt processing gets ~30x slower.
# Must be set before llama_cpp (and so libgomp) is first loaded; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__all__ = [
    "HTTPLLM",
    "LLM",
    "Completion",
    "DecodesGrammar",
    "GenerationOptions",
    "KeepsState",
    "LocalLLM",
    "Message",
    "RepetitionControl",
    "ReportsLogprobs",
    "ResumesReplies",
    "ScoresOptions",
    "ScriptedLLM",
    "TokenLogprob",
    "Usage",
    "best_of",
    "open_llm",
    "option_scorer",
]


def open_llm(settings: Settings) -> LLM:
    """The LLM ``settings`` describe: ``HTTPLLM`` when ``llm_base_url`` is set, else a ``LocalLLM``."""
    if settings.llm_base_url:
        return HTTPLLM(
            settings.llm_base_url,
            api_key=settings.llm_api_key,
            model=settings.llm_model_name,
            seed=settings.seed,
        )
    from heron.llm.local import LocalLLM

    return LocalLLM.from_settings(settings)


def __getattr__(name: str) -> object:
    # LocalLLM pulls in numpy and llama.cpp's bindings: import it on first use only.
    if name == "LocalLLM":
        from heron.llm.local import LocalLLM

        return LocalLLM
    raise AttributeError(f"module 'heron.llm' has no attribute {name!r}")
