"""``MCPToolset``: an MCP server's tools as heron tools.

Each tool keeps the server's input schema (the model's arguments are decoded under a grammar built
from it), its description (the server's words, shown to the model as data: cleaned of control
characters, cut to a length and marked with the server's name) and gets a risk level from the
server's annotations and the user's settings only, never from the description: a tool the server
marks read-only runs without asking (unless ``trust_read_only`` is off), one the user lists under
``allow`` too, every other one asks first.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import json
import re
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any

from heron.config import MCPServerSettings
from heron.errors import MCPServerError, UsageError
from heron.llm.schema import grammar_for
from heron.tools.base import RESERVED_TOOL_NAMES, Tool, _without_titles
from heron.tools.context import ToolContext
from heron.tools.json_schema_args import args_model_from_json_schema
from heron.tools.mcp.connection import MCPConnection, ServerCrashed
from heron.tools.results import Artifact, Risk, ToolResult

DESCRIPTION_CHARS = 1000  # the most of a server's description shown to the model
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_UNUSABLE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]")
# JSON-schema keywords llama.cpp's grammar converter has no form for.
_NO_GRAMMAR_FORM = ("not", "if", "then", "else", "dependentSchemas", "dependencies", "unevaluatedProperties")
_IMAGE_SUFFIX = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif", "image/webp": ".webp"}


class MCPToolset:
    """The tools of one MCP server. The server starts when the tools are first asked for.

    >>> with MCPToolset("time", MCPServerSettings(command="mcp-server-time")) as time_tools:
    ...     agent = Agent(tools=time_tools.tools())

    ``skipped`` says which of the server's tools heron left out and why (a name the agent reserves, a
    schema with no grammar form).
    """

    def __init__(self, name: str, settings: MCPServerSettings) -> None:
        self.name = name
        self.settings = settings
        self.connection = MCPConnection(name, settings)
        self.skipped: list[str] = []
        self._tools: list[MCPTool] | None = None

    def tools(self) -> list[MCPTool]:
        """The server's usable tools as heron tools (starts the server; raises MCPServerError)."""
        if self._tools is None:
            made: list[MCPTool] = []
            for remote in self.connection.list_tools():
                try:
                    made.append(self._tool(remote))
                except UsageError as exc:
                    self.skipped.append(str(exc.problem))
                except Exception as exc:  # a tool heron cannot describe costs only that tool
                    self.skipped.append(
                        f"MCP server `{self.name}`: tool `{remote.name}` cannot be offered: "
                        f"{type(exc).__name__}: {exc}"
                    )
            self._tools = made
        return list(self._tools)

    def _tool(self, remote: Any) -> MCPTool:
        name = self.settings.prefix + _UNUSABLE_NAME_CHARS.sub("_", remote.name)
        if name in RESERVED_TOOL_NAMES:
            raise UsageError(
                f"MCP server `{self.name}`: tool `{remote.name}` is named like a word the agent uses itself",
                f"set a prefix: [mcp.servers.{self.name}] prefix = '{self.name}_'",
            )
        schema = _without_titles(dict(remote.input_schema or {"type": "object", "properties": {}}))
        schema.pop("$schema", None)
        check_grammar_form(self.name, remote.name, schema)
        annotations = remote.annotations
        read_only = bool(annotations is not None and annotations.read_only_hint)
        allowed = remote.name in self.settings.allow or (read_only and self.settings.trust_read_only)
        return MCPTool(
            toolset=self,
            remote_name=remote.name,
            name=name,
            description=untrusted_description(self.name, remote.description or remote.title or remote.name),
            args_model=args_model_from_json_schema(name, schema),
            function=_unused,
            risk=Risk.LOW if allowed else Risk.HIGH,
            schema=schema,
            concurrent=read_only,
        )

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> MCPToolset:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MCPToolset({self.name!r}, {self.settings.describe()!r})"


class MCPTool(Tool):
    """One tool of an MCP server: arguments validated and sent as given, the result turned into text
    and artifacts; the server's errors (an error result, a refused request, a crash, a timeout) come
    back as error results the model can read."""

    def __init__(self, *, toolset: MCPToolset, remote_name: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.toolset = toolset
        self.remote_name = remote_name

    def invoke(self, args: Any, ctx: ToolContext[Any]) -> ToolResult:
        validated = self.validate_args(args)
        arguments = validated.model_dump(by_alias=True, exclude_unset=True)
        caller = contextvars.copy_context()  # progress goes to this call's watcher, from the MCP thread

        def progress(done: float, total: float | None, message: str | None) -> None:
            caller.copy().run(ctx.report_progress, int(done), int(total or 0), message or "")

        server = f"MCP server `{self.toolset.name}`"
        try:
            result = self.toolset.connection.call(self.remote_name, arguments, progress)
        except ServerCrashed as exc:
            return ToolResult.error(str(exc))
        except TimeoutError as exc:
            return ToolResult.error(f"{server}: `{self.remote_name}` was stopped: {exc}")
        except MCPServerError as exc:
            return ToolResult.error(exc.problem)
        except Exception as exc:  # the server refused the request (an MCPError), or broke the protocol
            return ToolResult.error(f"{server} refused the call of `{self.remote_name}`: {exc}")
        try:
            return call_result(result, ctx, self.name)
        except (OSError, ValueError) as exc:  # undecodable image data, a workspace that cannot be written
            return ToolResult.error(f"{server}: the result of `{self.remote_name}` could not be read: {exc}")

    async def ainvoke(self, args: Any, ctx: ToolContext[Any]) -> ToolResult:
        return await asyncio.to_thread(self.invoke, args, ctx)


def _unused(**_: Any) -> None:  # MCPTool.invoke calls the server itself
    raise AssertionError("MCPTool calls its server in invoke")


def call_result(result: Any, ctx: ToolContext[Any], tool_name: str) -> ToolResult:
    """An MCP ``CallToolResult`` as a ToolResult: text blocks joined, images saved in the workspace
    as artifacts, embedded text resources inlined, structured content as JSON when there is no text."""
    texts: list[str] = []
    artifacts: list[Artifact] = []
    for block in result.content or []:
        kind = getattr(block, "type", "")
        if kind == "text":
            texts.append(block.text)
        elif kind == "image":
            path = _save_image(block, ctx, tool_name)
            artifacts.append(Artifact(kind="image", path=path, metadata={"mime_type": block.mime_type}))
            texts.append(f"[image saved as {path}]")
        elif kind == "resource":
            resource = block.resource
            text = getattr(resource, "text", None)
            texts.append(text if text is not None else f"[binary resource {resource.uri}]")
            artifacts.append(Artifact(kind="file", uri=str(resource.uri)))
        elif kind == "resource_link":
            texts.append(f"[resource {block.uri}]")
            artifacts.append(Artifact(kind="file", uri=str(block.uri)))
        else:
            texts.append(f"[{kind or 'unknown'} content]")
    structured = getattr(result, "structured_content", None)
    if structured is not None and not texts:
        texts.append(json.dumps(structured, ensure_ascii=False))
    text = "\n".join(texts) or "(no output)"
    return ToolResult(text=text, artifacts=artifacts, is_error=bool(result.is_error))


def _save_image(block: Any, ctx: ToolContext[Any], tool_name: str) -> Path:
    folder = Path("mcp") / tool_name
    (ctx.workspace / folder).mkdir(parents=True, exist_ok=True)
    relative = folder / f"{uuid.uuid4().hex[:12]}{_IMAGE_SUFFIX.get(block.mime_type, '.bin')}"
    (ctx.workspace / relative).write_bytes(base64.b64decode(block.data))
    return relative


def untrusted_description(server: str, text: str) -> str:
    """A server's description as the model sees it: one paragraph, no control characters, at most
    ``DESCRIPTION_CHARS`` characters, marked as coming from the server."""
    clean = " ".join(_CONTROL.sub(" ", text).split())
    if len(clean) > DESCRIPTION_CHARS:
        clean = clean[: DESCRIPTION_CHARS - 3] + "..."
    return f"(MCP server {server}) {clean}"


def check_grammar_form(server: str, tool: str, schema: dict[str, Any]) -> None:
    """Raise UsageError naming the tool and the part of its input schema that has no grammar form."""
    part = _part_without_grammar(schema, "inputSchema")
    if part is None:
        try:
            grammar_for(schema)
            return
        except UsageError as exc:
            detail = exc.problem
    else:
        detail = f"`{part}` has no grammar form"
    raise UsageError(
        f"MCP server `{server}`: tool `{tool}` cannot be offered to the model: {detail}",
        "ask the server's authors for a plainer schema, or use another tool",
    )


def _part_without_grammar(node: Any, path: str, names: bool = False) -> str | None:
    """The path of the first keyword without a grammar form; ``names``: the keys of ``node`` are
    property names (under ``properties``, ``$defs``), not keywords."""
    if isinstance(node, dict):
        for key, value in node.items():
            if not names and key in _NO_GRAMMAR_FORM:
                return f"{path}.{key}"
            if not names and key == "$ref" and isinstance(value, str) and not value.startswith("#"):
                return f"{path}.$ref ({value})"
            holds_names = not names and key in ("properties", "$defs", "definitions", "patternProperties")
            found = _part_without_grammar(value, f"{path}.{key}", names=holds_names)
            if found:
                return found
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found = _part_without_grammar(value, f"{path}[{i}]")
            if found:
                return found
    return None


class MCPServers:
    """Several configured servers' tools together (``heron chat``, task files): a server that does not
    start, or a tool whose name another server's tool already took, is left out and said in
    ``problems`` instead of stopping everything. Closing it stops every server."""

    def __init__(self, servers: dict[str, MCPServerSettings]) -> None:
        self.toolsets = [MCPToolset(name, spec) for name, spec in servers.items()]
        self.failed: list[str] = []  # servers that did not start, why
        self.problems: list[str] = []  # failures and tools left out, in the order they were found
        self._tools: list[MCPTool] | None = None

    def tools(self, taken: set[str] | frozenset[str] = frozenset()) -> list[MCPTool]:
        """Every usable tool of every server; ``taken``: names already used by other tools."""
        if self._tools is None:
            names = set(taken)
            self._tools = []
            for toolset in self.toolsets:
                try:
                    found = toolset.tools()
                except MCPServerError as exc:
                    self.failed.append(exc.problem)
                    self.problems.append(exc.problem)
                    continue
                self.problems.extend(toolset.skipped)
                for item in found:
                    if item.name in names:
                        self.problems.append(
                            f"MCP server `{toolset.name}`: tool `{item.name}` left out, another tool has "
                            f"that name (set [mcp.servers.{toolset.name}] prefix = '{toolset.name}_')"
                        )
                        continue
                    names.add(item.name)
                    self._tools.append(item)
        return list(self._tools)

    def close(self) -> None:
        for toolset in self.toolsets:
            toolset.close()

    def __enter__(self) -> MCPServers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
