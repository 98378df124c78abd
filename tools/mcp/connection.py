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
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TextIO, cast

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


@dataclass
class _Session:
    """One open session: the task holding it, the entered client, the server's stderr file."""

    holder: Future[None]
    closing: asyncio.Event | None = None
    client: Any = None  # mcp.Client, entered
    stderr: IO[str] | None = None

    @property
    def alive(self) -> bool:
        return not self.holder.done()


def server_command(command: str) -> str:
    """A server's program: a path as given; a bare name found on PATH, else beside the Python that runs
    heron (its virtualenv's ``bin``, where ``pip install mcp-server-time`` puts the program)."""
    if os.sep in command or (os.altsep and os.altsep in command):
        return command
    return shutil.which(command) or shutil.which(command, path=str(Path(sys.executable).parent)) or command


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
        self._session: _Session | None = None
        self._tools: list[Any] | None = None
        self._closed = False
        self._given_up: str | None = None  # why the server is not started again

    # -- life cycle ---------------------------------------------------------------------------

    def list_tools(self) -> list[Any]:
        """The server's tools (``mcp_types.Tool``), starting it on first use."""
        self._current()
        assert self._tools is not None
        return list(self._tools)

    def close(self) -> None:
        """End the session, stop the server process (stdio) and the loop thread. Safe to call twice."""
        with self._lock:
            self._closed = True
            self._end(self._session)
            self._session = None
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None:
            return
        with contextlib.suppress(Exception):  # whatever is left on the loop is cancelled, then it stops
            asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            thread.join(timeout=10)
            if thread.is_alive():  # a server that will not let go: leave the daemon thread to exit
                log.warning("MCP server %s: its loop did not stop", self.name)
                return
        loop.close()

    def __enter__(self) -> MCPConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._session is not None and self._session.alive

    def _current(self) -> _Session:
        """The open session, started now if there is none (raises MCPServerError)."""
        with self._lock:
            if self._closed:
                raise MCPServerError(f"the connection to MCP server `{self.name}` was closed")
            if self._given_up is not None:
                raise MCPServerError(self._given_up, CONFIG_HINT.format(name=self.name))
            if self._session is None or not self._session.alive:
                self._end(self._session)
                self._session = self._start()
            return self._session

    def _start(self) -> _Session:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(
                target=self._loop.run_forever, name=f"heron-mcp-{self.name}", daemon=True
            )
            self._thread.start()
        ready: Future[list[Any]] = Future()
        stderr = (
            tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")  # noqa: SIM115 - closed by _end
            if self.settings.kind == "stdio"
            else None
        )
        session = _Session(holder=Future(), stderr=stderr)
        session.holder = asyncio.run_coroutine_threadsafe(self._hold(session, ready), self._loop)
        try:
            self._tools = ready.result(timeout=self.settings.start_seconds)
        except FutureTimeout:
            note = _stderr_note(session)
            self._end(session)
            raise MCPServerError(
                f"MCP server `{self.name}` ({self.settings.describe()}) did not answer within "
                f"{self.settings.start_seconds:g} s{note}",
                CONFIG_HINT.format(name=self.name) + "; or raise its start_seconds",
            ) from None
        except MCPServerError:
            self._end(session)
            raise
        return session

    async def _hold(self, session: _Session, ready: Future[list[Any]]) -> None:
        """Open the session, list the tools, then keep the session open until told to close."""
        from mcp import Client

        session.closing = asyncio.Event()
        try:
            async with contextlib.AsyncExitStack() as stack:
                transport = await self._transport(session, stack)
                client = await stack.enter_async_context(
                    Client(transport, read_timeout_seconds=self.settings.timeout_seconds)
                )
                tools = await _all_tools(client)
                session.client = client
                ready.set_result(tools)
                await session.closing.wait()
        except BaseException as exc:  # a failed start, or the server went away while held
            if not ready.done():
                ready.set_exception(self._start_error(exc, session))
            elif not isinstance(exc, asyncio.CancelledError):
                log.info("MCP server %s: connection ended: %s", self.name, exc)
        finally:
            session.client = None

    async def _transport(self, session: _Session, stack: contextlib.AsyncExitStack) -> Any:
        spec = self.settings
        if spec.kind == "stdio":
            from mcp.client.stdio import StdioServerParameters, stdio_client

            assert spec.command is not None and session.stderr is not None
            params = StdioServerParameters(
                command=server_command(spec.command), args=spec.args, env=spec.env or None, cwd=spec.cwd
            )
            return stdio_client(params, errlog=cast(TextIO, session.stderr))
        assert spec.url is not None
        if spec.kind == "sse":
            from mcp.client.sse import sse_client

            return sse_client(spec.url, headers=spec.headers or None)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        # the transport leaves a client it was given open: this session owns and closes it
        http = await stack.enter_async_context(create_mcp_http_client(headers=spec.headers or None))
        return streamable_http_client(spec.url, http_client=http)

    def _start_error(self, exc: BaseException, session: _Session) -> MCPServerError:
        cause = _innermost(exc)
        return MCPServerError(
            f"MCP server `{self.name}` ({self.settings.describe()}) could not be started or listed: "
            f"{type(cause).__name__}: {cause}{_stderr_note(session)}",
            CONFIG_HINT.format(name=self.name),
        )

    def _end(self, session: _Session | None) -> None:
        """Close ``session`` (its process stops with it) and release its stderr file."""
        if session is None:
            return
        loop = self._loop
        if session.alive and loop is not None:
            if session.closing is not None:
                loop.call_soon_threadsafe(session.closing.set)
            try:
                session.holder.result(timeout=10)
            except Exception:
                session.holder.cancel()
        if session.stderr is not None:
            session.stderr.close()
            session.stderr = None

    # -- calls --------------------------------------------------------------------------------

    def call(self, tool: str, arguments: dict[str, Any], progress: ProgressFn | None = None) -> Any:
        """Call ``tool`` and return its ``CallToolResult``.

        Raises ``ServerCrashed`` when the server went away during the call (it has then been started
        again if restarts were left), ``TimeoutError`` past the server's ``timeout_seconds``,
        ``mcp.shared.exceptions.MCPError`` when the server refused the request."""
        session = self._current()
        loop, client = self._loop, session.client
        if loop is None or client is None:  # closed, or lost, in the instant since
            raise ServerCrashed(self._after_crash(session, EOFError("the session ended")))
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
            if session.alive and not _is_connection_loss(exc):
                raise
            raise ServerCrashed(self._after_crash(session, exc)) from exc

    def _after_crash(self, session: _Session, exc: BaseException) -> str:
        """Describe the lost server and start it again if a restart is left (once, however many
        calls saw the same session end)."""
        what = (
            f"MCP server `{self.name}` stopped during the call ({type(_innermost(exc)).__name__})"
            f"{_stderr_note(session)}"
        )
        with self._lock:
            if self._session is session:  # the first call to see it go: restart (or give up)
                self._end(session)
                self._session = None
                if self.restarts >= self.max_restarts:
                    self._given_up = (
                        f"{what}. It was already restarted {self.restarts} time(s) and is not started again."
                    )
                else:
                    self.restarts += 1
            else:
                self._end(session)
            given_up = self._given_up
        if given_up is not None:
            return given_up
        try:
            self._current()
        except MCPServerError as again:
            return f"{what}. Starting it again failed: {again.problem}"
        return f"{what}. heron started it again; the call was not finished and may be made again."


def _stderr_note(session: _Session | None) -> str:
    """The end of what the server printed on stderr, for an error message ("" if nothing)."""
    if session is None or session.stderr is None:
        return ""
    with contextlib.suppress(OSError, ValueError):
        session.stderr.flush()
        session.stderr.seek(0)
        text = session.stderr.read().strip()
        if text:
            tail = f"...{text[-_STDERR_TAIL:]}" if len(text) > _STDERR_TAIL else text
            return f"; it printed: {tail}"
    return ""


async def _cancel_the_rest() -> None:
    """Cancel every other task of this loop and wait for them (a call in flight, a stuck session)."""
    others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in others:
        task.cancel()
    await asyncio.gather(*others, return_exceptions=True)
    await asyncio.get_running_loop().shutdown_asyncgens()


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
    from mcp_types import CONNECTION_CLOSED

    leaf = _innermost(exc)
    if isinstance(leaf, (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, EOFError)):
        return True
    return isinstance(leaf, MCPError) and leaf.code == CONNECTION_CLOSED


def _is_timeout(exc: BaseException) -> bool:
    from mcp.shared.exceptions import MCPError
    from mcp_types import REQUEST_TIMEOUT

    leaf = _innermost(exc)
    return isinstance(leaf, MCPError) and leaf.code == REQUEST_TIMEOUT
