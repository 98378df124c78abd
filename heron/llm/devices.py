"""What llama.cpp can run on here: GPU offload support and ggml's backend devices (CPU, CUDA0, ...)."""

from __future__ import annotations

import ctypes
from typing import Literal


def gpu_offload_supported() -> bool:
    """True when this llama-cpp-python build can offload layers to a GPU."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_gpu_layers(gpu_layers: int | Literal["auto"]) -> int:
    """The ``n_gpu_layers`` to pass to llama.cpp: "auto" is all layers (-1) with GPU offload, else 0."""
    if gpu_layers == "auto":
        return -1 if gpu_offload_supported() else 0
    return gpu_layers


def llama_devices() -> list[str]:
    """Backend devices ggml sees, as "NAME (description)".

    llama-cpp-python 0.3.36 does not bind ``ggml_backend_dev_*``; they live in the ``libggml`` it ships,
    so they are called through ctypes. Returns [] when that library does not export them.
    """
    try:
        from llama_cpp._ggml import libggml
    except (ImportError, OSError):
        return []
    try:
        count_fn = libggml.ggml_backend_dev_count
        get_fn = libggml.ggml_backend_dev_get
        name_fn = libggml.ggml_backend_dev_name
        desc_fn = libggml.ggml_backend_dev_description
    except AttributeError:
        return []
    count_fn.restype, count_fn.argtypes = ctypes.c_size_t, []
    get_fn.restype, get_fn.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    name_fn.restype, name_fn.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    desc_fn.restype, desc_fn.argtypes = ctypes.c_char_p, [ctypes.c_void_p]
    devices = []
    for i in range(int(count_fn())):
        device = get_fn(i)
        name = (name_fn(device) or b"?").decode(errors="replace")
        description = (desc_fn(device) or b"").decode(errors="replace")
        devices.append(f"{name} ({description})" if description else name)
    return devices
