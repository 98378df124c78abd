"""The llama.cpp parameters ``Llama(...)`` does not expose, set while it loads (``heron_load_params``).

**Two KV sequences.** ``LocalLLM`` scores prompts (yes/no checks, judges) in a second sequence of the
context so they never displace the conversation it generates for. ``Llama`` creates its context with
one sequence; heron asks for two, each with KV cells of its own (``kv_unified`` off: llama.cpp
gives each sequence ``n_ctx / 2`` cells, so the loader passes twice the context a sequence needs).
In one unified set of cells the scored prompts sat between the conversation's tokens and changed
the order of attention's floating-point sums: a greedy reply depended on what had been scored.

**No AMX kernels.** A llama-cpp-python 0.3.36 built with ``GGML_NATIVE`` on a CPU with AMX (Sapphire
Rapids and later) runs weights through ggml's AMX "extra buffer type", and its
``ggml_backend_amx_mul_mat`` segfaults on the first multi-token batch (seen with the bundled Q4_1
SmolLM2 on the reference machine). The model parameter ``use_extra_bufts = false`` keeps weights in
plain CPU buffers and avoids it; the cost is the weight-repacking speed-up on such CPUs. The real fix
is a build without AMX kernels: ``CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX2=ON -DGGML_AVX512=ON
-DGGML_FMA=ON -DGGML_F16C=ON" pip install --force-reinstall llama-cpp-python``.

Both are set on the defaults ``Llama`` asks llama.cpp for, for the time of the load
(``heron_load_params``; ``safe_model_params`` only avoids AMX, for the benchmarks' peers).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache

_PATCH_LOCK = threading.RLock()  # heron_load_params holds it around safe_model_params, which takes it too


@cache
def cpu_backend_has_amx() -> bool:
    """True when this llama.cpp build runs matrix products through AMX kernels."""
    import llama_cpp

    info = llama_cpp.llama_print_system_info().decode(errors="replace")
    return "AMX_INT8 = 1" in info


SEQUENCES = 2  # the conversation, and the prompts scored beside it


@contextmanager
def safe_model_params() -> Iterator[None]:
    """While active, ``Llama(...)`` loads with ``use_extra_bufts=False`` if the build has AMX kernels."""
    if not cpu_backend_has_amx():
        yield
        return
    import llama_cpp.llama_cpp as raw

    with _PATCH_LOCK:
        original = raw.llama_model_default_params

        def defaults_without_extra_buffers() -> raw.llama_model_params:
            params = original()
            params.use_extra_bufts = False
            return params

        raw.llama_model_default_params = defaults_without_extra_buffers
        try:
            yield
        finally:
            raw.llama_model_default_params = original


@contextmanager
def heron_load_params() -> Iterator[None]:
    """``safe_model_params``, and a context of ``SEQUENCES`` sequences, each in its own KV cells (the
    context's n_ctx is shared out: pass ``SEQUENCES`` times the tokens one sequence needs)."""
    import llama_cpp.llama_cpp as raw

    with safe_model_params(), _PATCH_LOCK:
        original = raw.llama_context_default_params

        def two_sequences() -> raw.llama_context_params:
            params = original()
            params.n_seq_max = SEQUENCES
            params.kv_unified = False  # a stream of cells per sequence: one never moves the other's
            return params

        raw.llama_context_default_params = two_sequences
        try:
            yield
        finally:
            raw.llama_context_default_params = original
