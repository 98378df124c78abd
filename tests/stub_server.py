"""A stub OpenAI-style HTTP server for tests of how heron meets a served model: it answers GET with
one fixed JSON body (the model list) and POST with another (a completion, or an error), and records
the paths POSTed to. A real server on a real socket; only its replies are fixed."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StubServer:
    url: str  # http://127.0.0.1:PORT/v1
    posted: list[str] = field(default_factory=list)


@contextmanager
def stub_server(models: list[str], post_status: int = 200, post_body: bytes = b"{}") -> Iterator[StubServer]:
    """Serve ``models`` as the model list and answer every POST with ``post_status``/``post_body``."""
    listing = ('{"data": [' + ", ".join(f'{{"id": "{m}"}}' for m in models) + "]}").encode()
    stub = StubServer(url="")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self._reply(200, listing)

        def do_POST(self) -> None:
            stub.posted.append(self.path)
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self._reply(post_status, post_body)

        def _reply(self, code: int, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
