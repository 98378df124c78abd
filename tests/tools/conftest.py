"""Fixtures for the tools tests: small sandbox limits so hostile cells end fast."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from heron.config import SandboxSettings, Settings, load_settings
from heron.tools import ToolContext
from heron.tools.sandbox import Sandbox


def small_limits(**overrides: object) -> SandboxSettings:
    values: dict[str, object] = {
        "cpu_seconds": 2,
        "wall_seconds": 6.0,
        "memory_mb": 384,
        "max_processes": 16,
        "max_file_mb": 1,
        "workspace_max_mb": 4,
        "tmp_mb": 8,
        "output_max_chars": 2000,
    }
    values.update(overrides)
    return SandboxSettings.model_validate(values)


@pytest.fixture
def limits() -> Callable[..., SandboxSettings]:
    """``limits(wall_seconds=2)``: the small test limits with some changed."""
    return small_limits


@pytest.fixture
def wait() -> Callable[..., bool]:
    return wait_until


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    path = tmp_path / "workspace"
    path.mkdir()
    return path


@pytest.fixture
def box(workspace: Path) -> Iterator[Sandbox]:
    with Sandbox(workspace, small_limits()) as sandbox:
        yield sandbox


@pytest.fixture
def tool_settings() -> Settings:
    settings = load_settings()
    settings.sandbox = small_limits()
    return settings


@pytest.fixture
def ctx(workspace: Path, tool_settings: Settings) -> Iterator[ToolContext]:
    with ToolContext(workspace, tool_settings) as context:
        yield context


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passes; returns its last value."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()
