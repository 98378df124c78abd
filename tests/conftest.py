"""Every test runs in its own temp dir with its own data dir and no config from the developer's machine."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from heron.config import Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = (REPO_ROOT.parent / "shared" / "data").resolve()


@pytest.fixture(autouse=True)
def isolated_heron(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean environment: no HERON_* variables, temp HOME/XDG dirs, cwd in a temp project dir."""
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
