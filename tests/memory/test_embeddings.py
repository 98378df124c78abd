"""Embeddings from the bundled model: normalized, meaningful, and the ONNX backends agree with torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heron.bundled import bundled_embedding_path
from heron.errors import ModelLoadError
from heron.memory.embeddings import Embedder

TEXTS = [
    "Herons hunt fish in shallow water.",
    "A grey heron stands still by the river, waiting for fish.",
    "The quarterly tax return is due at the end of the month.",
]


def test_vectors_are_unit_length_and_similar_texts_are_closer(embedder: Embedder) -> None:
    vectors = embedder.embed_documents(TEXTS)
    assert vectors.shape == (3, embedder.dimension) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.3
    query = embedder.embed_query(TEXTS[0])
    assert np.allclose(query, embedder.embed_documents([TEXTS[0]])[0], atol=1e-6)
    # int8 activations are scaled per batch: the batch a text is encoded in moves it only slightly
    assert float(query @ vectors[0]) > 0.99


@pytest.mark.parametrize(("backend", "min_cosine"), [("onnx", 0.9999), ("onnx-int8", 0.97)])
def test_onnx_backends_match_sentence_transformers(
    backend: str, min_cosine: float, embedding_cache: Path
) -> None:
    model = str(bundled_embedding_path())
    with (
        Embedder(model, backend="torch") as reference,
        Embedder(model, backend=backend, cache_dir=embedding_cache) as fast,
    ):
        expected = reference.embed_documents(TEXTS)
        got = fast.embed_documents(TEXTS)
    assert next(embedding_cache.glob("*/model.onnx")).stat().st_size > 1_000_000  # the export is cached
    cosines = np.sum(expected * got, axis=1)
    assert cosines.min() > min_cosine, cosines
    assert np.argmax(got[0] @ got.T[:, 1:]) == 0  # the heron sentence stays nearest the heron sentence


def test_a_missing_model_folder_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError) as caught:
        Embedder(str(tmp_path / "no-model")).embed_documents(["x"])
    assert "HERON_EMBEDDING_MODEL" in (caught.value.hint or "")


def test_an_unknown_backend_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="unknown embedding backend"):
        Embedder("any", backend="tpu")


_FIRST_EMBEDDING = """
import logging, sys
if sys.argv[1] == "verbose":
    logging.basicConfig(level=logging.INFO)
from heron.bundled import bundled_embedding_path
from heron.memory.embeddings import Embedder
from pathlib import Path
with Embedder(str(bundled_embedding_path()), backend="onnx-int8", cache_dir=Path(sys.argv[2])) as e:
    print(e.embed_query("a grey heron").shape)
"""


@pytest.mark.slow
def test_a_program_using_heron_sees_no_bars_or_advice_from_preparing_the_embedding_model(
    tmp_path: Path,
) -> None:
    """The SDK's first embedding loads, exports and quantizes the model: transformers' "Loading weights"
    bar and onnxruntime's "pre-processing" advice concern heron, so stderr stays empty; a program
    that logs at INFO asked to see more, and sees them."""
    import os
    import subprocess
    import sys

    # as a program starts: not with the variables an in-process CLI test left (heron.quiet sets them)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY")
    }

    def first_embedding(mode: str, cache: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", _FIRST_EMBEDDING, mode, str(cache)],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            env=env,
        )

    quiet = first_embedding("quiet", tmp_path / "a")
    assert quiet.returncode == 0, quiet.stderr
    assert quiet.stdout.strip() == "(384,)"
    assert quiet.stderr == ""
    verbose = first_embedding("verbose", tmp_path / "b")
    assert verbose.returncode == 0, verbose.stderr
    assert "Loading weights" in verbose.stderr and "pre-processing" in verbose.stderr
