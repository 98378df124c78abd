from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heron.cli import EXIT_USAGE, main

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))


def _heron(*args: str) -> subprocess.CompletedProcess[str]:
    assert HERON, "the heron console script is not installed in this venv"
    return subprocess.run([HERON, *args], capture_output=True, text=True, timeout=120, check=False)


def test_version() -> None:
    import heron

    result = _heron("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"heron {heron.__version__}"


def test_help_explains_commands() -> None:
    result = _heron("--help")
    assert result.returncode == 0
    for word in ("doctor", "config", "llama.cpp"):
        assert word in result.stdout


def test_doctor_passes_on_this_machine() -> None:
    result = _heron("doctor", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    checks = {c["name"]: c for c in json.loads(result.stdout)}
    for name in ("python", "heron", "llama.cpp", "gpu offload", "model", "embeddings", "chroma", "sandbox"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "SmolLM2" in checks["model"]["detail"] or "smollm2" in checks["model"]["detail"].lower()
    assert "MiB" in checks["model"]["detail"]
    assert "embedded" in checks["chroma"]["detail"]


def test_doctor_names_missing_model(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / "models" / "absent.gguf"
    monkeypatch.setenv("HERON_MODEL_PATH", str(missing))
    result = _heron("doctor")
    assert result.returncode == 1
    assert str(missing) in result.stdout
    assert "HERON_MODEL_PATH" in result.stdout  # the fix


def test_doctor_flags_a_file_that_is_not_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_bytes(b"<html>not a model</html>")
    monkeypatch.setenv("HERON_MODEL_PATH", str(fake))
    result = _heron("doctor", "--json")
    model = next(c for c in json.loads(result.stdout) if c["name"] == "model")
    assert result.returncode == 1
    assert model["status"] == "problem" and "not a GGUF" in model["detail"]


def test_bad_setting_exits_with_usage_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HERON_CONTEXT_SIZE", "huge")
    assert main(["doctor"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "context_size" in err and "huge" in err


def test_config_prints_effective_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HERON_THREADS", "3")
    result = _heron("config")
    assert result.returncode == 0
    assert "threads = 3" in result.stdout
    assert "[sandbox]" in result.stdout
