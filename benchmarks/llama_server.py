"""llama.cpp's own `llama-server` as a benchmark peer: find the binary `make llama-server` built (or
$HERON_LLAMA_SERVER), start it on a free local port with native Jinja tool calling (`--jinja`), stop it.

    with LlamaServer(model_path) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="none")
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from heron.llm.devices import cpu_threads

CACHE = Path.home() / ".cache" / "heron" / "llama-server"


def find_binary() -> Path | None:
    explicit = os.environ.get("HERON_LLAMA_SERVER")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    found = sorted(CACHE.glob("*/llama-server"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None


def _has_amx() -> bool:
    try:
        return "amx_int8" in Path("/proc/cpuinfo").read_text()
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LlamaServer:
    """``llama-server --jinja`` on one model: temperature 0 comes per request; threads as heron's
    defaults (``heron.llm.devices.cpu_threads``: one per physical core to decode, every CPU for
    prompts); one slot; 4096 tokens of context."""

    def __init__(self, model_path: str, n_ctx: int = 4096, binary: Path | None = None) -> None:
        self.binary = binary or find_binary()
        if self.binary is None:
            raise FileNotFoundError("no llama-server: run `make llama-server` (or set HERON_LLAMA_SERVER)")
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> LlamaServer:
        threads, threads_batch = cpu_threads()
        cmd = [
            str(self.binary),
            "-m", self.model_path,
            "--jinja",
            "-c", str(self.n_ctx),
            "-np", "1",
            "-t", str(threads),
            "-tb", str(threads_batch),
            "--host", "127.0.0.1",
            "--port", str(self.port),
        ]  # fmt: skip
        if _has_amx():  # the same guard heron's loader applies (heron/llm/llama_compat.py)
            cmd.append("--no-repack")
        self._proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"llama-server exited with {self._proc.returncode}: {' '.join(cmd)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=2) as r:
                    if r.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise TimeoutError("llama-server did not become healthy in 300 s")

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None
