"""generate_image on a real (tiny, random) Stable Diffusion pipeline loaded through heron's path."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from heron.agents.agent import Agent
from heron.config import Settings, load_settings
from heron.errors import ModelRetry, ProvenanceError
from heron.llm import ScriptedLLM
from heron.tools import ToolContext
from heron.tools.image import AI_STATEMENT, GenerateImageTool, read_provenance
from heron.tools.image.provenance import TRAINED_ALGORITHMIC_MEDIA
from heron.tools.image.tiny import build_tiny_pipeline
from heron.tracing import read_trace


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_pipeline(tmp_path_factory.mktemp("models") / "tiny-sd")


@pytest.fixture(scope="module")
def image_tool() -> GenerateImageTool:
    """One tool for the module, as in a process: the pipeline loads once and is reused."""
    tool = GenerateImageTool()
    yield tool
    tool.close()


def _settings(model: Path | None, **image: object) -> Settings:
    return load_settings(image={"model_path": model, "device": "cpu", **image})


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_png_of_the_requested_size_carries_provenance(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model))
    prompt = "a red fox in fresh snow, watercolour"
    result = image_tool.invoke({"prompt": prompt, "width": 64, "height": 72, "seed": 7, "steps": 2}, ctx)
    assert not result.is_error, result.text
    [artifact] = result.artifacts
    assert artifact.kind == "image" and artifact.path is not None
    path = ctx.workspace / artifact.path
    assert path.parent == ctx.workspace / "images" and path.suffix == ".png"
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (64, 72)
    chunks = read_provenance(path)
    assert chunks["heron:prompt"] == prompt and chunks["Description"] == prompt
    assert chunks["heron:seed"] == "7" and chunks["heron:steps"] == "2"
    assert chunks["heron:model"] == "tiny-sd" and chunks["Source"] == "tiny-sd"
    assert chunks["heron:size"] == "64x72" and chunks["heron:device"] == "cpu"
    assert chunks["heron:ai_generated"] == "true" and chunks["Disclaimer"] == AI_STATEMENT
    assert chunks["DigitalSourceType"] == TRAINED_ALGORITHMIC_MEDIA
    assert chunks["Software"].startswith("heron ")
    assert datetime.fromisoformat(chunks["Creation Time"]).tzinfo is not None
    assert str(artifact.path) in result.text and "AI-generated" in result.text
    assert artifact.metadata["seed"] == 7 and artifact.metadata["ai_generated"] is True


def test_same_seed_same_pixels_other_seed_other_pixels(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model))
    args = {"prompt": "a lighthouse at dusk", "width": 64, "height": 64, "steps": 2}
    first = image_tool.invoke({**args, "seed": 11}, ctx).artifacts[0].path
    again = image_tool.invoke({**args, "seed": 11}, ctx).artifacts[0].path
    other = image_tool.invoke({**args, "seed": 12}, ctx).artifacts[0].path
    assert first != again  # a second file, not an overwrite
    assert np.array_equal(_pixels(ctx.workspace / first), _pixels(ctx.workspace / again))
    assert not np.array_equal(_pixels(ctx.workspace / first), _pixels(ctx.workspace / other))


def test_variations_get_consecutive_seeds_and_each_can_be_remade(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model))
    args = {"prompt": "three paper boats", "width": 64, "height": 64, "steps": 2}
    result = image_tool.invoke({**args, "seed": 40, "variations": 3}, ctx)
    assert [a.metadata["seed"] for a in result.artifacts] == [40, 41, 42]
    seeds = [read_provenance(ctx.workspace / a.path)["heron:seed"] for a in result.artifacts]  # type: ignore[operator]
    assert seeds == ["40", "41", "42"]
    alone = image_tool.invoke({**args, "seed": 41}, ctx).artifacts[0].path
    batched = _pixels(ctx.workspace / result.artifacts[1].path).astype(int)  # type: ignore[operator]
    # the second image of the batch is the image of its seed (batched float maths may differ by a step)
    assert np.abs(batched - _pixels(ctx.workspace / alone)).max() <= 2


def test_the_model_loads_once_and_progress_is_reported(tiny_model: Path, tmp_path: Path) -> None:
    tool = GenerateImageTool()
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model))
    steps: list[tuple[int, int, str]] = []
    with tool, ctx.progress_to(lambda done, total, label: steps.append((done, total, label))):
        tool.invoke({"prompt": "a cat", "width": 64, "height": 64, "steps": 3, "seed": 1}, ctx)
        tool.invoke({"prompt": "a dog", "width": 64, "height": 64, "steps": 3, "seed": 2}, ctx)
        assert tool.loads == 1
        assert [(d, t) for d, t, _ in steps] == [(1, 3), (2, 3), (3, 3)] * 2
        assert all("denoising" in label for _, _, label in steps)
    assert tool.model is None  # closing the tool freed the pipeline


def test_configured_defaults_apply_when_the_model_gives_none(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    settings = _settings(tiny_model, width=72, height=80, steps=1, guidance=0.0)
    ctx = ToolContext(tmp_path / "ws", settings=settings)
    result = image_tool.invoke({"prompt": "a kite", "width": 70}, ctx)
    path = ctx.workspace / result.artifacts[0].path  # type: ignore[operator]
    with Image.open(path) as image:
        assert image.size == (64, 80)  # 70 rounded down to a multiple of 8; height from settings
    assert read_provenance(path)["heron:steps"] == "1"


def test_a_call_cannot_ask_for_more_than_the_settings_allow(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    """The [image] size and steps are limits: a model asking 512x512 at 20 steps on a machine set to
    72x72 at 1 step gets 72x72 at 1 step, and the result says why (it would otherwise run for minutes)."""
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model, width=72, height=72, steps=1))
    result = image_tool.invoke({"prompt": "a big poster", "width": 512, "height": 512, "steps": 20}, ctx)
    assert not result.is_error, result.text
    path = ctx.workspace / result.artifacts[0].path  # type: ignore[operator]
    with Image.open(path) as image:
        assert image.size == (72, 72)
    assert read_provenance(path)["heron:steps"] == "1"
    assert "512x512 pixels (at most 72x72)" in result.text and "20 steps (at most 1)" in result.text
    smaller = image_tool.invoke({"prompt": "a stamp", "width": 64, "height": 72, "steps": 1}, ctx)
    assert "at most" not in smaller.text  # less than the limits is taken as asked, without a note
    with Image.open(ctx.workspace / smaller.artifacts[0].path) as image:  # type: ignore[operator]
        assert image.size == (64, 72)


def test_without_a_model_it_says_how_to_set_one_and_makes_nothing(
    image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(None))
    result = image_tool.invoke({"prompt": "a cat"}, ctx)
    assert result.is_error and not result.artifacts
    assert "no image model is configured" in result.text and "HERON_IMAGE__MODEL_PATH" in result.text
    assert list(ctx.workspace.iterdir()) == []


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing", "image model folder not found"),
        (lambda p: (p / "empty").mkdir() or p / "empty", "not a diffusers model folder"),
        (lambda p: (p / "x.safetensors").write_bytes(b"\0") and p / "x.safetensors", "not found"),
    ],
)
def test_a_wrong_model_path_is_a_tool_error_naming_it(
    make: object, message: str, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    bad = make(tmp_path)  # type: ignore[operator]
    ctx = ToolContext(tmp_path / "ws", settings=_settings(bad))
    result = image_tool.invoke({"prompt": "a cat"}, ctx)
    assert result.is_error and message in result.text and str(bad) in result.text


def test_a_corrupt_weight_file_is_reported_not_raised(tiny_model: Path, tmp_path: Path) -> None:
    import shutil

    broken = tmp_path / "broken-sd"
    shutil.copytree(tiny_model, broken)
    for weights in (broken / "unet").glob("*.safetensors"):
        weights.write_bytes(b"this is not a safetensors file")
    with GenerateImageTool() as tool:
        result = tool.invoke({"prompt": "a cat"}, ToolContext(tmp_path / "ws", settings=_settings(broken)))
    assert result.is_error and "cannot load" in result.text and "broken-sd" in result.text


def test_too_many_variations_is_a_retry_for_the_model(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model, max_variations=2))
    with pytest.raises(ModelRetry, match="at most 2"):
        image_tool.invoke({"prompt": "a cat", "variations": 3}, ctx)


def test_agent_run_calling_generate_image_shows_the_artifact(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    llm = ScriptedLLM(
        [
            {
                "action": "generate_image",
                "arguments": {"prompt": "a sailing boat", "width": 64, "height": 64, "steps": 2, "seed": 3},
            },
            {"action": "final_answer", "answer": "Here is your boat.", "citations": []},
        ]
    )
    events: list[object] = []
    settings = _settings(tiny_model)
    with Agent(
        llm, tools=[image_tool], workspace=tmp_path / "ws", settings=settings, callbacks=[events.append]
    ) as agent:
        result = agent.run("Draw a sailing boat")
    [artifact] = result.artifacts
    assert artifact["kind"] == "image" and (tmp_path / "ws" / artifact["path"]).is_file()
    trace = read_trace(result.trace_path)
    [tool_result] = [e for e in trace if e.type == "tool_result"]
    assert not tool_result.is_error and tool_result.artifacts[0]["path"] == artifact["path"]
    assert tool_result.artifacts[0]["metadata"]["seed"] == 3
    # the model read the saved path in the tool result
    assert artifact["path"] in llm.calls[1].messages[-1].content
    # progress streamed to callbacks but kept out of the trace file
    progress = [e for e in events if getattr(e, "type", "") == "tool_progress"]
    assert [(e.done, e.total) for e in progress] == [(1, 2), (2, 2)]
    assert not any(e.type == "tool_progress" for e in trace)


def test_with_a_signing_key_the_png_also_carries_a_c2pa_manifest(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    from heron.tools.image.c2pa_manifest import GENERATION_LABEL, read_manifest

    from .test_image_c2pa import make_chain

    (tmp_path / "pki").mkdir()
    cert, key = make_chain(tmp_path / "pki")
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model, c2pa_cert=cert, c2pa_key=key))
    result = image_tool.invoke({"prompt": "a harbour", "width": 64, "height": 64, "steps": 1, "seed": 5}, ctx)
    path = ctx.workspace / result.artifacts[0].path  # type: ignore[operator]
    manifest = read_manifest(path)
    [generation] = [a for a in manifest["assertions"] if a["label"] == GENERATION_LABEL]
    assert generation["data"]["heron:seed"] == "5" and generation["data"]["heron:prompt"] == "a harbour"
    assert read_provenance(path)["heron:ai_generated"] == "true"  # the text chunks survive signing


def test_half_a_signing_configuration_is_a_clear_error(
    tiny_model: Path, image_tool: GenerateImageTool, tmp_path: Path
) -> None:
    ctx = ToolContext(tmp_path / "ws", settings=_settings(tiny_model, c2pa_cert=tmp_path / "cert.pem"))
    with pytest.raises(ProvenanceError, match=r"both image\.c2pa_cert and image\.c2pa_key"):
        image_tool.invoke({"prompt": "a harbour", "width": 64, "height": 64, "steps": 1}, ctx)


def test_generate_image_is_served_over_mcp_when_configured(tiny_model: Path, tmp_path: Path) -> None:
    """`heron mcp serve` offers generate_image only with an image model, and returns the PNG inline."""
    import asyncio
    import base64

    from mcp import Client

    from heron.agents.mcp_server import HeronMCPServer

    async def session(server: HeronMCPServer) -> tuple[list[str], object]:
        async with Client(server.server()) as client:
            names = [t.name for t in (await client.list_tools()).tools]
            made = await client.call_tool(
                "generate_image", {"prompt": "a grey heron", "width": 64, "height": 64, "steps": 2}
            )
            return names, made

    with HeronMCPServer(load_settings(), tmp_path / "plain") as plain:
        assert "generate_image" not in plain.tools
    with HeronMCPServer(_settings(tiny_model), tmp_path / "ws") as server:
        names, made = asyncio.run(session(server))
    assert "generate_image" in names
    images = [block for block in made.content if block.type == "image"]
    assert not made.is_error and images and images[0].mime_type == "image/png"
    assert base64.b64decode(images[0].data).startswith(b"\x89PNG")
