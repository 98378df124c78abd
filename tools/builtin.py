"""heron's built-in tools, in the order the planner lists them."""

from __future__ import annotations

from heron.tools.base import Tool
from heron.tools.calculator import calculator
from heron.tools.files import list_files, read_file, write_file
from heron.tools.python_tool import python_tool
from heron.tools.toolset import Toolset


def builtin_tools() -> list[Tool]:
    """``python``, ``calculator``, ``read_file``, ``write_file``, ``list_files``."""
    return [python_tool, calculator, read_file, write_file, list_files]


def tools_by_name() -> dict[str, Tool]:
    """Every built-in tool a task file or a serve profile can name, ``generate_image`` included."""
    from heron.tools.image import generate_image  # (diffusers loads only when an image is made)

    return {t.name: t for t in [*builtin_tools(), generate_image]}


def builtin_toolset() -> Toolset:
    return Toolset(builtin_tools())
