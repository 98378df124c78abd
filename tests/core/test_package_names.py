"""``import heron``: the SDK's names, imported lazily on first use, are still listed by ``dir()``."""

from __future__ import annotations

import heron


def test_dir_lists_the_public_names_and_each_resolves() -> None:
    names = dir(heron)
    assert {"Agent", "tool", "ScriptedLLM", "VectorMemory", "__version__"} <= set(names)
    assert sorted(names) == sorted(heron.__all__)
    for name in names:
        assert getattr(heron, name) is not None, name
