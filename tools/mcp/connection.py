"""``MCPConnection``: one MCP server, reached from heron's synchronous tool calls.

The official SDK (``mcp``) is asynchronous and its sessions live in the task that opened them, so a
connection owns a private event loop in a daemon thread: one task there holds the session open, and
each call is a coroutine submitted to that loop. The server starts on first use, a call that runs
past its time is cancelled (the SDK tells the server), and a stdio server that dies is reported
with what it printed last and started again, once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any

from heron.config import MCPServerSettings
from heron.errors import MCPServerError

log = logging.getLogger(__name__)

ProgressFn = Callable[[float, float | None, str | None], None]
CONFIG_HINT = (
    "check [mcp.servers.{name}] in heron.toml (or the task file's `mcp:`); `heron doctor` starts each one"
)
_STDERR_TAIL = 600  # characters of a dead server's stderr shown in its error


class ServerCrashed(Exception):
    """The server process ended (or the connection dropped) while a call was running."""


class MCPConnection:
    """A session with one MCP server: ``list_tools()``, ``call(...)``, ``close()``.

    >>> with MCPConnection("time", MCPServerSettings(command="mcp-server-time")) as server:
    ...     [t.name for t in server.list_tools()]
    ['get_current_time', 'convert_time']
    """

    def __init__(self, name: str, settings: MCPServerSettings, max_restarts: int = 1) -> None:
        self.name = name
        self.settings = settings
        self.max_restarts = max_restarts
        self.restarts = 0
        self._lock = threading.Lock()  # start, restart and close one at a time
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Any = None  # mcp.Client, entered
        self._holder: asyncio.Future[None] | None = None
        self._closing: asyncio.Event | None = None
        self._stderr: IO[str] | None = None
        self._tools: list[Any] | None = None
        self._closed = False
        self._given_up: str | None = None  # why the server is not started again

    # -- life cycle ---------------------------------------------------------------------------

    def list_tools(self) -> list[Any]:
        """The server's tools (``mcp_types.Tool``), starting it on first use."""
        self._ensure_started()
        assert self._tools is not None
        return list(self._tools)

    def close(self) -> None:
        """End the session and stop the server process (stdio). Safe to call twice."""
        with self._lock:
            self._closed = True
            self._disconnect()
            if self._loop is not None:
                self._loop.call_soon_threadsafe(self._loop.stop)
                if self._thread is not None:
                    self._thread.join(timeout=10)
                self._loop.close()
                self._loop = None
                self._thread = None

    def __enter__(self) -> MCPConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._holder is not None and not self._holder.done()

    def _ensure_started(self) -> None:
        with self._lock:
            if self._closed:
                raise MCPServerError(f"the connection to MCP server `{self.name}` was closed")
            if self._given_up is not None:
                raise MCPServerError(self._given_up, CONFIG_HINT.format(name=self.name))
            if not self.running:
                self._connect()

    def _connect(self) -> None:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=f"heron-mcp-{self.name}", daemon=True
            )
            self._thread.start()
        ready: Future[list[Any]] = Future()
        self._holder = asyncio.run_coroutine_threadsafe(self._hold(ready), self._loop)  # type: ignore[assignment]
        try:
            self._tools = ready.result(timeout=self.settings.start_seconds)
        except FutureTimeout:
            self._disconnect()
            raise MCPServerError(
                f"MCP server `{self.name}` ({self.settings.describe()}) did not answer within "
                f"{self.settings.start_seconds:g} s{self._stderr_note()}",
                CONFIG_HINT.format(name=self.name) + "; or raise its start_seconds",
            ) from None
        except MCPServerError:
            self._disconnect()
            raise

    async def _hold(self, ready: Future[list[Any]]) -> None:
        """Open the session, list the tools, then keep the session open until told to close."""
        from mcp import Client

        self._closing = asyncio.Event()
        try:
            async with Client(
                self._transport(), read_timeout_seconds=self.settings.timeout_seconds
            ) as client:
                tools = await _all_tools(client)
                self._client = client
                ready.set_result(tools)
                await self._closing.wait()
        except BaseException as exc:  # a failed start, or the server went away while held
            if not ready.done():
                ready.set_exception(self._start_error(exc))
            elif not isinstance(exc, asyncio.CancelledError):
                log.info("MCP server %s: connection ended: %s", self.name, exc)
        finally:
            self._client = None

    def _transport(self) -> Any:
        spec = self.settings
        if spec.kind == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            assert spec.command is not None
            self._stderr = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115
            params = StdioServerParameters(
                command=spec.command, args=spec.args, env=spec.env or None, cwd=spec.cwd
            )
            return stdio_client(params, errlog=self._stderr)
        assert spec.url is not None
        if spec.kind == "sse":
            from mcp.client.sse import sse_client

            return sse_client(spec.url, headers=spec.headers or None)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        return streamable_http_client(
            spec.url, http_client=create_mcp_http_client(headers=spec.headers or None)
        )

    def _start_error(self, exc: BaseException) -> MCPServerError:
        cause = _innermost(exc)
        return MCPServerError(
            f"MCP server `{self.name}` ({self.settings.describe()}) could not be started or listed: "
            f"{type(cause).__name__}: {cause}{self._stderr_note()}",
            CONFIG_HINT.format(name=self.name),
        )

    def _disconnect(self) -> None:
        holder, loop, closing = self._holder, self._loop, self._closing
        self._holder = None
        if holder is not None and loop is not None and not holder.done():
            if closing is not None:
                loop.call_soon_threadsafe(closing.set)
            try:
                holder.result(timeout=10)  # type: ignore[call-arg]
            except Exception:
                holder.cancel()
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    # -- calls --------------------------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any], progress: ProgressFn | None = None) -> Any:
        """Call ``tool`` and return its ``CallToolResult``.

        Raises ``ServerCrashed`` when the server went away during the call (it has then been started
        again if restarts were left), ``TimeoutError`` past the server's ``timeout_seconds``,
        ``mcp.shared.exceptions.MCPError`` when the server refused the request."""
        self._ensure_started()
        loop, client = self._loop, self._client
        assert loop is not None and client is not None
        limit = self.settings.timeout_seconds

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            if progress is not None:
                progress(done, total, message)

        future = asyncio.run_coroutine_threadsafe(
            client.call_tool(tool, arguments, read_timeout_seconds=limit, progress_callback=on_progress), loop
        )
        try:
            return future.result(timeout=limit + 5)
        except FutureTimeout:
            future.cancel()
            raise TimeoutError(f"no answer within {limit:g} s") from None
        except Exception as exc:
            if _is_timeout(exc):
                raise TimeoutError(f"no answer within {limit:g} s") from exc
            if self.running and not _is_connection_loss(exc):
                raise
            raise ServerCrashed(self._after_crash(exc)) from exc

    def _after_crash(self, exc: BaseException) -> str:
        """Describe the lost server and start it again if a restart is left."""
        note = self._stderr_note()
        with self._lock:
            self._disconnect()
        what = f"MCP server `{self.name}` stopped during the call ({type(_innermost(exc)).__name__}){note}"
        if self.restarts >= self.max_restarts:
            self._given_up = (
                f"{what}. It was already restarted {self.restarts} time(s) and is not started again."
            )
            return self._given_up
        self.restarts += 1
        try:
            self._ensure_started()
        except MCPServerError as again:
            return f"{what}. Starting it again failed: {again.problem}"
        return f"{what}. heron started it again; the call was not finished and may be made again."

    def _stderr_note(self) -> str:
        if self._stderr is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            self._stderr.flush()
            self._stderr.seek(0)
            text = self._stderr.read().strip()
            if text:
                return (
                    f"; it printed: ...{text[-_STDERR_TAIL:]}"
                    if len(text) > _STDERR_TAIL
                    else f"; it printed: {text}"
                )
        return ""


async def _all_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor: str | None = None
    for _ in range(100):  # a paginator that never ends cannot hang the start
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            break
    return tools


def _innermost(exc: BaseException) -> BaseException:
    """The first leaf of an exception group (anyio wraps transport failures in groups)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _is_connection_loss(exc: BaseException) -> bool:
    import anyio
    from mcp.shared.exceptions import MCPError

    leaf = _innermost(exc)
    if isinstance(leaf, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, EOFError)):
        return True
    return isinstance(leaf, MCPError) and "closed" in str(leaf).lower()


def _is_timeout(exc: BaseException) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import REQUEST_TIMEOUT

    leaf = _innermost(exc)
    return isinstance(leaf, MCPError) and leaf.code == REQUEST_TIMEOUT
