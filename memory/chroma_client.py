"""Opening Chroma from heron's settings: embedded under the data dir, or a ``chroma run`` server."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, cast

from heron.config import Settings
from heron.errors import ConfigError

if TYPE_CHECKING:
    from chromadb.api import ClientAPI


def open_chroma_client(settings: Settings) -> ClientAPI:
    """A Chroma client with anonymous telemetry off. Close it with ``client.close()``.

    ``chroma.mode = "embedded"`` (default) opens a PersistentClient in ``settings.chroma_path()``;
    ``"server"`` connects to ``chroma.host:chroma.port`` and fails at once if nothing answers there.
    """
    import chromadb
    from chromadb.config import Settings as ChromaConfig

    config = ChromaConfig(anonymized_telemetry=False)
    if settings.chroma.mode == "server":
        host, port = settings.chroma.host, settings.chroma.port
        try:
            client = chromadb.HttpClient(host=host, port=port, settings=config)
            client.heartbeat()
        except Exception as exc:  # httpx and Chroma raise several types for "nobody there"
            raise ConfigError(
                f"no Chroma server answers at {host}:{port} ({exc})",
                f"start one with `chroma run --host {host} --port {port} --path DIR`, or set "
                "HERON_CHROMA__MODE=embedded to use the database under the data dir",
            ) from exc
        return cast("ClientAPI", ServerCalls(client, settings))  # (it can go away after it answered)
    path = settings.chroma_path()
    try:
        path.mkdir(parents=True, exist_ok=True)
        return chromadb.PersistentClient(path=str(path), settings=config)
    except OSError as exc:
        raise ConfigError(
            f"cannot open the Chroma database folder {path}: {exc}",
            "set HERON_CHROMA__PATH (or [chroma] path) or HERON_DATA_DIR to a writable folder",
        ) from exc


class ServerCalls:
    """A ``chroma run`` server's client or collection whose calls say so when the server stopped
    answering after it answered at start (httpx's bare ConnectError otherwise); all else passes through."""

    def __init__(self, target: Any, settings: Settings) -> None:
        self._target = target
        self._settings = settings

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._target, name)
        if not callable(found):
            return found

        @functools.wraps(found)
        def call(*args: Any, **kwargs: Any) -> Any:
            import httpx

            try:
                return found(*args, **kwargs)
            except httpx.TransportError as exc:  # refused, reset, timed out: nobody answers now
                host, port = self._settings.chroma.host, self._settings.chroma.port
                raise ConfigError(
                    f"the Chroma server at {host}:{port} stopped answering ({type(exc).__name__}: {exc})",
                    f"start it again (`chroma run --host {host} --port {port} --path DIR`, the same DIR): "
                    "what it stored is kept there",
                ) from exc

        return call


def describe_store(settings: Settings) -> str:
    """Where vectors live, for messages and for keying the ingestion manifest."""
    if settings.chroma.mode == "server":
        return f"http://{settings.chroma.host}:{settings.chroma.port}"
    return str(settings.chroma_path().resolve())
