"""Image generation: heron's generate_image tool against a bare diffusers pipeline call, same model.

The model is heron's tiny random Stable Diffusion pipeline (``heron.tools.image.tiny``), built
offline, so the figures measure the framework (loading path, PNG + provenance writing, progress
events, GPU hand-over) rather than a checkpoint. Sizes: 512x512, 4 steps, as in the image issue.
On a CUDA machine it also times the GPU hand-over: the bundled LLM fully offloaded, suspended for
the diffusion run and resumed after (``gpu_sharing="swap"``).

Usage: ``.venv/bin/python benchmarks/bench_image.py [--repeats N] [--size 512] [--steps 4]``;
writes benchmarks/out/bench_image.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

OUT = Path(__file__).resolve().parent / "out" / "bench_image.json"


def bare_diffusers(folder: Path, device: str, size: int, steps: int, repeats: int) -> list[float]:
    """The peer: the pipeline loaded and called directly, image saved as a plain PNG."""
    import diffusers
    import torch

    dtype = torch.float16 if device == "cuda" else torch.float32
    pipe = diffusers.AutoPipelineForText2Image.from_pretrained(folder, local_files_only=True, dtype=dtype)
    pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    times = []
    with tempfile.TemporaryDirectory() as out:
        for i in range(repeats + 1):
            started = time.perf_counter()
            image = pipe(
                "a lighthouse at dusk",
                height=size,
                width=size,
                num_inference_steps=steps,
                guidance_scale=0.0,
                generator=torch.Generator("cpu").manual_seed(i),
            ).images[0]
            image.save(Path(out) / f"{i}.png")
            if device == "cuda":
                torch.cuda.synchronize()
            if i:  # the first call warms kernels and allocators up
                times.append(time.perf_counter() - started)
    return times


def heron_tool(
    folder: Path, device: str, size: int, steps: int, repeats: int, sharing: str
) -> dict[str, Any]:
    from heron.config import load_settings
    from heron.tools import ToolContext
    from heron.tools.image import GenerateImageTool

    settings = load_settings(image={"model_path": folder, "device": device, "gpu_sharing": sharing})
    llm = None
    if device == "cuda" and sharing == "swap":
        from heron.llm import LocalLLM

        llm = LocalLLM.from_settings(settings.model_copy(update={"gpu_layers": -1}))
    times: list[float] = []
    with tempfile.TemporaryDirectory() as ws, GenerateImageTool() as tool:
        ctx = ToolContext(ws, settings=settings)
        if llm is not None:
            ctx.gpu.register(llm)
        for i in range(repeats + 1):
            started = time.perf_counter()
            result = tool.invoke({"prompt": "a lighthouse at dusk", "width": size, "height": size,
                                  "steps": steps, "guidance": 0.0, "seed": i}, ctx)  # fmt: skip
            assert not result.is_error, result.text
            if i:
                times.append(time.perf_counter() - started)
        swaps = [(r.suspend_seconds, r.resume_seconds, r.suspended) for r in ctx.gpu.history]
    if llm is not None:
        llm.close()
    return {"times": times, "swaps": swaps[1:]}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()

    import torch

    from heron.tools.image.tiny import build_tiny_pipeline

    device = "cuda" if torch.cuda.is_available() else "cpu"
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_pipeline(Path(tmp) / "tiny-sd")
        peer = bare_diffusers(folder, device, args.size, args.steps, args.repeats)
        keep = heron_tool(folder, device, args.size, args.steps, args.repeats, "keep")
        swap = (
            heron_tool(folder, device, args.size, args.steps, args.repeats, "swap")
            if device == "cuda"
            else None
        )
    results: dict[str, Any] = {
        "machine": f"{platform.node()} {platform.machine()}, python {platform.python_version()}",
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "size": args.size,
        "steps": args.steps,
        "repeats": args.repeats,
        "bare_diffusers_median_s": statistics.median(peer),
        "heron_keep_median_s": statistics.median(keep["times"]),
        "ratio_heron_keep_over_diffusers": statistics.median(keep["times"]) / statistics.median(peer),
    }
    if swap is not None:
        results["heron_swap_median_s"] = statistics.median(swap["times"])
        results["llm_suspend_resume_s"] = swap["swaps"]
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(json.dumps(results, indent=2))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
