"""What calling a tool through MCP costs: a trivial tool (``add(a, b)``) called natively as a heron tool,
and the same tool on an MCP server (tests/tools/mcp_fixture_server.py, the official SDK) through
heron's ``MCPToolset`` over stdio and over streamable HTTP on 127.0.0.1. The SDK's own async client on
the same servers is the peer: the difference is what heron's synchronous bridge adds.

Calls are interleaved round by round (native, stdio, HTTP, SDK stdio, SDK HTTP), so a busy machine
slows every mode alike; median and p95 over N calls each, after 10 warm-up calls.

Usage: ``.venv/bin/python benchmarks/bench_mcp_overhead.py [--calls 200]``; writes
benchmarks/out/bench_mcp_overhead.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from heron.config import MCPServerSettings
from heron.tools import ToolContext, tool
from heron.tools.mcp import MCPToolset

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "tools" / "mcp_fixture_server.py"
OUT = ROOT / "benchmarks" / "out" / "bench_mcp_overhead.json"


@tool
def add(a: int, b: int) -> str:
    """Add two integers."""
    return str(a + b)


class SdkClient:
    """The SDK's own client held open on a private loop: heron's bridge pattern, without heron."""

    def __init__(self, transport: Callable[[], Any]) -> None:
        from mcp import Client

        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.client = Client(transport())
        asyncio.run_coroutine_threadsafe(self.client.__aenter__(), self.loop).result(60)

    def call(self, a: int, b: int) -> str:
        coro = self.client.call_tool("add", {"a": a, "b": b})
        result = asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)
        return str(result.content[0].text)


def _http_server() -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, str(FIXTURE), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(300):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return process, f"http://127.0.0.1:{port}/mcp"
        time.sleep(0.1)
    raise RuntimeError("the fixture server did not listen")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client

    process, url = _http_server()
    stdio_spec = MCPServerSettings(command=sys.executable, args=[str(FIXTURE), "stdio"])
    params = StdioServerParameters(command=sys.executable, args=[str(FIXTURE), "stdio"])
    with (
        tempfile.TemporaryDirectory() as tmp,
        ToolContext(tmp) as ctx,
        MCPToolset("stdio", stdio_spec) as over_stdio,
        MCPToolset("http", MCPServerSettings(url=url)) as over_http,
    ):
        stdio_add = {t.name: t for t in over_stdio.tools()}["add"]
        http_add = {t.name: t for t in over_http.tools()}["add"]
        sdk_stdio = SdkClient(lambda: stdio_client(params))
        sdk_http = SdkClient(lambda: streamable_http_client(url))
        modes: dict[str, Callable[[int], str]] = {
            "native heron tool": lambda i: add.invoke({"a": i, "b": 1}, ctx).text,
            "heron MCPToolset, stdio": lambda i: stdio_add.invoke({"a": i, "b": 1}, ctx).text,
            "heron MCPToolset, HTTP": lambda i: http_add.invoke({"a": i, "b": 1}, ctx).text,
            "SDK client, stdio (peer)": lambda i: sdk_stdio.call(i, 1),
            "SDK client, HTTP (peer)": lambda i: sdk_http.call(i, 1),
        }
        seconds: dict[str, list[float]] = {name: [] for name in modes}
        for i in range(10 + args.calls):
            for name, call in modes.items():
                started = time.perf_counter()
                answer = call(i)
                elapsed = time.perf_counter() - started
                assert answer == str(i + 1), (name, answer)
                if i >= 10:
                    seconds[name].append(elapsed)
    process.terminate()
    rows = {}
    native = statistics.median(seconds["native heron tool"])
    print(f"{'mode':28} {'median ms':>10} {'p95 ms':>9} {'x native':>9}")
    for name, values in seconds.items():
        median = statistics.median(values)
        p95 = statistics.quantiles(values, n=20)[18]
        rows[name] = {"median_ms": median * 1000, "p95_ms": p95 * 1000, "calls": len(values)}
        print(f"{name:28} {median * 1000:10.3f} {p95 * 1000:9.3f} {median / native:9.0f}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps({"machine": platform.processor() or platform.machine(), "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
