"""What llama.cpp can run on here: GPU offload support and ggml's backend devices (CPU, CUDA0, ...)."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Literal

CPU_TOPOLOGY = Path("/sys/devices/system/cpu")


def gpu_offload_supported() -> bool:
    """True when this llama-cpp-python build can offload layers to a GPU."""
    import llama_cpp

    return bool(llama_cpp.llama_supports_gpu_offload())


def resolve_gpu_layers(gpu_layers: int | Literal["auto"]) -> int:
    """The ``n_gpu_layers`` to pass to llama.cpp: "auto" is all layers (-1) with GPU offload, else 0."""
    if gpu_layers == "auto":
        return -1 if gpu_offload_supported() else 0
    return gpu_layers


def cpu_threads() -> tuple[int, int]:
    """(threads to decode with, threads to process prompts with) on this machine's CPUs, as llama.cpp
    itself picks them: one per physical core to decode (a second hyper-thread of a core only waits
    on the same memory), every logical CPU for prompts. Only the CPUs this process may run on count;
    where the kernel does not say which are hyper-threads of one core (no Linux sysfs), each is a core.

    (heron used to decode on half the logical CPUs, which halves decoding on a machine without
    hyper-threads: 7.4 against llama-cpp-python's 11.6 tokens/s on 2 cores; BENCHMARKS.md.)
    """
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # (not Linux)
        cpus = list(range(os.cpu_count() or 1))
    cores = set()
    for cpu in cpus:
        try:
            cores.add((CPU_TOPOLOGY / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip())
        except OSError:
            return len(cpus), len(cpus)
    return max(1, len(cores)), max(1, len(cpus))


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
