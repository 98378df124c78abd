"""The load-time parameters heron sets on llama.cpp's defaults (heron.llm.llama_compat)."""

from __future__ import annotations

import threading

import pytest

from heron.llm import llama_compat


@pytest.mark.parametrize("amx", [False, True])
def test_heron_load_params_set_two_sequences_and_the_amx_guard_without_deadlock(
    amx: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llama_cpp.llama_cpp as raw

    monkeypatch.setattr(llama_compat, "cpu_backend_has_amx", lambda: amx)
    seen: dict[str, object] = {}

    def load() -> None:
        with llama_compat.heron_load_params():
            context, model = raw.llama_context_default_params(), raw.llama_model_default_params()
            seen.update(
                n_seq_max=context.n_seq_max, kv_unified=context.kv_unified, extra=model.use_extra_bufts
            )

    worker = threading.Thread(target=load, daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "heron_load_params deadlocked"
    # each sequence in cells of its own (a reply does not depend on what was scored beside it)
    assert seen == {"n_seq_max": llama_compat.SEQUENCES, "kv_unified": False, "extra": not amx}
    assert raw.llama_context_default_params().n_seq_max == 1  # the defaults are restored after
