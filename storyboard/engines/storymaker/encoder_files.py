"""The files of the encoder's models: the insightface buffalo_l pack and an open_clip ViT folder, checked and fingerprinted.

The insightface model packs are licensed for non-commercial research use only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from storyboard.errors import EngineUnavailable

BUFFALO_PACK = "buffalo_l"
BUFFALO_FILES = ("det_10g.onnx", "w600k_r50.onnx")  # detection, recognition: the two modules used
CLIP_CONFIG = "open_clip_config.json"
CLIP_WEIGHTS = (  # open_clip's own order of preference
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "open_clip_pytorch_model.pth",
)
INSIGHTFACE_LICENSE = "The insightface model packs are licensed for non-commercial research use only."
BUFFALO_HOWTO = (
    "Get buffalo_l.zip from the insightface model zoo (github.com/deepinsight/insightface, release v0.7) and "
    "unzip it so that the .onnx files lie directly in {folder}. " + INSIGHTFACE_LICENSE
)
CLIP_HOWTO = (
    "Put an open_clip ViT-H/14 model folder there: open_clip_config.json and open_clip_model.safetensors (or "
    "open_clip_pytorch_model.bin) from the Hugging Face repository laion/CLIP-ViT-H-14-laion2B-s32B-b79K."
)


def buffalo_dir(face_dir: Path) -> Path:
    """The buffalo_l folder under `face_dir` (the `insightface` folder, or buffalo_l itself); checks its files."""
    folder = face_dir if face_dir.name == BUFFALO_PACK else face_dir / "models" / BUFFALO_PACK
    missing = [name for name in BUFFALO_FILES if not (folder / name).is_file()]
    if missing:
        raise EngineUnavailable(
            f"The insightface face models are missing from {folder}: {', '.join(missing)}. "
            + BUFFALO_HOWTO.format(folder=folder)
        )
    return folder


def clip_weights(clip_dir: Path) -> Path:
    missing = [] if (clip_dir / CLIP_CONFIG).is_file() else [CLIP_CONFIG]
    weights = next((clip_dir / name for name in CLIP_WEIGHTS if (clip_dir / name).is_file()), None)
    if weights is None:
        missing.append(" or ".join(CLIP_WEIGHTS))
    if missing:
        raise EngineUnavailable(f"The CLIP image encoder is missing from {clip_dir}: {'; '.join(missing)}. " + CLIP_HOWTO)
    return weights  # type: ignore[return-value]


def model_fingerprint(buffalo_dir: Path, clip_dir: Path, clip_weights: Path) -> str:
    """A short id of the model files (size and the first and last MiB of each), cheap even for GB files."""
    files = [buffalo_dir / name for name in BUFFALO_FILES] + [clip_dir / CLIP_CONFIG, clip_weights]
    digest = hashlib.sha256()
    for path in files:
        size = path.stat().st_size
        digest.update(f"{path.name}:{size}|".encode())
        with path.open("rb") as f:
            digest.update(f.read(1 << 20))
            if size > 2 << 20:
                f.seek(-(1 << 20), os.SEEK_END)
                digest.update(f.read(1 << 20))
    return digest.hexdigest()[:24]
