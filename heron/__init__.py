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
    "Settings": "heron.config",
    "load_settings": "heron.config",
}

if TYPE_CHECKING:
    from heron.config import Settings, load_settings

__all__ = ["Settings", "__version__", "load_settings"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'heron' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
