"""A local diffusers text-to-image model: found, loaded once, placed on a device, run with fixed seeds.

Loading never touches the network (``local_files_only``): the folder must hold a complete diffusers
model (``model_index.json`` plus its parts), e.g. one made by ``huggingface-cli download
stabilityai/sd-turbo --local-dir ~/models/sd-turbo`` or by ``pipeline.save_pretrained(folder)``.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from heron.config import ImageSettings
from heron.errors import ImageModelError

# Distilled few-step models: 1-4 steps without classifier-free guidance. Others (SD 1.5, SDXL base)
# need ~25 steps with guidance; a folder's name is the only hint diffusers gives us.
FEW_STEP_MARKERS = ("turbo", "lcm", "lightning", "schnell", "hyper")

INSTALL_HINT = "install the image extra: pip install 'heron[image]' (diffusers, transformers, accelerate)"
CONFIGURE_HINT = (
    "set HERON_IMAGE__MODEL_PATH (or model_path under [image] in heron.toml) to a local diffusers "
    "model folder, e.g. `huggingface-cli download stabilityai/sd-turbo --local-dir ~/models/sd-turbo`"
)

StepCallback = Callable[[int, int], None]  # (steps done, steps in all)


@dataclass(frozen=True)
class ImageRequest:
    """One call's worth of images: a prompt, a size, and one seed per image."""

    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    guidance: float
    seeds: tuple[int, ...]


class DiffusionModel:
    """A diffusers pipeline from a local folder, on the device the settings chose.

    >>> model = DiffusionModel.load(settings.image)
    >>> images = model.generate(ImageRequest("a lighthouse at dusk", "", 512, 512, 4, 0.0, (7,)))
    """

    def __init__(self, pipeline: Any, path: Path, device: str, dtype: str) -> None:
        self.pipeline = pipeline
        self.path = path
        self.device = device
        self.dtype = dtype
        self.resident_device = device  # where the weights are now ("cpu" while parked for the LLM)
        self.few_step = any(marker in path.name.lower() for marker in FEW_STEP_MARKERS)
        self.pipeline.set_progress_bar_config(disable=True)  # heron reports steps itself

    @classmethod
    def load(cls, settings: ImageSettings) -> DiffusionModel:
        """Load ``settings.model_path``; every failure is an ImageModelError saying how to fix it."""
        path = check_model_folder(settings.model_path)
        try:
            import diffusers
            import torch
        except ImportError as exc:
            raise ImageModelError(
                f"image generation needs diffusers and torch ({exc})", INSTALL_HINT
            ) from exc
        device = resolve_device(settings.device, torch)
        dtype_name = resolve_dtype(settings.dtype, device)
        with _no_loading_bars(diffusers):  # they would tear the REPL's screen
            pipeline = _from_folder(diffusers, path, getattr(torch, dtype_name))
        pipeline.to(device)
        return cls(pipeline, path, device, dtype_name)

    @property
    def name(self) -> str:
        return self.path.name

    def default_steps(self) -> int:
        return 4 if self.few_step else 25

    def default_guidance(self) -> float:
        return 0.0 if self.few_step else 7.5

    def generate(self, request: ImageRequest, on_step: StepCallback | None = None) -> list[Any]:
        """The images (PIL) for ``request``; image *i* comes from a CPU generator seeded ``seeds[i]``,
        so a seed gives the same starting noise on any device."""
        import torch

        self.place(self.device)
        generators = [torch.Generator("cpu").manual_seed(seed) for seed in request.seeds]
        kwargs: dict[str, Any] = {
            "prompt": request.prompt,
            "height": request.height,
            "width": request.width,
            "num_inference_steps": request.steps,
            "guidance_scale": request.guidance,
            "num_images_per_prompt": len(request.seeds),
            "generator": generators,
        }
        if request.negative_prompt and request.guidance > 1.0:  # without guidance it is ignored
            kwargs["negative_prompt"] = request.negative_prompt
        if (
            on_step is not None
            and "callback_on_step_end" in inspect.signature(self.pipeline.__call__).parameters
        ):

            def step_end(_pipe: Any, index: int, _timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
                on_step(index + 1, request.steps)
                return tensors

            kwargs["callback_on_step_end"] = step_end
        with torch.inference_mode():
            output = self.pipeline(**kwargs)
        return list(output.images)

    def place(self, device: str) -> None:
        """Move the weights to ``device`` (no-op when they are there)."""
        if self.resident_device != device:
            self.pipeline.to(device)
            self.resident_device = device

    def park(self) -> None:
        """Move the weights to CPU memory and free the GPU's cache, so the LLM can have the VRAM back."""
        if self.resident_device == "cpu":
            return
        import torch

        self.place("cpu")
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def close(self) -> None:
        self.park()
        self.pipeline = None


def check_model_folder(path: Path | None) -> Path:
    """The model folder, or an ImageModelError saying what is wrong with it."""
    if path is None:
        raise ImageModelError("no image model is configured", CONFIGURE_HINT)
    folder = path.expanduser()
    if not folder.is_dir():
        raise ImageModelError(f"image model folder not found: {folder}", CONFIGURE_HINT)
    index = folder / "model_index.json"
    if not index.is_file():
        raise ImageModelError(
            f"{folder} is not a diffusers model folder (it has no model_index.json)",
            "point image.model_path at the folder holding model_index.json, unet/, vae/, text_encoder/ ...; "
            "single-file checkpoints (.safetensors) must be converted with diffusers first",
        )
    try:
        json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ImageModelError(f"{index} is not valid JSON ({exc})", "download the model again") from exc
    return folder


def resolve_device(device: str, torch: Any) -> str:
    if device == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise ImageModelError(
            "image.device is 'cuda' but torch sees no CUDA GPU",
            "set image.device to 'auto' or 'cpu', or install a CUDA build of torch",
        )
    return device


def resolve_dtype(dtype: str, device: str) -> str:
    if dtype == "auto":
        return "float32" if device == "cpu" else "float16"
    return dtype


@contextmanager
def _no_loading_bars(diffusers: Any) -> Iterator[None]:
    import transformers

    switched = []
    verbosity = transformers.utils.logging.get_verbosity()
    # transformers also warns, while diffusers imports it, about image processors we never use
    transformers.utils.logging.set_verbosity_error()
    for logging in (diffusers.utils.logging, transformers.utils.logging):
        if logging.is_progress_bar_enabled():
            logging.disable_progress_bar()
            switched.append(logging)
    try:
        yield
    finally:
        for logging in switched:
            logging.enable_progress_bar()
        transformers.utils.logging.set_verbosity(verbosity)


def _from_folder(diffusers: Any, path: Path, dtype: Any) -> Any:
    # AutoPipelineForText2Image maps SD, SDXL, SD3, Flux, ... to their text-to-image class; a folder
    # it does not know (a custom pipeline) still loads through DiffusionPipeline.
    loaders = (diffusers.AutoPipelineForText2Image, diffusers.DiffusionPipeline)
    last: Exception | None = None
    for loader in loaders:
        try:
            return loader.from_pretrained(path, local_files_only=True, dtype=dtype)
        except (ValueError, KeyError) as exc:  # "not a text-to-image pipeline" and the like
            last = exc
        except (OSError, RuntimeError) as exc:  # missing or corrupt weight files
            raise ImageModelError(
                f"cannot load the image model in {path}: {exc}",
                "check that the download is complete (every component folder has its weights)",
            ) from exc
    raise ImageModelError(f"cannot load {path} as a text-to-image model: {last}", CONFIGURE_HINT) from last
