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


LEDGER_TOOL_SOURCE = '''
from heron import ToolContext, tool


@tool
def append_line(text: str, ctx: ToolContext) -> str:
    """Append one line of text to ledger.txt in the workspace.

    Args:
        text: the line to append
    """
    with (ctx.workspace / "ledger.txt").open("a") as fh:
        fh.write(text + "\\n")
    return f"appended {text!r}"
'''


@pytest.fixture
def write_ledger_tool():  # type: ignore[no-untyped-def]
    """Writes a module with the side-effecting `append_line` tool, for task files to reference."""

    def write(folder: Path, module: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{module}.py").write_text(LEDGER_TOOL_SOURCE)

    return write
