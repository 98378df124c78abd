"""A real, tiny, randomly initialised Stable Diffusion pipeline, built offline: for tests and benchmarks.

Like ``ScriptedLLM`` for the planner, it lets users test agents that call ``generate_image``
without downloading a model (the pictures are noise-like, the plumbing is real). The pattern of
diffusers' own tests: a small UNet2DConditionModel, AutoencoderKL and CLIP text
model made from configs, a CLIP tokenizer read from a vocabulary file written here (one token per
byte-level character, no merges), saved with ``save_pretrained`` so heron loads it from disk
exactly as it loads SD-Turbo.
"""

from __future__ import annotations

import json
from pathlib import Path


def _byte_level_alphabet() -> list[str]:
    # CLIP's BPE works on bytes mapped to printable characters: the printable Latin-1 ones stand for
    # themselves, the other 68 byte values borrow code points from 256 upward.
    printable = [*range(33, 127), *range(161, 173), *range(174, 256)]
    shifted = [256 + i for i in range(256 - len(printable))]
    return [chr(b) for b in printable + shifted]


def write_tokenizer_files(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    vocab = {"<|startoftext|>": 0, "!": 1, "<|endoftext|>": 2}
    alphabet = _byte_level_alphabet()
    for token in [*alphabet, *(c + "</w>" for c in alphabet)]:
        vocab.setdefault(token, len(vocab))
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    return folder


def build_tiny_pipeline(folder: Path, *, seed: int = 0) -> Path:
    """Save a tiny text-to-image pipeline (about 7 MB) into ``folder``; returns ``folder``."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=1,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
        latent_channels=4,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=2,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=1000,
        )
    )
    tokenizer = CLIPTokenizer.from_pretrained(
        write_tokenizer_files(folder.parent / f"{folder.name}-vocab"), model_max_length=77
    )
    pipeline = StableDiffusionPipeline(
        unet=unet,
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        scheduler=EulerDiscreteScheduler(steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(folder)  # type: ignore[attr-defined]  # diffusers types it lazily
    return folder
