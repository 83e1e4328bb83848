"""Automatic character masks from a human-parsing segmentation model (optional).

When a cast member has no mask, StoryMaker's character crop would otherwise be the whole photo. If the
models folder holds `segmentation/` (a transformers image-segmentation model folder, by default
mattmdjaga/segformer_b2_clothes, MIT), the mask is the union of every segment the model does not call
background: hair, face, clothes, limbs, shoes, bags.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from storyboard.errors import EngineError

BACKGROUND_LABELS = frozenset({"background", "bg", "unlabeled", "unlabelled", "void"})


class SegmentationMasker:
    """A MaskMaker (see encoding.py): photo in, white-on-black person mask of the same size out."""

    def __init__(self, folder: Path, device: str = "cpu"):
        self.folder = Path(folder)
        if not (self.folder / "config.json").is_file():
            raise EngineError(f"{self.folder} is not a segmentation model folder (no config.json).")
        config = (self.folder / "config.json").read_bytes()
        # the name is part of the encoding cache key: another model makes other masks
        self.name = f"segmentation:{self.folder.name}:{hashlib.sha256(config).hexdigest()[:8]}"
        self.device = device
        self._pipeline: Any = None
        self._lock = threading.Lock()

    def __call__(self, photo: Image.Image) -> Image.Image:
        with self._lock:
            if self._pipeline is None:
                from transformers import pipeline

                self._pipeline = pipeline("image-segmentation", model=str(self.folder), device=self.device)
            segments = self._pipeline(photo.convert("RGB"))
        person = np.zeros((photo.height, photo.width), dtype=bool)
        for segment in segments:
            if str(segment.get("label", "")).strip().lower() not in BACKGROUND_LABELS:
                person |= np.asarray(segment["mask"].convert("L").resize(photo.size)) > 127
        if not person.any():
            raise EngineError("the segmentation model found no person in the photo")
        return Image.fromarray(person.astype(np.uint8) * 255, mode="L")
