"""Sentence embeddings from a local sentence-transformers model, loaded lazily and offline.

Three backends give the same interface:

- ``torch``: sentence-transformers as shipped (the reference).
- ``onnx``: the same model exported once to ONNX and run by onnxruntime; same vectors (cosine > 0.9999).
- ``onnx-int8``: that export with int8 weights (dynamic quantization, one scale per output channel,
  which keeps cosine to the torch vectors above 0.98); faster on CPU, slightly different vectors.
  Activations are quantized per batch, so a text's vector moves slightly (cosine > 0.99) with the
  other texts of its batch.
  ``benchmarks/bench_memory_retrieval.py`` measures its recall against ``torch``.

Exports are cached under ``<data_dir>/embeddings/`` keyed by the model folder's files, written
atomically, so two processes exporting at once both end with a whole file.

Example::

    with Embedder.from_settings(load_settings()) as embedder:
        vectors = embedder.embed_documents(["first text", "second text"])   # (2, 384) float32
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from heron.config import Settings
from heron.errors import ModelLoadError
from heron.quiet import hushed

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

Backend = Literal["torch", "onnx", "onnx-int8"]
BACKENDS: tuple[Backend, ...] = ("torch", "onnx", "onnx-int8")
_ONNX_OPSET = 17


class Embedder:
    """Encodes texts into L2-normalized float32 vectors; the model loads on first use."""

    def __init__(
        self,
        model: str,
        backend: Backend = "torch",
        batch_size: int = 32,
        cache_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ModelLoadError(
                f"unknown embedding backend {backend!r}", f"use one of {', '.join(BACKENDS)}"
            )
        self.model = model
        self.backend = backend
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path(tempfile.gettempdir()) / "heron-embeddings"
        self._st: SentenceTransformer | None = None
        self._session: Any = None  # onnxruntime.InferenceSession, for the onnx backends

    @classmethod
    def from_settings(cls, settings: Settings) -> Embedder:
        return cls(
            settings.embedding_model_path(),
            backend=settings.memory.embedding_backend,
            batch_size=settings.memory.embedding_batch_size,
            cache_dir=settings.data_dir.expanduser() / "embeddings",
        )

    @property
    def name(self) -> str:
        """The model folder's name and the backend, recorded in each collection's metadata."""
        path = Path(self.model)
        label = f"{path.parent.name}/{path.name}" if path.name == "model" else path.name
        return f"{label} ({self.backend})"

    @property
    def dimension(self) -> int:
        st = self._sentence_transformer()
        getter = getattr(st, "get_embedding_dimension", None) or st.get_sentence_embedding_dimension
        return int(getter() or 0)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Vectors for ``texts``, shape ``(len(texts), dimension)``, unit length."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "torch":
            vectors = self._sentence_transformer().encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            return np.asarray(vectors, dtype=np.float32)
        return self._encode_onnx(list(texts))

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def close(self) -> None:
        """Free the model; the next call loads it again."""
        self._st = None
        self._session = None

    def __enter__(self) -> Embedder:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- torch -----------------------------------------------------------------------------------

    def _sentence_transformer(self) -> SentenceTransformer:
        if self._st is None:
            from sentence_transformers import SentenceTransformer

            try:
                # local_files_only: heron never downloads a model at run time.
                with hushed():  # its weight-loading bar is about heron's internals
                    self._st = SentenceTransformer(self.model, device="cpu", local_files_only=True)
            except Exception as exc:  # OSError, ValueError, HF errors: all mean "cannot load this folder"
                raise ModelLoadError(
                    f"cannot load the embedding model {self.model!r}: {exc}",
                    "set HERON_EMBEDDING_MODEL (embedding_model in heron.toml) to a local "
                    "sentence-transformers folder, or unset it to use the bundled all-MiniLM-L6-v2",
                ) from exc
        return self._st

    def _tokenize(self, texts: list[str]) -> dict[str, np.ndarray]:
        features = self._sentence_transformer().preprocess(texts)
        return {k: v.numpy() for k, v in features.items() if hasattr(v, "numpy")}

    # -- onnx ------------------------------------------------------------------------------------

    def _encode_onnx(self, texts: list[str]) -> np.ndarray:
        session = self._onnx_session()
        input_names = {i.name for i in session.get_inputs()}
        # Sorting by length keeps padding small inside each batch, as sentence-transformers does.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            features = self._tokenize([texts[i] for i in idx])
            (vectors,) = session.run(None, {k: v for k, v in features.items() if k in input_names})
            out[idx] = vectors
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-12)

    def _onnx_session(self) -> Any:
        if self._session is None:
            import onnxruntime
            import torch

            path = self._onnx_file()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = torch.get_num_threads()
            options.log_severity_level = 3
            self._session = onnxruntime.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
        return self._session

    def _onnx_file(self) -> Path:
        folder = self.cache_dir / _model_fingerprint(self.model)
        fp32 = folder / "model.onnx"
        if not fp32.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            _atomic_write(fp32, self._export_onnx)
        if self.backend == "onnx":
            return fp32
        int8 = folder / "model-int8-per-channel.onnx"
        if not int8.is_file():
            from onnxruntime.quantization import QuantType, quantize_dynamic

            with hushed():  # the quantizer's "run pre-processing" advice is addressed to heron
                _atomic_write(
                    int8,
                    lambda tmp: quantize_dynamic(fp32, tmp, weight_type=QuantType.QInt8, per_channel=True),
                )
        return int8

    def _export_onnx(self, target: Path) -> None:
        """Trace the whole sentence-transformers pipeline (transformer, pooling) into one ONNX graph."""
        import torch

        st = self._sentence_transformer()
        sample = st.preprocess(["heron exports this model once", "a second, longer sample sentence"])
        names = [k for k, v in sample.items() if isinstance(v, torch.Tensor)]
        constants = {k: v for k, v in sample.items() if not isinstance(v, torch.Tensor)}
        wrapper = _export_module(st, names, constants)
        axes = {name: {0: "batch", 1: "tokens"} for name in names} | {"embedding": {0: "batch"}}
        try:
            # The tracer warns about every Python branch on shapes; they are constant for this graph.
            with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(
                    wrapper,
                    tuple(sample[k] for k in names),
                    str(target),
                    input_names=names,
                    output_names=["embedding"],
                    dynamic_axes=axes,
                    opset_version=_ONNX_OPSET,
                    dynamo=False,
                )
        except Exception as exc:
            raise ModelLoadError(
                f"cannot export {self.model!r} to ONNX: {exc}",
                'set embedding_backend = "torch" under [memory] in heron.toml '
                "(or HERON_MEMORY__EMBEDDING_BACKEND=torch)",
            ) from exc


def _export_module(st: Any, names: list[str], constants: dict[str, Any]) -> Any:
    """A torch module over a SentenceTransformer that takes positional tensors, as ONNX export traces."""
    import torch

    class SentenceEmbeddingModule(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
            features = dict(zip(names, tensors, strict=True)) | constants
            return self.st(features)["sentence_embedding"]

    return SentenceEmbeddingModule().eval()


def _model_fingerprint(model: str) -> str:
    """Changes when the model folder's files change, so a stale export is never reused."""
    digest = hashlib.sha256(str(Path(model).resolve()).encode())
    folder = Path(model)
    if folder.is_dir():
        for file in sorted(folder.rglob("*")):
            if file.is_file():
                stat = file.stat()
                digest.update(f"{file.relative_to(folder)}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:16]


def _atomic_write(target: Path, write: Any) -> None:
    """Run ``write(tmp_path)`` then rename onto ``target``: readers never see a half-written file."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".part")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
