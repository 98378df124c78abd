"""``heron mcp serve`` (heron's tools and agent over MCP) and ``heron mcp tools`` (the configured
servers' tools)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from heron.cli.app import app
from heron.config import load_settings
from heron.errors import MCPServerError

mcp_app = typer.Typer(
    help="Model Context Protocol: serve heron's tools to other applications, list configured servers' tools.",
    no_args_is_help=True,
)
app.add_typer(mcp_app, name="mcp")
console = Console(soft_wrap=True)


@mcp_app.command("serve")
def serve(
    http: bool = typer.Option(False, "--http", help="Serve over streamable HTTP at /mcp instead of stdio."),
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to bind with --http; any but loopback needs --token."
    ),
    port: int = typer.Option(8765, "--port", help="Port with --http."),
    token: str | None = typer.Option(
        None, "--token", envvar="HERON_MCP_TOKEN", help="Bearer token every HTTP request must carry."
    ),
    allow_origin: list[str] = typer.Option(
        [], "--allow-origin", help="A browser origin allowed besides the loopback ones (repeatable)."
    ),
    workspace: Path = typer.Option(Path("workspace"), "--workspace", "-w", help="Folder the tools work in."),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Collection retrieve and ingest use; default: memory.collection."
    ),
    agent_allow: list[str] = typer.Option(
        [], "--agent-allow", help="A risky tool the served agent may use unasked, e.g. python (repeatable)."
    ),
) -> None:
    """Serve python (sandboxed), retrieve, ingest, generate_image (when configured) and run_agent over MCP.

    Over stdio by default (an MCP client starts `heron mcp serve` itself); with --http at
    http://HOST:PORT/mcp. Requests from a browser page of another origin are refused; on an address
    other than loopback every request needs the token."""
    from heron.agents.mcp_server import HeronMCPServer

    settings = load_settings()
    with HeronMCPServer(settings, workspace, collection, agent_allow=agent_allow) as server:
        if http:
            server.http_app(host, token, allow_origin)  # refuses a bad bind before anything listens
            typer.echo(
                f"heron MCP server: http://{host}:{port}/mcp (workspace {server.context.workspace})", err=True
            )
            server.serve_http(host, port, token, allow_origin)
        else:
            server.serve_stdio()


@mcp_app.command("tools")
def list_tools() -> None:
    """Start each MCP server configured in heron.toml ([mcp.servers.NAME]) and list its tools."""
    from heron.tools.mcp import MCPToolset

    settings = load_settings()
    if not settings.mcp.servers:
        console.print(
            "no MCP servers configured: add [mcp.servers.NAME] to heron.toml (see docs/mcp.md)", markup=False
        )
        raise typer.Exit(0)
    failed = 0
    for name, spec in settings.mcp.servers.items():
        console.print(f"[bold]{escape(name)}[/]  {escape(spec.describe())}")
        with MCPToolset(name, spec) as toolset:
            try:
                tools = toolset.tools()
            except MCPServerError as exc:
                failed += 1
                console.print(f"  [red]not available:[/] {escape(exc.problem)}")
                continue
            for item in tools:
                asks = "asks first" if item.risk.value == "high" else "runs unasked"
                console.print(f"  {escape(item.name)}  ({asks})")
            for note in toolset.skipped:
                console.print(f"  [yellow]left out:[/] {escape(note)}")
    raise typer.Exit(2 if failed else 0)
