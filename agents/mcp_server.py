"""heron's tools and an agent, served over MCP to any client (``heron mcp serve``).

Served: ``python`` (the sandbox, with all its limits), ``retrieve`` over a collection (passages with
their citations), ``ingest`` (workspace files into that collection), ``generate_image`` when an
image model is configured, and ``run_agent`` (a goal in; the cited answer, the run's status and id
out). Each tool's annotations say whether it only reads. Long calls send progress notifications
(the tool's own, or a heartbeat each second); a client's cancellation stops the call, and a running
sandbox cell or agent run with it.

One server holds one workspace and one tool session (the sandbox keeps its variables between
calls, for every client of the server). Over HTTP it binds 127.0.0.1 by default, refuses requests
whose ``Origin`` is not the server's own (DNS rebinding), and needs a bearer token on any other
address.
"""

from __future__ import annotations

import base64
import contextlib
import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from heron.agents.approval import deny_all
from heron.agents.http_gate import LOOPBACK_HOSTS, LOOPBACK_ORIGINS, RequestGate
from heron.config import Settings
from heron.errors import HeronError, ModelRetry, UsageError
from heron.status import calls_in_doubt
from heron.tools import Tool, ToolContext, ToolResult, calculator, list_files, python_tool, read_file, tool
from heron.tools.context import CallScope

if TYPE_CHECKING:
    from heron.llm.base import LLM
    from heron.memory.vector_memory import VectorMemory

AGENT_RISKY_TOOLS = ("python",)  # what --agent-allow may give the served agent
HEARTBEAT_SECONDS = 1.0
_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
}


@dataclass(frozen=True)
class ServedTool:
    """A heron tool as an MCP client sees it: its annotations, and how a cancellation stops it."""

    tool: Tool
    read_only: bool
    destructive: bool
    stop: Callable[[], None] | None = None


class HeronMCPServer:
    """The MCP server behind ``heron mcp serve``: ``serve_stdio()``, ``http_app(...)``, ``serve_http(...)``.

    ``llm`` is the agent tool's model (default: loaded from the settings on its first call);
    ``agent_allow`` names the risky tools the served agent may use without asking (nobody can be
    asked over MCP: without them it has only tools that read).
    """

    def __init__(
        self,
        settings: Settings,
        workspace: Path,
        collection: str | None = None,
        llm: LLM | None = None,
        agent_allow: Sequence[str] = (),
    ) -> None:
        from heron.memory.vector_memory import VectorMemory

        self.settings = settings
        self.context: ToolContext[Any] = ToolContext(workspace, settings)
        self.memory: VectorMemory = VectorMemory(settings, collection)
        unknown = sorted(set(agent_allow) - set(AGENT_RISKY_TOOLS))
        if unknown:
            raise UsageError(
                f"--agent-allow {', '.join(unknown)}: the served agent has no such risky tool",
                f"name one of: {', '.join(AGENT_RISKY_TOOLS)} (its other tools only read and never ask)",
            )
        self.agent_allow = tuple(agent_allow)
        self._llm = llm
        self._owns_llm = llm is None
        self._agent_lock = threading.Lock()  # one agent run at a time: one model context
        self._running_agents: set[Any] = set()
        self.tools = {served.tool.name: served for served in self._served_tools()}
        self._turns = {name: threading.Lock() for name, served in self.tools.items() if served.stop}
        self._running: dict[str, object | None] = {}  # the call each stoppable tool is running

    # -- what is served ---------------------------------------------------------------------------

    def _served_tools(self) -> list[ServedTool]:
        from heron.memory.tools import memory_tools

        retrieve = memory_tools(self.memory)[0]
        served = [
            ServedTool(python_tool, read_only=False, destructive=True, stop=self._stop_cell),
            ServedTool(retrieve, read_only=True, destructive=False),
            ServedTool(self._ingest_tool(), read_only=False, destructive=False),
            ServedTool(
                self._agent_tool(),
                read_only=False,
                destructive=bool(self.agent_allow),
                stop=self._stop_agents,
            ),
        ]
        if self.settings.image.model_path is not None:
            from heron.tools.image import generate_image

            served.insert(3, ServedTool(generate_image, read_only=False, destructive=False))
        return served

    def _ingest_tool(self) -> Tool:
        memory = self.memory

        @tool(name="ingest")
        def ingest(paths: list[str], ctx: ToolContext) -> str:
            """Add files or folders of the server's workspace to the collection `retrieve` searches
            (.txt, .md, .html, .pdf, source files). Unchanged files are skipped.

            Args:
                paths: files or folders, relative to the workspace
            """
            from heron.memory.ingest import Ingester

            inside = [f for p in paths for f in _workspace_files(ctx.workspace, p)]
            if not inside:
                raise ModelRetry(f"no files to ingest under {paths!r} in the workspace")
            report = Ingester(memory).ingest(
                inside, progress=lambda done, total, label: ctx.report_progress(done, total, label)
            )
            return report.summary()

        return ingest

    def _agent_tool(self) -> Tool:
        server = self

        @tool(name="run_agent")
        def run_agent(goal: str, ctx: ToolContext) -> ToolResult:
            """Give heron's agent a goal; it searches the documents, computes and answers with citations.
            Returns the answer, the sources it cited, the run's status and id.

            Args:
                goal: what to find out or do, in plain words
            """
            return server._run_agent(goal, ctx)

        return run_agent

    def _run_agent(self, goal: str, ctx: ToolContext[Any]) -> ToolResult:
        from heron.agents.agent import Agent
        from heron.agents.approval import allow_tools, deny_all
        from heron.llm import open_llm

        with self._agent_lock:
            if self._llm is None:
                self._llm = open_llm(self.settings)
            # the served retrieve: one search tool (and its loaded index) for clients and agent runs
            tools: list[Tool] = [self.tools["retrieve"].tool, calculator, read_file, list_files]
            if "python" in self.agent_allow:
                tools.append(python_tool)
            steps = 0

            def on_event(event: Any) -> None:
                nonlocal steps
                if getattr(event, "type", "") == "tool_call":
                    steps += 1
                    ctx.report_progress(steps, 0, f"called {getattr(event, 'tool', 'a tool')}")

            agent = Agent(
                self._llm,
                tools=tools,
                memory=None,
                approve=allow_tools(self.agent_allow, deny_all),
                workspace=ctx.workspace,
                settings=self.settings,
                callbacks=[on_event],
            )
            self._running_agents.add(agent)
            try:
                result = agent.run(goal)
            finally:
                self._running_agents.discard(agent)
                agent.close()
        sources = "\n".join(f"- [{c.id}] {c.source}: {c.text[:200]}" for c in result.citations)
        text = result.answer if result.answered else f"(no answer: {result.note})"
        doubt = calls_in_doubt(result.failed_calls, result.denied_calls)
        lines = [text, f"\nstatus: {result.describe_status()}{doubt}; run id: {result.run_id}"]
        if sources:
            lines.insert(1, f"\nSources:\n{sources}")
        return ToolResult(text="\n".join(lines), is_error=not result.succeeded)

    def _stop_cell(self) -> None:
        sandbox = self.context.started_sandbox
        if sandbox is not None:
            sandbox.interrupt("the MCP client cancelled the call")

    def _stop_agents(self) -> None:
        for agent in list(self._running_agents):
            agent.cancel()

    # -- the protocol -----------------------------------------------------------------------------

    def server(self) -> Any:
        """The SDK's low-level ``Server`` with heron's handlers."""
        from mcp.server.lowlevel import Server

        import heron

        return Server(
            "heron",
            version=heron.__version__,
            instructions="heron's local tools: a Python sandbox, retrieval with citations, ingestion, "
            "an agent.",
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            get_tool_input_schema=lambda name: (
                self.tools[name].tool.json_schema() if name in self.tools else None
            ),
        )

    async def _list_tools(self, ctx: Any, params: Any) -> Any:
        import mcp_types as types

        listed = []
        for served in self.tools.values():
            annotations = types.ToolAnnotations(
                read_only_hint=served.read_only,
                destructive_hint=served.destructive,
                idempotent_hint=served.read_only,
                open_world_hint=False,
            )
            listed.append(
                types.Tool(
                    name=served.tool.name,
                    description=served.tool.description,
                    input_schema=served.tool.json_schema(),
                    annotations=annotations,
                )
            )
        return types.ListToolsResult(tools=listed)

    async def _call_tool(self, ctx: Any, params: Any) -> Any:
        import anyio
        import anyio.from_thread
        import anyio.to_thread

        served = self.tools.get(params.name)
        if served is None:
            return _error(f"there is no tool named `{params.name}`; tools: {', '.join(self.tools)}")
        # Progress values must grow: the tool's own (if it reports), else seconds running (heartbeat).
        last = {"value": 0.0, "own": False}

        def progress(done: int, total: int, label: str) -> None:  # in the tool's thread
            if done <= last["value"] and last["own"]:
                return
            last.update(value=float(done), own=True)
            # a thread the tool started itself has no way back to the loop: no report from it
            with contextlib.suppress(RuntimeError):
                anyio.from_thread.run(
                    ctx.session.report_progress, float(done), float(total) or None, label or None
                )

        me, cancelled = object(), threading.Event()

        def invoke() -> ToolResult:
            if served.stop is None:
                with self.context.progress_to(progress):
                    return served.tool.invoke(params.arguments or {}, self.context)
            # a tool a cancellation can stop runs one call at a time, so a stop hits only its own call
            with self._turns[served.tool.name]:
                if cancelled.is_set():
                    return ToolResult.error("cancelled by the client before it ran")
                self._running[served.tool.name] = me
                # the scope's cancel reaches a cell about to start, which ``stop`` would not find yet
                scope = CallScope(
                    "mcp", params.name, lambda event: None, deny_all, cancelled=cancelled.is_set
                )
                try:
                    with self.context.calling(scope), self.context.progress_to(progress):
                        return served.tool.invoke(params.arguments or {}, self.context)
                finally:
                    self._running[served.tool.name] = None

        async def heartbeat() -> None:
            started = time.monotonic()
            while True:
                await anyio.sleep(HEARTBEAT_SECONDS)
                if not last["own"]:
                    elapsed = time.monotonic() - started
                    last["value"] = elapsed
                    with contextlib.suppress(Exception):  # a client that went away is not our error
                        await ctx.session.report_progress(
                            elapsed, None, f"{served.tool.name}: running for {elapsed:.0f} s"
                        )

        outcome: list[ToolResult | Exception] = []

        async def run_tool() -> None:
            try:
                outcome.append(await anyio.to_thread.run_sync(invoke, abandon_on_cancel=True))
            except Exception as exc:
                outcome.append(exc)
            group.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as group:
                group.start_soon(run_tool)
                await heartbeat()
        except anyio.get_cancelled_exc_class():
            cancelled.set()
            if served.stop is not None and self._running.get(served.tool.name) is me:
                served.stop()
            raise
        result = outcome[0]
        if isinstance(result, ModelRetry):
            return _error(str(result))
        if isinstance(result, HeronError):
            return _error(f"{params.name} failed: {result}")
        if isinstance(result, Exception):
            return _error(f"{params.name} failed: {type(result).__name__}: {result}")
        return self._call_result(result)

    def _call_result(self, result: ToolResult) -> Any:
        import mcp_types as types

        content: list[Any] = [types.TextContent(type="text", text=result.text)]
        citations = []
        for artifact in result.artifacts:
            if artifact.kind == "image" and artifact.path is not None:
                path = self.context.workspace / artifact.path
                if path.is_file() and path.suffix.lower() in _MIME:
                    data = base64.b64encode(path.read_bytes()).decode()
                    content.append(
                        types.ImageContent(type="image", data=data, mime_type=_MIME[path.suffix.lower()])
                    )
            elif artifact.kind == "citation":
                citations.append({"source": artifact.uri, **artifact.metadata})
        structured = {"citations": citations} if citations else None
        return types.CallToolResult(content=content, structured_content=structured, is_error=result.is_error)

    # -- transports -------------------------------------------------------------------------------

    def serve_stdio(self) -> None:
        """Serve one client over this process's stdin and stdout until it disconnects."""
        import anyio
        from mcp.server.stdio import stdio_server

        server = self.server()

        async def serve() -> None:
            async with stdio_server() as (read_stream, write_stream):
                await server.run(read_stream, write_stream, server.create_initialization_options())

        anyio.run(serve)

    def http_app(self, host: str = "127.0.0.1", token: str | None = None, origins: Sequence[str] = ()) -> Any:
        """The streamable-HTTP app (ASGI) at ``/mcp``, behind the Origin and token checks."""
        from mcp.server.transport_security import TransportSecuritySettings

        if host not in LOOPBACK_HOSTS and not token:
            raise UsageError(
                f"serving MCP on {host} (not this machine's loopback) needs a token",
                "pass --token SECRET (or set HERON_MCP_TOKEN), or serve on 127.0.0.1",
            )
        # The SDK's own check (Host and Origin) where the names are known: on loopback.
        security = TransportSecuritySettings(
            enable_dns_rebinding_protection=host in LOOPBACK_HOSTS,
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=[*LOOPBACK_ORIGINS, *origins],
        )
        app = self.server().streamable_http_app(
            streamable_http_path="/mcp", transport_security=security, host=host
        )
        return RequestGate(app, token=token, origins=tuple(origins))

    def serve_http(
        self, host: str = "127.0.0.1", port: int = 8765, token: str | None = None, origins: Sequence[str] = ()
    ) -> None:
        """Serve over streamable HTTP at ``http://HOST:PORT/mcp`` until interrupted."""
        import uvicorn

        app = self.http_app(host, token, origins)
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()

    def close(self) -> None:
        self._stop_agents()
        self.context.close()
        for served in self.tools.values():
            served.tool.close()
        self.memory.close()
        if self._owns_llm and self._llm is not None:
            self._llm.close()
            self._llm = None

    def __enter__(self) -> HeronMCPServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _error(text: str) -> Any:
    import mcp_types as types

    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def _workspace_files(workspace: Path, path: str) -> list[Path]:
    """The regular files at ``path`` (a file, or a folder walked) inside the workspace. Symbolic links
    are never followed: a link the sandboxed code made cannot show the server's other files."""
    root = workspace.resolve()
    start = root / path
    if start.is_symlink() or not start.resolve().is_relative_to(root):
        raise ModelRetry(f"{path!r} is outside the server's workspace (or a link); give a path inside it")
    if start.is_file():
        return [start]
    found = []
    for folder, dirs, files in os.walk(start, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not (Path(folder) / d).is_symlink())
        found += [Path(folder) / f for f in sorted(files) if not (Path(folder) / f).is_symlink()]
    return [f for f in found if f.is_file()]
