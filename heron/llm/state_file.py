"""The file ``save_state`` writes: a JSON header naming the backend and model, then backend data.

Layout: ``HERONKV1`` magic, a 4-byte little-endian header length, the UTF-8 JSON header, then the
payload (for the local backend: the cached token ids as int32, then llama.cpp's KV-cache bytes).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path
from typing import Any

from heron.errors import StateFileError

MAGIC = b"HERONKV1"


def write_state_file(path: Path, header: dict[str, Any], payload: bytes = b"") -> None:
    """Write atomically: a crash mid-write leaves the previous file, never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    head = json.dumps(header, sort_keys=True).encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(MAGIC)
        fh.write(struct.pack("<I", len(head)))
        fh.write(head)
        fh.write(payload)
    os.replace(tmp, path)


def read_state_file(path: Path, backend: str) -> tuple[dict[str, Any], bytes]:
    """Header and payload of a state file saved by ``backend``; StateFileError says what does not fit."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise StateFileError(f"state file not found: {path}", "pass the path given to save_state()") from exc
    except OSError as exc:
        raise StateFileError(f"cannot read state file {path}: {exc}", "check the file's permissions") from exc
    if not raw.startswith(MAGIC) or len(raw) < len(MAGIC) + 4:
        raise StateFileError(f"{path} is not a heron LLM state file", "pass a file written by save_state()")
    (head_len,) = struct.unpack_from("<I", raw, len(MAGIC))
    start = len(MAGIC) + 4
    try:
        header = json.loads(raw[start : start + head_len])
    except ValueError as exc:
        raise StateFileError(f"{path} has a damaged header", "save the state again") from exc
    if header.get("backend") != backend:
        raise StateFileError(
            f"{path} was saved by the {header.get('backend')!r} backend, this LLM is {backend!r}",
            "load a state into the same kind of LLM that saved it",
        )
    payload = raw[start + head_len :]
    if len(payload) != header.get("payload_bytes", len(payload)):
        raise StateFileError(
            f"{path} is truncated: {len(payload)} of {header['payload_bytes']} payload bytes",
            "save the state again",
        )
    return header, payload
