"""The checks in front of heron's HTTP servers (``heron serve``, ``heron mcp serve --http``).

- **Origin**: a browser page from another origin is refused (403). Allowed: the origins the user
  names, and either the loopback ones (``heron mcp serve``) or, for a server with a page of its own
  (``same_origin``, ``heron serve``), that page's origin only.
- **Host**: on loopback without a token, the ``Host`` header must name the loopback, so a page of
  another site whose name was re-pointed at 127.0.0.1 (DNS rebinding) is refused.
- **Token**: with a token, every request carries ``Authorization: Bearer TOKEN`` or, from the web
  page, the ``heron_token`` cookie that ``/?token=TOKEN`` sets (``same_origin`` servers); 401 otherwise.
  Websocket requests get the same checks.
"""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qs

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
LOOPBACK_ORIGINS = ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
TOKEN_COOKIE = "heron_token"
NEEDS_TOKEN = "a bearer token is required: send the header Authorization: Bearer TOKEN"
PAGE_NEEDS_TOKEN = NEEDS_TOKEN + ", or open /?token=TOKEN in a browser"  # servers with a page of their own


class RequestGate:
    """ASGI middleware applying the checks above to every HTTP request."""

    def __init__(
        self,
        app: Any,
        token: str | None,
        origins: tuple[str, ...] = (),
        *,
        same_origin: bool = False,
        loopback_hosts_only: bool = False,
    ) -> None:
        self.app = app
        self.token = token
        self.origins = origins
        # a server with a page of its own trusts that page's origin, not every loopback one (another
        # local app's page could post to it)
        self.same_origin = same_origin
        self.loopback_hosts_only = loopback_hosts_only and token is None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        socket = scope["type"] == "websocket"
        headers = {key.decode("latin-1").lower(): value.decode("latin-1") for key, value in scope["headers"]}
        host = headers.get("host", "")
        if self.loopback_hosts_only and host_name(host) not in LOOPBACK_HOSTS:
            await refuse(send, 403, f"host {host!r} is not this machine's loopback address", socket)
            return
        origin = headers.get("origin")
        own = f"http://{host}" if self.same_origin and host else None
        trusted = (origin == own) if self.same_origin else origin_allowed(origin or "", self.origins)
        if origin is not None and not trusted and origin not in self.origins:
            await refuse(send, 403, f"origin {origin} is not allowed", socket)
            return
        if self.token is not None and not self._has_token(headers, scope):
            await refuse(send, 401, PAGE_NEEDS_TOKEN if self.same_origin else NEEDS_TOKEN, socket)
            return
        await self.app(scope, receive, send)

    def _has_token(self, headers: dict[str, str], scope: Any) -> bool:
        assert self.token is not None
        if scope.get("path") == "/" and self.same_origin:  # the page's first visit: /?token=TOKEN
            given_query = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("token", [""])[0]
            if given_query and hmac.compare_digest(given_query.encode(), self.token.encode()):
                return True
        given = headers.get("authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {self.token}".encode()):
            return True
        if not self.same_origin:  # only a server with a page of its own sets the cookie
            return False
        cookie = cookie_value(headers.get("cookie", ""), TOKEN_COOKIE)
        return cookie is not None and hmac.compare_digest(cookie.encode(), self.token.encode())


def host_name(host: str) -> str:
    """``127.0.0.1`` from ``127.0.0.1:8080``, ``::1`` from ``[::1]:8080``."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def cookie_value(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def origin_allowed(origin: str, extra: tuple[str, ...]) -> bool:
    if origin in extra:
        return True
    for pattern in LOOPBACK_ORIGINS:
        base = pattern[:-2]
        if origin == base or (origin.startswith(base + ":") and origin[len(base) + 1 :].isdigit()):
            return True
    return False


async def refuse(send: Any, status: int, message: str, websocket: bool = False) -> None:
    if websocket:
        await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
        return
    body = message.encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
