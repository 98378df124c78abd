"""The ``generate_image`` tool: text to PNG files in the workspace, with provenance, on a local model."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from pydantic import Field

from heron.config import ImageSettings
from heron.errors import ImageModelError, ModelRetry, UsageError
from heron.tools.context import ToolContext
from heron.tools.image.pipeline import DiffusionModel, ImageRequest
from heron.tools.image.provenance import GenerationRecord, save_png
from heron.tools.lazy import LazyTool
from heron.tools.results import Artifact, ToolResult

Side = Annotated[int, Field(ge=64, le=2048)]


class GenerateImageTool(LazyTool, name="generate_image"):
    """Makes images with the diffusers model named by ``settings.image``; the model loads on the first
    call and stays loaded for the process (``close()`` frees it). Calls are serialized."""

    def __init__(self) -> None:
        super().__init__()
        self.model: DiffusionModel | None = None
        self.loads = 0  # how many times a model was loaded (it should be once per process)
        self._model_key: tuple[object, ...] | None = None
        self._run_lock = threading.Lock()

    def run(
        self,
        prompt: Annotated[str, Field(min_length=1, max_length=1000)],
        ctx: ToolContext,
        negative_prompt: Annotated[str, Field(max_length=500)] = "",
        width: Side | None = None,
        height: Side | None = None,
        steps: Annotated[int, Field(ge=1, le=200)] | None = None,
        guidance: Annotated[float, Field(ge=0.0, le=30.0)] | None = None,
        seed: Annotated[int, Field(ge=0, le=2**32 - 1)] | None = None,
        variations: Annotated[int, Field(ge=1, le=16)] = 1,
    ) -> ToolResult:
        """Create images from a text description with a local diffusion model and save them as PNG
        files in the workspace. Use it when the user asks for a picture, drawing, photo or illustration.

        Args:
            prompt: what the image should show, in a short descriptive sentence
            negative_prompt: what the image should not show
            width: image width in pixels, at most the configured width (rounded down to a multiple of 8)
            height: image height in pixels, at most the configured height (rounded down to a multiple of 8)
            steps: denoising steps, at most the configured number; more is slower and finer
            guidance: how strictly to follow the prompt (0 for turbo models, about 7 otherwise)
            seed: random seed; the same seed and prompt give the same image
            variations: how many different images to make
        """
        settings = ctx.settings.image
        if variations > settings.max_variations:
            raise ModelRetry(f"variations must be at most {settings.max_variations}")
        try:
            with self._run_lock:
                model = self._model_for(settings)
                limits = _Limits(settings.width, settings.height, settings.steps or model.default_steps())
                request = ImageRequest(
                    prompt=prompt,
                    negative_prompt=negative_prompt,
                    width=min(width or limits.width, limits.width) // 8 * 8,
                    height=min(height or limits.height, limits.height) // 8 * 8,
                    steps=min(steps or limits.steps, limits.steps),
                    guidance=guidance if guidance is not None else _default_guidance(settings, model),
                    seeds=_seeds(seed, variations),
                )
                paths = self._generate(model, request, ctx)
        except ImageModelError as exc:
            # the agent sees a tool error with the fix; the user reads the same text in the trace
            return ToolResult.error(f"{exc.problem}. To fix: {exc.hint}")
        return _describe(paths, request, model, ctx.workspace, limits.reduced(width, height, steps))

    def _model_for(self, settings: ImageSettings) -> DiffusionModel:
        """The loaded model, loading it on first use or when the configured folder/device changed."""
        key = (settings.model_path, settings.device, settings.dtype)
        if self.model is None or self._model_key != key:
            if self.model is not None:
                self.model.close()
                self.model = None
            self.model = DiffusionModel.load(settings)
            self._model_key = key
            self.loads += 1
        return self.model

    def _generate(self, model: DiffusionModel, request: ImageRequest, ctx: ToolContext) -> list[Path]:
        settings = ctx.settings.image
        folder = _output_folder(ctx.workspace, settings.output_dir)
        created = datetime.now(UTC)

        def on_step(done: int, total: int) -> None:
            ctx.report_progress(done, total, f"denoising {len(request.seeds)} image(s)")

        with ctx.gpu.exclusive("generate_image", model.device):
            images = model.generate(request, on_step)
            if ctx.gpu.mode == "swap":
                model.park()  # hand the VRAM back before the LLM resumes
        paths = []
        for image, seed in zip(images, request.seeds, strict=True):
            record = GenerationRecord(
                model=model.name,
                prompt=request.prompt,
                negative_prompt=request.negative_prompt,
                seed=seed,
                steps=request.steps,
                guidance=request.guidance,
                width=image.width,
                height=image.height,
                device=model.device,
                created=created,
            )
            path = _free_name(folder, f"{created:%Y%m%d-%H%M%S}-{_slug(request.prompt)}-{seed}")
            save_png(image, path, record, _c2pa_signer(settings, record, path.name))
            paths.append(path)
        return paths

    def unload(self) -> None:
        if self.model is not None:
            self.model.close()
            self.model = None
            self._model_key = None


@dataclass(frozen=True)
class _Limits:
    """The largest image and the most steps one call may ask for: the ``[image]`` settings. They are
    what the operator chose for this machine's time and memory; the model may ask for less, never more
    (a 1.5B model asking 512x512 at 20 steps on a CPU set to 64x64 at 2 steps would run for minutes)."""

    width: int
    height: int
    steps: int

    def reduced(self, width: int | None, height: int | None, steps: int | None) -> str:
        """A note for the result when the call asked for more than the settings allow, else ''."""
        over = []
        if (width or 0) > self.width or (height or 0) > self.height:
            over.append(
                f"{width or self.width}x{height or self.height} pixels (at most {self.width}x{self.height})"
            )
        if (steps or 0) > self.steps:
            over.append(f"{steps} steps (at most {self.steps})")
        if not over:
            return ""
        return (
            f" The call asked for {' and '.join(over)}; the [image] settings (width, height, steps) "
            "set those limits, so the image was made within them."
        )


def _default_guidance(settings: ImageSettings, model: DiffusionModel) -> float:
    return settings.guidance if settings.guidance is not None else model.default_guidance()


def _seeds(seed: int | None, variations: int) -> tuple[int, ...]:
    first = seed if seed is not None else secrets.randbelow(2**31)  # recorded, so still reproducible
    return tuple((first + i) % 2**32 for i in range(variations))


def _output_folder(workspace: Path, output_dir: str) -> Path:
    folder = (workspace / output_dir).resolve()
    if not folder.is_relative_to(workspace.resolve()):
        raise UsageError(
            f"image.output_dir {output_dir!r} leads outside the workspace",
            "use a relative folder such as 'images'",
        )
    return folder


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40].strip("-") or "image"


def _free_name(folder: Path, stem: str) -> Path:
    path, n = folder / f"{stem}.png", 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}.png"
    return path


def _c2pa_signer(
    settings: ImageSettings, record: GenerationRecord, title: str
) -> Callable[[bytes], bytes] | None:
    """What signs the PNG's bytes with a C2PA manifest, or None when no signing key is configured."""
    if settings.c2pa_cert is None and settings.c2pa_key is None:
        return None
    if settings.c2pa_cert is None or settings.c2pa_key is None:
        from heron.errors import ProvenanceError

        raise ProvenanceError(
            "C2PA signing needs both image.c2pa_cert and image.c2pa_key",
            "set both (PEM files) or neither",
        )
    from heron.tools.image.c2pa_manifest import signed_png_bytes

    cert, key, fields = settings.c2pa_cert, settings.c2pa_key, record.text_chunks()
    return lambda png: signed_png_bytes(png, cert=cert, key=key, fields=fields, title=title)


def _describe(
    paths: list[Path], request: ImageRequest, model: DiffusionModel, workspace: Path, note: str = ""
) -> ToolResult:
    relative = [p.relative_to(workspace) for p in paths]
    seeds = ", ".join(str(s) for s in request.seeds)
    text = (
        f"Saved {len(paths)} AI-generated image(s) ({request.width}x{request.height}, {request.steps} steps, "
        f"seed {seeds}, model {model.name}): {', '.join(str(p) for p in relative)}. "
        "Their PNG metadata says they are AI-generated."
        f"{note}"
    )
    artifacts = [
        Artifact.for_file(
            rel,
            width=request.width,
            height=request.height,
            seed=seed,
            prompt=request.prompt,
            model=model.name,
            ai_generated=True,
        )
        for rel, seed in zip(relative, request.seeds, strict=True)
    ]
    return ToolResult(text=text, artifacts=artifacts)
