"""generate_image where users meet it: doctor, task files, the REPL's progress line, settings."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from heron.agents.tasks import load_task
from heron.cli.doctor import run_checks
from heron.cli.repl_view import ReplView
from heron.config import load_settings
from heron.errors import ConfigError
from heron.tracing import ToolProgressEvent


def _image_check(**image: object) -> object:
    [check] = [c for c in run_checks(load_settings(image=image)) if c.name == "image model"]
    return check


def test_doctor_says_image_generation_is_off_and_how_to_turn_it_on() -> None:
    check = _image_check()
    assert check.status == "ok" and "none configured" in check.detail
    assert "HERON_IMAGE__MODEL_PATH" in check.fix


def test_doctor_names_a_folder_that_is_not_a_diffusers_model(tmp_path: Path) -> None:
    check = _image_check(model_path=tmp_path)
    assert check.status == "problem" and str(tmp_path) in check.detail and "model_index.json" in check.detail


def test_doctor_shows_the_device_an_image_model_gets(tmp_path: Path) -> None:
    (tmp_path / "model_index.json").write_text('{"_class_name": "StableDiffusionPipeline"}')
    check = _image_check(model_path=tmp_path)
    assert check.status == "ok" and "device cpu (auto" in check.detail and "GPU sharing swap" in check.detail


def test_image_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HERON_IMAGE__MODEL_PATH", str(tmp_path))
    monkeypatch.setenv("HERON_IMAGE__GPU_SHARING", "keep")
    image = load_settings().image
    assert image.model_path == tmp_path and image.gpu_sharing == "keep"
    monkeypatch.setenv("HERON_IMAGE__WIDTH", "500")
    with pytest.raises(ConfigError, match=r"image\.width") as info:
        load_settings()
    assert "multiple of 8" in str(info.value) and "HERON_IMAGE__WIDTH" in str(info.value)


def test_a_task_file_may_name_generate_image(tmp_path: Path) -> None:
    task = tmp_path / "poster.yaml"
    task.write_text("name: poster\ngoal: Draw a poster of a heron\ntools: [generate_image, write_file]\n")
    assert load_task(task).task.tools == ["generate_image", "write_file"]


def test_the_repl_redraws_one_progress_line_per_tool_call() -> None:
    out = io.StringIO()
    view = ReplView(Console(file=out, width=120))
    for done in (1, 2, 3, 4):
        view.show_event(
            ToolProgressEvent(
                run_id="r", call_id="c", tool="generate_image", done=done, total=4, label="denoising"
            )
        )
    frames = out.getvalue().split("\r")[1:]
    assert len(frames) == 4 and frames[0].rstrip().endswith("1/4") and "[######------" in frames[0]
    assert frames[-1] == "  generate_image: denoising [########################] 4/4\n"
    assert out.getvalue().count("\n") == 1  # one line, finished once


def test_heron_chat_offers_generate_image_only_with_a_model(tmp_path: Path) -> None:
    from heron.cli.repl import Repl
    from heron.llm import ScriptedLLM

    def tool_names(**image: object) -> list[str]:
        repl = Repl(load_settings(image=image), ScriptedLLM([]), console=Console(file=io.StringIO()))
        try:
            return [t.name for t in repl.conversation.tools]
        finally:
            repl.close()

    assert "generate_image" not in tool_names()
    assert tool_names(model_path=tmp_path)[-1] == "generate_image"
