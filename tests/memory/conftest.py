"""Shared fixtures for memory tests: one embedding model per session, a real `chroma run` server."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from heron.bundled import bundled_embedding_path
from heron.config import MemorySettings, Settings, load_settings
from heron.memory.embeddings import Embedder


@pytest.fixture(scope="session")
def embedding_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for ONNX exports, so the model is exported once per test session."""
    return tmp_path_factory.mktemp("embedding-cache")


@pytest.fixture(scope="session")
def embedder(embedding_cache: Path) -> Iterator[Embedder]:
    """The bundled all-MiniLM-L6-v2 with heron's default backend, loaded once for all memory tests."""
    model = bundled_embedding_path()
    assert model is not None, "the bundled embedding model is not installed (run `make setup`)"
    with Embedder(
        str(model), backend=MemorySettings().embedding_backend, cache_dir=embedding_cache
    ) as shared:
        shared.embed_documents(["load the model now"])
        yield shared


@pytest.fixture
def shared_embedding_cache(settings: Settings, embedding_cache: Path) -> None:
    """Point this test's ``<data_dir>/embeddings`` at the session's exports, for code that builds its
    own Embedder from settings (the CLI, a subprocess)."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    (settings.data_dir / "embeddings").symlink_to(embedding_cache, target_is_directory=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_chroma(path: Path) -> Iterator[int]:
    """A real `chroma run` on 127.0.0.1 (free port, its database under ``path``), stopped when the
    block ends; yields the port."""
    import sys

    chroma = Path(sys.executable).parent / "chroma"
    port = _free_port()
    log = (path / "server.log").open("wb")
    env = dict(os.environ, ANONYMIZED_TELEMETRY="False")
    process = subprocess.Popen(
        [str(chroma), "run", "--host", "127.0.0.1", "--port", str(port), "--path", str(path / "db")],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"chroma run did not start: {(path / 'server.log').read_text()}"
                    ) from None
                time.sleep(0.2)
        yield port
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real `chroma run` for the whole session (see ``running_chroma``); yields the port."""
    with running_chroma(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port


@pytest.fixture
def settings_for(request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """``settings_for("embedded")`` or ``settings_for("server")``: this test's settings for that store
    (the server starts on first use). Keyword arguments override more settings."""

    def make(store: str, **overrides: Any) -> Settings:
        if store == "server":
            port = request.getfixturevalue("chroma_server")
            overrides["chroma"] = {"mode": "server", "host": "127.0.0.1", "port": port}
        return load_settings(**overrides)

    return make
