"""``heron serve``: the agents of heron.toml over an OpenAI-compatible API, with a web page."""

from __future__ import annotations

import typer

from heron.cli.app import app
from heron.config import load_settings


@app.command("serve")
def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to bind; any but loopback needs --token."),
    port: int = typer.Option(8080, "--port", help="Port to listen on."),
    token: str | None = typer.Option(
        None,
        "--token",
        envvar="HERON_SERVE_TOKEN",
        help="Token the API (Authorization: Bearer TOKEN) and the page (open /?token=TOKEN once) need.",
    ),
    allow_origin: list[str] = typer.Option(
        [], "--allow-origin", help="A browser origin allowed besides this server's own (repeatable)."
    ),
) -> None:
    """Serve heron's agents: POST /v1/chat/completions and GET /v1/models for any OpenAI client, the
    runs API under /api, and a web page at http://HOST:PORT/ (chat, runs, timelines, eval reports).

    Each agent profile (serve.profiles.NAME in heron.toml; by default one named "heron") is a
    "model": its model, tools, memory and budgets. Requests for one model take turns. See docs/serve.md."""
    from heron.agents.serve import check_bind
    from heron.agents.serve import serve as run_server

    settings = load_settings()
    check_bind(host, token)
    shown = f"[{host}]" if ":" in host else host
    agents = ", ".join(settings.serve.profiles) or "heron"
    typer.echo(f"heron serve: http://{shown}:{port}/  (agents: {agents})", err=True)
    run_server(settings, host=host, port=port, token=token, origins=allow_origin)
