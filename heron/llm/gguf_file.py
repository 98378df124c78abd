"""Read and check a GGUF file's header before llama.cpp sees it, so a bad file is a clear error, not a crash.

``read_gguf_header(path)`` checks the magic, version, the metadata and tensor tables, and that the
tensor data the header points at lies inside the file (a truncated download fails here). It returns
the scalar and string metadata (arrays only as their length) the runtime needs: architecture,
trained context, chat template, whether the file is a LoRA adapter.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heron.errors import ModelLoadError

GGUF_MAGIC = b"GGUF"
SUPPORTED_VERSIONS = (2, 3)
DEFAULT_ALIGNMENT = 32
_MAX_COUNT = 1 << 24  # more tensors or metadata keys than any real model: the header is garbage

# GGUF metadata value types -> struct format of one value (8 = string, 9 = array are read separately).
_SCALAR_FORMATS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

# ggml tensor type id -> (elements per block, bytes per block); used to check that tensor data fits the file.
# Types not listed here are left to llama.cpp's own bounds check.
_TYPE_SIZES = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 40),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
}


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # ggml order: shape[0] is the row length
    type_id: int
    offset: int  # relative to the start of the data section


@dataclass(frozen=True)
class GGUFHeader:
    """What a GGUF file declares about itself."""

    path: Path
    version: int
    metadata: dict[str, Any]
    tensors: list[TensorInfo] = field(repr=False)
    data_offset: int

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def file_type(self) -> str:
        """``general.type``: "model" for a model, "adapter" for a LoRA (absent in old files: a model)."""
        return str(self.metadata.get("general.type", "model"))

    @property
    def trained_context(self) -> int | None:
        value = self.metadata.get(f"{self.architecture}.context_length")
        return int(value) if isinstance(value, int) else None

    @property
    def chat_template(self) -> str | None:
        value = self.metadata.get("tokenizer.chat_template")
        return value if isinstance(value, str) and value.strip() else None

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name") or self.path.stem)


class _Truncated(Exception):
    """The header claims more bytes than the file has."""


class _Reader:
    """Sequential little-endian reads over a memory map, with bounds checks."""

    def __init__(self, buffer: mmap.mmap) -> None:
        self.buffer = buffer
        self.pos = 0

    def unpack(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buffer):
            raise _Truncated
        (value,) = struct.unpack_from(fmt, self.buffer, self.pos)
        self.pos += size
        return value

    def string(self) -> str:
        length = self.unpack("<Q")
        if self.pos + length > len(self.buffer):
            raise _Truncated
        raw = self.buffer[self.pos : self.pos + length]
        self.pos += length
        return raw.decode("utf-8", errors="replace")

    def skip_string(self) -> None:
        length = self.unpack("<Q")
        if self.pos + length > len(self.buffer):
            raise _Truncated
        self.pos += length

    def value(self, type_id: int, keep: bool = True) -> Any:
        if type_id in _SCALAR_FORMATS:
            return self.unpack(_SCALAR_FORMATS[type_id])
        if type_id == _STRING:
            return self.string()
        if type_id == _ARRAY:
            item_type = self.unpack("<I")
            count = self.unpack("<Q")
            if item_type in _SCALAR_FORMATS:
                width = struct.calcsize(_SCALAR_FORMATS[item_type])
                if self.pos + width * count > len(self.buffer):
                    raise _Truncated
                self.pos += width * count
            elif item_type == _STRING:
                for _ in range(count):
                    self.skip_string()
            else:
                raise ValueError(f"unsupported array item type {item_type}")
            return _ArrayLength(count)
        raise ValueError(f"unknown metadata value type {type_id}")


@dataclass(frozen=True)
class _ArrayLength:
    """Stands in for a metadata array: the runtime only needs to know it is there and how long it is."""

    length: int


def read_gguf_header(path: Path, what: str = "model") -> GGUFHeader:
    """Parse and check the header of the GGUF file at ``path``; raise ModelLoadError saying what is wrong.

    ``what`` names the file in messages ("model", "LoRA adapter").
    """
    expected = f"a GGUF {what} file (GGUF version {' or '.join(map(str, SUPPORTED_VERSIONS))})"
    if not path.exists():
        raise ModelLoadError(
            f"{what} file not found: {path}", f"point heron at an existing .gguf file ({expected})"
        )
    if not path.is_file():
        raise ModelLoadError(f"{what} path is not a file: {path}", f"expected {expected}")
    size = path.stat().st_size
    if size < 24:
        raise ModelLoadError(
            f"{path} is not a GGUF {what}: {size} bytes, too short for a GGUF header",
            f"expected {expected}; the download may have failed",
        )
    try:
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
            return _parse(path, buffer, what, expected)
    except OSError as exc:
        raise ModelLoadError(
            f"cannot read {what} file {path}: {exc}", "check the file's permissions"
        ) from exc


def _parse(path: Path, buffer: mmap.mmap, what: str, expected: str) -> GGUFHeader:
    magic = bytes(buffer[:4])
    if magic != GGUF_MAGIC:
        raise ModelLoadError(
            f"{path} is not a GGUF {what}: it starts with {magic!r}, not {GGUF_MAGIC!r}",
            f"expected {expected}; convert other formats with llama.cpp's convert_hf_to_gguf.py",
        )
    reader = _Reader(buffer)
    reader.pos = 4
    try:
        version = reader.unpack("<I")
        if version not in SUPPORTED_VERSIONS:
            raise ModelLoadError(
                f"{path} is GGUF version {version}; heron's llama.cpp reads versions "
                f"{', '.join(map(str, SUPPORTED_VERSIONS))}",
                "re-convert the model with a current llama.cpp",
            )
        n_tensors = reader.unpack("<Q")
        n_kv = reader.unpack("<Q")
        if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
            raise _Corrupt(f"the header claims {n_tensors} tensors and {n_kv} metadata keys")
        metadata: dict[str, Any] = {}
        for _ in range(n_kv):
            key = reader.string()
            metadata[key] = reader.value(reader.unpack("<I"))
        tensors = [_read_tensor_info(reader) for _ in range(n_tensors)]
    except _Truncated:
        raise ModelLoadError(
            f"{path} is truncated: its GGUF header ends past the end of the file ({len(buffer)} bytes)",
            "download or copy the file again",
        ) from None
    except (_Corrupt, ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{path} has a damaged GGUF header: {exc}", f"expected {expected}") from exc

    alignment = metadata.get("general.alignment", DEFAULT_ALIGNMENT)
    if not isinstance(alignment, int) or alignment <= 0:
        alignment = DEFAULT_ALIGNMENT
    data_offset = -(-reader.pos // alignment) * alignment
    _check_tensor_data_fits(path, tensors, data_offset, len(buffer))
    return GGUFHeader(path=path, version=version, metadata=metadata, tensors=tensors, data_offset=data_offset)


class _Corrupt(Exception):
    """The header is readable but its numbers cannot be right."""


def _read_tensor_info(reader: _Reader) -> TensorInfo:
    name = reader.string()
    n_dims = reader.unpack("<I")
    if n_dims > 8:
        raise _Corrupt(f"tensor {name!r} claims {n_dims} dimensions")
    shape = tuple(reader.unpack("<Q") for _ in range(n_dims))
    type_id = reader.unpack("<I")
    offset = reader.unpack("<Q")
    return TensorInfo(name=name, shape=shape, type_id=type_id, offset=offset)


def tensor_nbytes(info: TensorInfo) -> int | None:
    """Bytes of tensor data, or None for a type this table does not know."""
    sizes = _TYPE_SIZES.get(info.type_id)
    if sizes is None:
        return None
    block, block_bytes = sizes
    elements = 1
    for dim in info.shape:
        elements *= dim
    return -(-elements // block) * block_bytes


def _check_tensor_data_fits(path: Path, tensors: list[TensorInfo], data_offset: int, file_size: int) -> None:
    for info in tensors:
        nbytes = tensor_nbytes(info) or 0
        end = data_offset + info.offset + nbytes
        if end > file_size:
            raise ModelLoadError(
                f"{path} is truncated: tensor {info.name!r} needs bytes up to {end:,}, "
                f"the file has {file_size:,}",
                "download or copy the file again",
            )
