"""Run llama-cpp-python's OpenAI-compatible server with heron's llama.cpp safeguards.

    python -m heron.llm.serve --model model.gguf --host 127.0.0.1 --port 8080

Takes ``python -m llama_cpp.server``'s arguments unchanged. It differs in two settings that keep the
server from crashing or crawling on some machines (see ``heron.llm.llama_compat``): weights stay in
plain CPU buffers where ggml's AMX kernels would crash, and idle OpenMP threads sleep instead of
spinning. Point heron at it with ``HERON_LLM_BASE_URL=http://127.0.0.1:8080/v1``.
"""

from __future__ import annotations

import os


def main() -> None:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before llama_cpp loads libgomp
    from llama_cpp.server.__main__ import main as serve

    from heron.llm.llama_compat import safe_model_params

    with safe_model_params():
        serve()


if __name__ == "__main__":
    main()
