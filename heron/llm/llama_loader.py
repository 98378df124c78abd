"""Open a GGUF model (and optional LoRA adapter) with llama.cpp, after checking the files ourselves."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from heron.errors import ModelLoadError
from heron.llm.devices import cpu_threads, resolve_gpu_layers
from heron.llm.gguf_file import GGUFHeader, read_gguf_header
from heron.llm.llama_compat import SEQUENCES, heron_load_params


@dataclass(frozen=True)
class LoadedModel:
    """A ``llama_cpp.Llama`` and what heron learned about it while loading."""

    llama: Any
    header: GGUFHeader
    context_size: int
    gpu_layers: int
    threads: int
    lora: GGUFHeader | None


def load_llama(
    model_path: Path,
    *,
    context_size: int,
    gpu_layers: int | Literal["auto"],
    threads: int | None,
    seed: int,
    lora_path: Path | None = None,
    lora_scale: float = 1.0,
) -> LoadedModel:
    """Check the GGUF file(s), then load them; every failure is a ModelLoadError naming the file."""
    model_path = Path(model_path).expanduser()
    header = read_gguf_header(model_path, "model")
    if header.file_type == "adapter":
        raise ModelLoadError(
            f"{model_path} is a LoRA adapter, not a model",
            "set model_path to the base model's GGUF and lora_path to this adapter",
        )
    if header.chat_template is None:
        raise ModelLoadError(
            f"{model_path} has no chat template (tokenizer.chat_template) in its GGUF metadata",
            "use an instruct/chat model's GGUF, or add the template with gguf-py's gguf_new_metadata.py",
        )
    lora = None
    if lora_path is not None:
        lora_path = Path(lora_path).expanduser()
        lora = read_gguf_header(lora_path, "LoRA adapter")
        check_lora_matches(lora, header)
    trained = header.trained_context
    n_ctx = min(context_size, trained) if trained else context_size
    # unset: like llama.cpp, decode on one thread per physical core, process prompts on every CPU
    n_threads, n_threads_batch = (threads, threads) if threads else cpu_threads()
    n_gpu_layers = resolve_gpu_layers(gpu_layers)

    from llama_cpp import Llama

    try:
        with heron_load_params():
            llama = Llama(
                model_path=str(model_path),
                n_ctx=n_ctx * SEQUENCES,  # each sequence holds n_ctx tokens
                n_batch=min(512, n_ctx),
                n_gpu_layers=n_gpu_layers,
                n_threads=n_threads,
                n_threads_batch=n_threads_batch,
                seed=seed,
                lora_path=str(lora_path) if lora_path else None,
                lora_scale=lora_scale,
                verbose=False,
            )
    except (ValueError, RuntimeError, OSError) as exc:
        what = f"{model_path}" + (f" with LoRA adapter {lora_path}" if lora_path else "")
        raise ModelLoadError(
            f"llama.cpp could not load {what}: {exc}",
            "check that the file is a complete GGUF for an architecture this llama.cpp supports "
            "(run `heron doctor`), and that there is memory for context_size tokens",
        ) from exc
    return LoadedModel(llama, header, n_ctx, n_gpu_layers, n_threads, lora)


def check_lora_matches(lora: GGUFHeader, base: GGUFHeader) -> None:
    """The adapter is a LoRA for this architecture, and each of its tensor pairs fits a base tensor."""
    path = lora.path
    if lora.file_type != "adapter" or lora.metadata.get("adapter.type") != "lora":
        raise ModelLoadError(
            f"{path} is not a LoRA adapter (general.type={lora.file_type!r}, "
            f"adapter.type={lora.metadata.get('adapter.type')!r})",
            "convert the adapter with llama.cpp's convert_lora_to_gguf.py",
        )
    if lora.architecture != base.architecture:
        raise ModelLoadError(
            f"LoRA adapter {path} is for architecture {lora.architecture!r}, "
            f"the model is {base.architecture!r}",
            "use an adapter trained on this base model",
        )
    base_shapes = {t.name: t.shape for t in base.tensors}
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for info in lora.tensors:
        target, _, part = info.name.rpartition(".")
        if part in ("lora_a", "lora_b"):
            pairs.setdefault(target, {})[part] = info.shape
    if not pairs:
        raise ModelLoadError(f"LoRA adapter {path} holds no lora_a/lora_b tensors", "re-convert the adapter")
    for target, parts in pairs.items():
        shape = base_shapes.get(target)
        if shape is None or len(shape) < 2:
            raise ModelLoadError(
                f"LoRA adapter {path} changes tensor {target!r}, which the model does not have",
                "use an adapter trained on this base model",
            )
        a, b = parts.get("lora_a"), parts.get("lora_b")
        if a is None or b is None:
            raise ModelLoadError(
                f"LoRA adapter {path} has only half of the pair for {target!r}", "re-convert the adapter"
            )
        if target != "token_embd.weight" and (a[0] != shape[0] or b[1] != shape[1] or a[1] != b[0]):
            raise ModelLoadError(
                f"LoRA adapter {path}: shapes for {target!r} (a={a}, b={b}) do not fit the model's {shape}",
                "use an adapter trained on this base model",
            )
