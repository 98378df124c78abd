"""``Toolset``: the tools of one agent, in order, by unique name."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from heron.errors import ArgumentsRetry, ToolDeclarationError
from heron.tools.base import Tool
from heron.tools.context import ToolContext
from heron.tools.declaration import tool as declare_tool
from heron.tools.results import Risk, ToolResult

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool


class Toolset:
    """An ordered registry of tools. Names are unique; plain typed functions are declared on the way in.

    >>> tools = Toolset([calculator])
    >>> tools.invoke("calculator", {"expression": "2 * 21"}, ctx).text
    '42'
    """

    def __init__(self, tools: Iterable[Tool | Callable[..., Any]] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for item in tools:
            self.add(item)

    def add(self, item: Tool | Callable[..., Any]) -> Tool:
        """Register a tool (or a typed function, declared with ``@tool``); a taken name is refused."""
        new = item if isinstance(item, Tool) else declare_tool(item)
        if new.name in self._tools:
            raise ToolDeclarationError(
                f"a tool named `{new.name}` is already in this toolset",
                f"give one of them another name, e.g. @tool(name='{new.name}_2')",
            )
        self._tools[new.name] = new
        return new

    def get(self, name: str) -> Tool:
        """The tool called ``name``; an unknown name raises ModelRetry listing the known tools."""
        found = self._tools.get(name)
        if found is None:
            known = ", ".join(self._tools) or "(none)"
            raise ArgumentsRetry(f"there is no tool named `{name}`. Known tools: {known}. Call one of those.")
        return found

    def __getitem__(self, name: str) -> Tool:
        return self.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(list(self._tools.values()))

    def __len__(self) -> int:
        return len(self._tools)

    def names(self) -> list[str]:
        return list(self._tools)

    def specs(self) -> list[dict[str, Any]]:
        """Name, description and JSON schema of each tool, in order (what the planner shows the model)."""
        return [t.spec() for t in self._tools.values()]

    def needs_approval(self, name: str) -> bool:
        return self.get(name).risk is Risk.HIGH

    def invoke(self, name: str, args: Mapping[str, Any] | None, ctx: ToolContext[Any]) -> ToolResult:
        return self.get(name).invoke(args, ctx)

    async def ainvoke(self, name: str, args: Mapping[str, Any] | None, ctx: ToolContext[Any]) -> ToolResult:
        return await self.get(name).ainvoke(args, ctx)

    @classmethod
    def from_langchain(cls, tools: Iterable[BaseTool], risk: Risk = Risk.HIGH) -> Toolset:
        """Wrap LangChain tools. Their risk is unknown to heron, so it defaults to HIGH (ask first)."""
        from heron.tools.langchain_interop import from_langchain

        return cls(from_langchain(t, risk=risk) for t in tools)

    def to_langchain(self, ctx: ToolContext[Any]) -> list[BaseTool]:
        """Every tool as a LangChain ``StructuredTool`` bound to ``ctx``, with the same schema."""
        from heron.tools.langchain_interop import to_langchain

        return [to_langchain(t, ctx) for t in self._tools.values()]

    def close(self) -> None:
        """Close every tool (class-based tools release what they loaded)."""
        for item in self._tools.values():
            item.close()

    def __enter__(self) -> Toolset:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Toolset({', '.join(self._tools)})"
