"""Every test runs in its own temp dir with its own data dir and no config from the developer's machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.config import Settings, load_settings
from heron.models import default_models_dir
from tests.postgres_server import PostgresServer, postgres_server

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()
# the machine's assembled models, found before each test gets its own HOME
MACHINE_MODELS_DIR = Path(os.environ.get("HERON_MODELS_DIR") or default_models_dir())
FAST_MODEL = "smollm2-135m"
CAPABLE_MODEL = "qwen2.5-coder-1.5b"


def pytest_configure(config: pytest.Config) -> None:
    # module-scoped fixtures start before the per-test environment below: give them the fast model too
    os.environ["HERON_MODEL"] = FAST_MODEL
    os.environ["HERON_MODELS_DIR"] = str(MACHINE_MODELS_DIR)


@pytest.fixture(autouse=True)
def isolated_heron(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> Iterator[Path]:
    """A clean environment: no HERON_* variables, temp HOME/XDG dirs, cwd in a temp project dir.

    Tests run on the fast SmolLM2-135M; tests marked ``capable`` get the default Qwen2.5-Coder-1.5B."""
    for key in list(os.environ):
        if key.startswith("HERON_"):
            monkeypatch.delenv(key)
    home = tmp_path / "home"
    for sub in ("config", "data", "cache"):
        (home / sub).mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("HERON_DATA_DIR", str(tmp_path / "heron-data"))
    monkeypatch.setenv("HERON_MODELS_DIR", str(MACHINE_MODELS_DIR))
    capable = request.node.get_closest_marker("capable") is not None
    monkeypatch.setenv("HERON_MODEL", CAPABLE_MODEL if capable else FAST_MODEL)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    yield project


@pytest.fixture
def settings() -> Settings:
    return load_settings()


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def llama_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real OpenAI-compatible llama.cpp server with the bundled model on 127.0.0.1 (a free port)."""
    import json
    import subprocess
    import sys
    import time
    import urllib.request

    port = _free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    cmd = [
        sys.executable,
        "-m",
        "heron.llm.serve",
        "--model",
        str(load_settings().llm_model_path()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--n_ctx",
        "4096",
        "--verbose",
        "false",
    ]
    url = f"http://127.0.0.1:{port}/v1"
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 120
            while True:
                assert proc.poll() is None, f"server exited:\n{log.read_text()[-2000:]}"
                assert time.monotonic() < deadline, f"server not ready:\n{log.read_text()[-2000:]}"
                try:
                    with urllib.request.urlopen(f"{url}/models", timeout=2) as resp:
                        if json.loads(resp.read()).get("data"):
                            break
                except OSError:
                    time.sleep(0.5)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (tests/postgres_server.py)."""
    with postgres_server() as server:
        yield server


@pytest.fixture(params=["sqlite", "postgresql"])
def run_store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a run store lives, once per backend: a SQLite file, then a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return str(tmp_path / "runs.sqlite3")
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.new_database()
