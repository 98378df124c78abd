"""heron: local-first agents and RAG on llama.cpp.

The SDK surface (``Agent``, ``tool``, ...) is imported lazily so that ``import heron`` stays cheap.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("heron")
except PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+local"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY = {
    "Agent": "heron.agents",
    "AgentConfig": "heron.agents",
    "Budget": "heron.agents",
    "PlanStep": "heron.agents",
    "RunResult": "heron.agents",
    "ApprovalRequest": "heron.agents",
    "ApprovalResult": "heron.agents",
    "tool": "heron.tools",
    "Tool": "heron.tools",
    "ToolContext": "heron.tools",
    "ToolResult": "heron.tools",
    "Risk": "heron.tools",
    "LocalLLM": "heron.llm",
    "ScriptedLLM": "heron.llm",
    "Message": "heron.llm",
    "GenerationOptions": "heron.llm",
    "VectorMemory": "heron.memory",
    "Settings": "heron.config",
    "load_settings": "heron.config",
}

if TYPE_CHECKING:
    from heron.agents import (
        Agent,
        AgentConfig,
        ApprovalRequest,
        ApprovalResult,
        Budget,
        PlanStep,
        RunResult,
    )
    from heron.config import Settings, load_settings
    from heron.llm import GenerationOptions, LocalLLM, Message, ScriptedLLM
    from heron.memory import VectorMemory
    from heron.tools import Risk, Tool, ToolContext, ToolResult, tool

__all__ = [
    "Agent",
    "AgentConfig",
    "ApprovalRequest",
    "ApprovalResult",
    "Budget",
    "GenerationOptions",
    "LocalLLM",
    "Message",
    "PlanStep",
    "Risk",
    "RunResult",
    "ScriptedLLM",
    "Settings",
    "Tool",
    "ToolContext",
    "ToolResult",
    "VectorMemory",
    "__version__",
    "load_settings",
    "tool",
]


def __dir__() -> list[str]:
    # the lazy names are not globals until first used: without this, dir(heron) would miss them
    return list(__all__)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'heron' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
