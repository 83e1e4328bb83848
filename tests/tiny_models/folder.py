"""A whole tiny models folder in the offline layout StoryMaker reads (see storyboard/engines/storymaker/models.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from PIL import Image, ImageDraw

from tiny_models.clip import build_tiny_clip
from tiny_models.face import MARKER_RGB, build_tiny_buffalo
from tiny_models.sdxl import build_tiny_adapter, build_tiny_controlnet, build_tiny_lora, build_tiny_sdxl


FAST_FILE = "sdxl_lightning_8step_lora.safetensors"  # what `render --fast` looks for first (presets/fast.yaml)


def build_tiny_models_dir(dest: Path, controlnet: bool = True) -> Path:
    """sdxl/, storymaker/mask.bin, clip-vit-h-14/, insightface/models/buffalo_l/, controlnet-openpose/,
    loras/tiny-style.safetensors and fast/ with a tiny LoRA under the default fast preset's file name."""
    dest.mkdir(parents=True, exist_ok=True)
    build_tiny_sdxl(dest / "sdxl")
    clip = build_tiny_clip(dest)
    width = json.loads((clip / "open_clip_config.json").read_text())["model_cfg"]["vision_cfg"]["width"]
    build_tiny_adapter(dest / "sdxl", dest / "storymaker" / "mask.bin", clip_dim=width)
    build_tiny_buffalo(dest)
    if controlnet:
        build_tiny_controlnet(dest / "sdxl", dest / "controlnet-openpose")
    build_tiny_lora(dest / "sdxl", dest / "loras" / "tiny-style.safetensors")
    # the default fast preset's file name (presets/fast.yaml), tiny random weights on the attention and feed-forward
    build_tiny_lora(dest / "sdxl", dest / "fast" / FAST_FILE, seed=3, targets=("to_q", "to_v", "ff.net.2"))
    shutil.rmtree(dest / "_tokenizer", ignore_errors=True)
    return dest


def mark_faces(project: Path, box: tuple[int, int, int, int] = (284, 170, 484, 370)) -> None:
    """Paint the tiny detector's face marker over each cast photo's face (it is no real face detector)."""
    for photo in sorted((project / "cast").glob("*.png")):
        if photo.stem.endswith("_mask"):
            continue
        image = Image.open(photo).convert("RGB")
        ImageDraw.Draw(image).rectangle(box, fill=MARKER_RGB)
        image.save(photo)
