from __future__ import annotations

from pathlib import Path

import pytest

from heron.tools import Risk, tool


@pytest.fixture
def ledger(tmp_path: Path) -> Path:
    """A file outside the workspace that side-effecting test tools append to."""
    return tmp_path / "ledger.txt"


@pytest.fixture
def demo_tools(ledger: Path) -> list:
    @tool
    def add(a: int, b: int) -> int:
        """Add two integers.

        Args:
            a: first number
            b: second number
        """
        with ledger.open("a") as fh:
            fh.write(f"add {a} {b}\n")
        return a + b

    @tool(risk=Risk.HIGH)
    def delete_everything(path: str) -> str:
        """Delete a folder (dangerous).

        Args:
            path: folder to delete
        """
        with ledger.open("a") as fh:
            fh.write(f"delete {path}\n")
        return f"deleted {path}"

    return [add, delete_everything]
