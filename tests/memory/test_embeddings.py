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
