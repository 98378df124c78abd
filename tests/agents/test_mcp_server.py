"""`heron mcp serve` driven by real clients: the SDK's own client over stdio and streamable HTTP, and
langchain-mcp-adapters as a second, independent client. Its python tool runs in the real sandbox."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

HERON = str(Path(sys.executable).parent / "heron")
NOTES = "# Grey heron\n\n## Size\n\nThe grey heron stands 84-102 cm tall; its wingspan is 155-195 cm.\n"


def _env() -> dict[str, str]:
    return {**os.environ, "HERON_SANDBOX__WALL_SECONDS": "60"}


def stdio_params(workspace: Path) -> Any:
    from mcp.client.stdio import StdioServerParameters

    return StdioServerParameters(
        command=HERON, args=["mcp", "serve", "--workspace", str(workspace)], env=_env(), cwd=str(Path.cwd())
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(
                f"heron mcp serve exited: {process.stderr.read().decode() if process.stderr else ''}"
            )
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError("heron mcp serve did not listen")


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    port = _free_port()
    workspace = tmp_path / "ws-http"
    process = subprocess.Popen(
        [HERON, "mcp", "serve", "--http", "--port", str(port), "--workspace", str(workspace)],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}/mcp", workspace
    finally:
        process.terminate()
        process.wait(timeout=20)


def _text(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


@pytest.mark.slow
def test_stdio_tools_python_ingest_retrieve_and_cancel(tmp_path: Path) -> None:
    from mcp import Client

    workspace = tmp_path / "ws"
    workspace.mkdir()
    (workspace / "grey-heron.md").write_text(NOTES)

    async def session() -> None:
        async with Client(stdio_params(workspace)) as client:
            listed = {t.name: t for t in (await client.list_tools()).tools}
            assert {"python", "retrieve", "ingest", "run_agent"} <= listed.keys()
            assert listed["retrieve"].annotations.read_only_hint is True
            assert listed["python"].annotations.read_only_hint is False
            assert listed["python"].annotations.destructive_hint is True

            ran = await client.call_tool("python", {"code": "x = 6 * 7\nprint(x)"})
            assert not ran.is_error and "42" in _text(ran)
            bad = await client.call_tool("python", {"code": "1/0"})
            assert bad.is_error and "ZeroDivisionError" in _text(bad)

            ingested = await client.call_tool("ingest", {"paths": ["grey-heron.md"]})
            assert not ingested.is_error, _text(ingested)
            found = await client.call_tool("retrieve", {"query": "grey heron wingspan"})
            assert "155-195 cm" in _text(found)
            cited = found.structured_content["citations"]
            assert cited and cited[0]["source"].endswith("grey-heron.md") and "155-195 cm" in cited[0]["text"]
            outside = await client.call_tool("ingest", {"paths": ["../../etc"]})
            assert outside.is_error and "outside" in _text(outside)

            # A long cell reports progress and stops when the client cancels the call.
            progress: list[float] = []

            async def on_progress(done: float, total: float | None, message: str | None) -> None:
                progress.append(done)

            long_cell = (
                "open('started', 'w').close()\nimport time\ntime.sleep(50)\nopen('finished', 'w').close()"
            )
            call = asyncio.ensure_future(
                client.call_tool("python", {"code": long_cell}, progress_callback=on_progress)
            )
            while not (workspace / "started").exists() or not progress:
                await asyncio.sleep(0.2)
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            started = time.monotonic()
            after = await client.call_tool("python", {"code": "print(x)"})
            assert time.monotonic() - started < 40  # the cancelled cell no longer holds the sandbox
            assert after.is_error and "NameError" in _text(after)  # the cell's sandbox was stopped
            assert not (workspace / "finished").exists()

    asyncio.run(session())


@pytest.mark.slow
def test_http_origin_and_token(http_server: tuple[str, Path], tmp_path: Path) -> None:
    from mcp import Client

    url, _ = http_server

    async def session() -> None:
        async with Client(url) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            assert "python" in names
            ran = await client.call_tool("python", {"code": "print(2 ** 10)"})
            assert "1024" in _text(ran)

    asyncio.run(session())
    hello = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    refused = httpx.post(url, json=hello, headers={**headers, "origin": "http://attacker.example"})
    assert refused.status_code == 403

    # any address but loopback needs a token
    port = _free_port()
    no_token = subprocess.run(
        [HERON, "mcp", "serve", "--http", "--host", "0.0.0.0", "--port", str(port)],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert no_token.returncode == 2 and "needs a token" in no_token.stderr
    process = subprocess.Popen(
        [
            HERON,
            "mcp",
            "serve",
            "--http",
            "--host",
            "0.0.0.0",
            "--port",
            str(port),
            "--token",
            "s3cret",
            "--workspace",
            str(tmp_path / "ws-open"),
        ],
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for_port(port, process)
        open_url = f"http://127.0.0.1:{port}/mcp"
        assert httpx.post(open_url, json=hello, headers=headers).status_code == 401
        # off loopback only heron's own gate checks the Origin (the SDK's check is for loopback names)
        authorized = {**headers, "authorization": "Bearer s3cret"}
        foreign = httpx.post(
            open_url, json=hello, headers={**authorized, "origin": "http://attacker.example"}
        )
        assert foreign.status_code == 403
        wrong = httpx.post(open_url, json=hello, headers={**headers, "authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert "Authorization: Bearer TOKEN" in wrong.text and "browser" not in wrong.text  # (no page here)
        from mcp.client.streamable_http import streamable_http_client
        from mcp.shared._httpx_utils import create_mcp_http_client

        async def with_token() -> None:
            transport = streamable_http_client(
                open_url, http_client=create_mcp_http_client(headers={"Authorization": "Bearer s3cret"})
            )
            async with Client(transport) as client:
                assert "python" in [t.name for t in (await client.list_tools()).tools]

        asyncio.run(with_token())
    finally:
        process.terminate()
        process.wait(timeout=20)


# The MCP Inspector's CLI mode (npm; the TypeScript SDK): `make test` installs it once per machine.
INSPECTOR = Path(
    os.environ.get("MCP_INSPECTOR_BIN")
    or Path.home() / ".cache/heron/node/mcp-inspector-2.12.0/node_modules/.bin/mcp-inspector"
)


def inspector(workspace: Path, *method: str) -> Any:
    import json

    assert INSPECTOR.is_file(), f"the MCP Inspector is not installed at {INSPECTOR}: run `make mcp-inspector`"
    command = [
        str(INSPECTOR),
        "--cli",
        HERON,
        "mcp",
        "serve",
        "--workspace",
        str(workspace),
        "--method",
        *method,
    ]
    done = subprocess.run(command, env=_env(), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.slow
def test_the_mcp_inspector_as_a_second_independent_client(tmp_path: Path) -> None:
    """A client built on the TypeScript SDK lists heron's tools, runs Python, ingests and retrieves."""
    workspace = tmp_path / "ws-inspector"
    workspace.mkdir()
    (workspace / "grey-heron.md").write_text(NOTES)
    listed = {t["name"]: t for t in inspector(workspace, "tools/list")["tools"]}
    assert {"python", "retrieve", "ingest", "run_agent"} <= listed.keys()
    assert listed["retrieve"]["annotations"]["readOnlyHint"] is True
    ran = inspector(
        workspace, "tools/call", "--tool-name", "python", "--tool-arg", "code=print(sum(range(10)))"
    )
    assert ran["isError"] is False and "45" in ran["content"][0]["text"]
    ingest = ["tools/call", "--tool-name", "ingest", "--tool-arg", 'paths=["grey-heron.md"]']
    assert inspector(workspace, *ingest)["isError"] is False
    found = inspector(
        workspace, "tools/call", "--tool-name", "retrieve", "--tool-arg", "query=grey heron wingspan"
    )
    assert "155-195 cm" in found["content"][0]["text"]
    assert found["structuredContent"]["citations"][0]["source"].endswith("grey-heron.md")


def test_the_agent_tool_answers_with_its_run_id_and_status(tmp_path: Path) -> None:
    """run_agent over the protocol (the SDK's client on the server in-process), with the scripted model."""
    from mcp import Client

    from heron.agents.mcp_server import HeronMCPServer
    from heron.config import load_settings
    from heron.llm import ScriptedLLM

    llm = ScriptedLLM(
        [
            {"action": "calculator", "arguments": {"expression": "155 + 195"}},
            {"action": "final_answer", "answer": "Together 350 cm.", "citations": []},
        ]
    )

    async def session(server: HeronMCPServer) -> Any:
        async with Client(server.server()) as client:
            return await client.call_tool("run_agent", {"goal": "Add 155 and 195 cm."})

    with HeronMCPServer(load_settings(), tmp_path / "ws", llm=llm) as server:
        result = asyncio.run(session(server))
    text = _text(result)
    assert not result.is_error and text.startswith("Together 350 cm.")
    assert "status: succeeded; run id: " in text
    assert llm.remaining == 0  # the calculator result went back to the model, which answered


def test_ingest_follows_no_link_out_of_the_workspace(tmp_path: Path) -> None:
    """A link the sandboxed code could make (docs/key.md -> a file outside) is not ingested."""
    from mcp import Client

    from heron.agents.mcp_server import HeronMCPServer
    from heron.config import load_settings

    secret = tmp_path / "outside" / "id_key.md"
    secret.parent.mkdir()
    secret.write_text("# Key\n\nThe server's secret key is PURPLE-OCTOPUS-42.\n")
    docs = tmp_path / "ws" / "docs"
    docs.mkdir(parents=True)
    (docs / "grey-heron.md").write_text(NOTES)
    (docs / "key.md").symlink_to(secret)
    (tmp_path / "ws" / "linked").symlink_to(secret.parent)

    async def session(server: HeronMCPServer) -> tuple[Any, Any, Any]:
        async with Client(server.server()) as client:
            ingested = await client.call_tool("ingest", {"paths": ["docs"]})
            found = await client.call_tool("retrieve", {"query": "secret key"})
            linked = await client.call_tool("ingest", {"paths": ["linked"]})
            return ingested, found, linked

    with HeronMCPServer(load_settings(), tmp_path / "ws") as server:
        ingested, found, linked = asyncio.run(session(server))
    assert not ingested.is_error and _text(ingested).startswith("1 added"), _text(ingested)
    assert "PURPLE-OCTOPUS" not in _text(found)
    assert linked.is_error and "link" in _text(linked)


def test_agent_allow_names_only_tools_the_served_agent_has(tmp_path: Path) -> None:
    from heron.agents.mcp_server import HeronMCPServer
    from heron.config import load_settings
    from heron.errors import UsageError

    with pytest.raises(UsageError, match="write_file"):
        HeronMCPServer(load_settings(), tmp_path / "ws", agent_allow=["write_file"])
