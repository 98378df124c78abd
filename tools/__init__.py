"""heron.tools: tool declaration, the registry, LangChain interop, the code sandbox and built-in tools.

>>> from heron.tools import tool, Toolset, ToolContext
>>> @tool
... def add(a: int, b: int) -> int:
...     \"\"\"Add two integers.\"\"\"
...     return a + b
"""

from heron.tools.base import Tool
from heron.tools.builtin import builtin_tools, builtin_toolset
from heron.tools.calculator import calculator
from heron.tools.context import ToolContext
from heron.tools.declaration import LONG_TEXT_CHARS, LongText, tool
from heron.tools.files import list_files, read_file, write_file
from heron.tools.lazy import LazyTool
from heron.tools.python_tool import python_tool
from heron.tools.results import Artifact, Risk, ToolResult
from heron.tools.toolset import Toolset

__all__ = [
    "LONG_TEXT_CHARS",
    "Artifact",
    "LazyTool",
    "LongText",
    "Risk",
    "Tool",
    "ToolContext",
    "ToolResult",
    "Toolset",
    "builtin_tools",
    "builtin_toolset",
    "calculator",
    "list_files",
    "python_tool",
    "read_file",
    "tool",
    "write_file",
]
