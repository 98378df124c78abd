"""Bad model files fail with a clear ModelLoadError (path + what was expected), never a crash."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from heron.bundled import bundled_gguf_path
from heron.config import load_settings
from heron.errors import ModelLoadError
from heron.llm import LocalLLM
from heron.llm.gguf_file import read_gguf_header


def bundled() -> Path:
    path = bundled_gguf_path()
    assert path is not None, "the bundled SmolLM2 GGUF is not installed (make setup)"
    return path


def load(path: Path) -> None:
    LocalLLM(path, context_size=256).close()


def test_header_of_the_bundled_model_is_read() -> None:
    header = read_gguf_header(bundled())
    assert header.architecture == "llama"
    assert header.trained_context == 8192
    assert header.chat_template is not None and "<|im_start|>" in header.chat_template
    assert any(t.name == "blk.0.attn_q.weight" and t.shape == (576, 576) for t in header.tensors)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found") as err:
        load(tmp_path / "nope.gguf")
    assert str(tmp_path / "nope.gguf") in str(err.value)


def test_missing_model_path_setting(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="HERON_MODEL_PATH"):
        LocalLLM.from_settings(load_settings(model_path=tmp_path / "gone.gguf"))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"", "too short"),
        (b"<html>404 Not Found</html>" * 4, "not a GGUF model: it starts with b'<htm'"),
        (b"PK\x03\x04" + b"\x00" * 60, "not a GGUF model"),
        (b"GGUF" + struct.pack("<I", 1) + b"\x00" * 40, "version 1"),
        (b"GGUF" + struct.pack("<IQQ", 3, 2**40, 2**40) + b"\x00" * 40, "damaged GGUF header"),
        (b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 2**50) + b"x" * 40, "is truncated"),
    ],
    ids=["empty", "html", "zip", "old-version", "absurd-counts", "absurd-string"],
)
def test_not_a_gguf_model(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(content)
    with pytest.raises(ModelLoadError, match=expected) as err:
        load(path)
    assert str(path) in err.value.problem
    assert err.value.hint


@pytest.mark.parametrize("keep", [2000, 3_000_000, -64], ids=["in-header", "in-data", "last-bytes"])
def test_truncated_model(tmp_path: Path, keep: int) -> None:
    data = bundled().read_bytes()
    path = tmp_path / "truncated.gguf"
    path.write_bytes(data[:keep])
    with pytest.raises(ModelLoadError, match="is truncated") as err:
        load(path)
    assert "download or copy the file again" in str(err.value)


def test_a_folder_is_not_a_model(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a file"):
        load(tmp_path)
