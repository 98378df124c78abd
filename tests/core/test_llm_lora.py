"""A GGUF LoRA adapter, built here with the gguf package against the bundled model, changes the output."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gguf
import numpy as np
import pytest

from heron.config import load_settings
from heron.errors import ConfigError, ModelLoadError
from heron.llm import LocalLLM, Message
from heron.llm.gguf_file import read_gguf_header

pytestmark = pytest.mark.model

TARGETS = [f"blk.{i}.{name}.weight" for i in range(4) for name in ("attn_q", "attn_v")]
RANK = 4
QUESTION = [Message.user("What is the capital of France?")]
OPTIONS = ["Paris", "The capital of France is Paris.", "Berlin"]


def write_lora(path: Path, base: Path, arch: str = "llama", transpose_b: bool = False) -> Path:
    """A rank-4 LoRA over a few attention weights, with non-zero A and B (a trained one would be similar)."""
    shapes = {t.name: t.shape for t in read_gguf_header(base).tensors}
    rng = np.random.default_rng(0)
    writer = gguf.GGUFWriter(str(path), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(RANK))
    for name in TARGETS:
        n_in, n_out = shapes[name]  # ggml order: ne[0] = input features
        writer.add_tensor(f"{name}.lora_a", rng.normal(0, 0.2, (RANK, n_in)).astype(np.float32))
        b_shape = (RANK, n_out) if transpose_b else (n_out, RANK)
        writer.add_tensor(f"{name}.lora_b", rng.normal(0, 0.2, b_shape).astype(np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.fixture(scope="module")
def base_path() -> Path:
    return load_settings().llm_model_path()


@pytest.fixture(scope="module")
def lora_path(base_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_lora(tmp_path_factory.mktemp("lora") / "adapter.gguf", base_path)


@pytest.fixture(scope="module")
def base_scores(base_path: Path) -> Iterator[list[float]]:
    with LocalLLM(base_path, context_size=256) as llm:
        yield llm.score_options(QUESTION, OPTIONS)


def test_lora_changes_the_logits(base_path: Path, lora_path: Path, base_scores: list[float]) -> None:
    with LocalLLM(base_path, context_size=256, lora_path=lora_path) as llm:
        adapted = llm.score_options(QUESTION, OPTIONS)
    assert max(abs(a - b) for a, b in zip(adapted, base_scores, strict=True)) > 0.05


def test_lora_at_scale_zero_leaves_the_logits_alone(
    base_path: Path, lora_path: Path, base_scores: list[float]
) -> None:
    with LocalLLM(base_path, context_size=256, lora_path=lora_path, lora_scale=0.0) as llm:
        assert llm.score_options(QUESTION, OPTIONS) == pytest.approx(base_scores, abs=1e-3)


def test_lora_from_settings(lora_path: Path, base_scores: list[float]) -> None:
    with LocalLLM.from_settings(load_settings(context_size=256, lora_path=lora_path)) as llm:
        assert llm.score_options(QUESTION, OPTIONS) != pytest.approx(base_scores, abs=1e-3)


def test_lora_for_another_architecture_is_refused(base_path: Path, tmp_path: Path) -> None:
    other = write_lora(tmp_path / "qwen.gguf", base_path, arch="qwen2")
    with pytest.raises(ModelLoadError, match="architecture 'qwen2'"):
        LocalLLM(base_path, context_size=256, lora_path=other)


def test_lora_with_wrong_shapes_is_refused(base_path: Path, tmp_path: Path) -> None:
    bad = write_lora(tmp_path / "bad.gguf", base_path, transpose_b=True)
    with pytest.raises(ModelLoadError, match="do not fit the model"):
        LocalLLM(base_path, context_size=256, lora_path=bad)


def test_a_model_file_is_not_a_lora(base_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not a LoRA adapter"):
        LocalLLM(base_path, context_size=256, lora_path=base_path)


def test_lora_settings_are_validated(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="lora_path"):
        load_settings(lora_path=tmp_path / "adapter.safetensors")
    with pytest.raises(ModelLoadError, match="LoRA adapter not found"):
        load_settings(lora_path=tmp_path / "missing.gguf").llm_lora_path()
