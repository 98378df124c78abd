"""The ``python`` tool: run code in the session's sandbox, a persistent Python like a notebook."""

from __future__ import annotations

from heron.tools.context import ToolContext
from heron.tools.declaration import tool
from heron.tools.results import Risk, ToolResult


@tool(name="python", risk=Risk.HIGH, think=True, repeats_allowed=("code",))
def python_tool(code: str, ctx: ToolContext) -> ToolResult:
    """Run Python code in an isolated sandbox. Variables and imports persist between calls, like a
    notebook; print what you need to see. Files go in the current folder (the workspace); figures
    left open are saved as PNG files. No network access. The code cannot see earlier tool results
    or documents: type the values you need into it, one statement per line, e.g.
    {"code": "sizes = [12.5, 30.0]\\nprint(sum(sizes))"}.

    Args:
        code: Python source code to run
    """
    result = ctx.sandbox.run_cell(code)
    return ToolResult(text=result.to_text(), artifacts=result.artifacts, is_error=not result.ok)
