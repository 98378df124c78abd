"""The ``heron serve`` application: the OpenAI-compatible API, the runs API and the web page, in one
FastAPI app behind :class:`~heron.agents.http_gate.RequestGate`.

FastAPI on uvicorn: both are already installed with heron (Chroma's server and the MCP SDK use
them), they are well kept, and FastAPI validates request bodies from the same pydantic models the
rest of heron uses.

The page is three static files shipped in the package (no CDN: it works offline). Every page
response carries a Content-Security-Policy that lets it load and fetch only from this server, so
text the model, a tool or a document wrote can never make the browser run a script or send a
request elsewhere, even if a renderer had a bug; the page itself renders such text as text.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from importlib import resources
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from heron.agents.http_gate import LOOPBACK_HOSTS, TOKEN_COOKIE, RequestGate
from heron.agents.serve import openai_api, runs_api
from heron.agents.serve.hub import AgentHub
from heron.config import Settings
from heron.errors import UsageError
from heron.llm.base import LLM

PAGE_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
STATIC = {"app.js": "text/javascript", "app.css": "text/css", "index.html": "text/html"}


def create_app(
    settings: Settings,
    *,
    llm: LLM | None = None,
    host: str = "127.0.0.1",
    token: str | None = None,
    origins: Sequence[str] = (),
) -> Any:
    """The ASGI app. ``llm``: one model for every profile (tests, benchmarks). Off the loopback a
    ``token`` is required (UsageError otherwise)."""
    check_bind(host, token)
    hub = AgentHub(settings, llm=llm)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await hub.aclose()

    app = FastAPI(title="heron serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.hub = hub
    app.include_router(openai_api.router(hub))
    app.include_router(runs_api.router(hub))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        # OpenAI's clients read errors in OpenAI's shape; the runs API keeps FastAPI's own
        if request.url.path.startswith("/v1/"):
            return openai_api.invalid_request(exc.errors())
        return await request_validation_exception_handler(request, exc)

    @app.get("/", response_model=None)
    def index(request: Request) -> Response:
        given = request.query_params.get("token")
        if given is not None:  # a browser's first visit with the token: keep it in a cookie
            response = RedirectResponse("/", status_code=303)
            # lax: a link to /?token= opened from another site still arrives with the cookie
            response.set_cookie(TOKEN_COOKIE, given, httponly=True, samesite="lax")
            return response
        return _static("index.html")

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        return _static(name)

    return RequestGate(
        PageHeaders(app),
        token=token,
        origins=tuple(origins),
        same_origin=True,
        loopback_hosts_only=host in LOOPBACK_HOSTS,
    )


class PageHeaders:
    """ASGI middleware: every response gets the page's security headers (unless it sets its own).

    Plain ASGI rather than ``@app.middleware``: Starlette's ``BaseHTTPMiddleware`` hides a client's
    disconnect from the endpoint, so a non-streamed request whose client gave up was not cancelled."""

    HEADERS = (
        (b"content-security-policy", PAGE_POLICY.encode("latin-1")),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
    )

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {key.lower() for key, _ in headers}
                headers += [(key, value) for key, value in self.HEADERS if key not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)


def check_bind(host: str, token: str | None) -> None:
    """Off this machine's loopback the server needs a token (UsageError otherwise)."""
    if host not in LOOPBACK_HOSTS and not token:
        raise UsageError(
            f"serving on {host} (not this machine's loopback) needs a token",
            "pass --token SECRET (or set HERON_SERVE_TOKEN), or serve on 127.0.0.1",
        )


def _static(name: str) -> Response:
    if name not in STATIC:
        return HTMLResponse("not found", status_code=404)
    body = resources.files("heron.agents.serve").joinpath("static", name).read_bytes()
    return Response(body, media_type=STATIC[name], headers={"Cache-Control": "no-cache"})


def serve(
    settings: Settings,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token: str | None = None,
    origins: Sequence[str] = (),
    llm: LLM | None = None,
) -> None:
    """Serve until interrupted."""
    import uvicorn

    app = create_app(settings, llm=llm, host=host, token=token, origins=origins)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
