"""Laying a new rendering over an old one through a feathered mask: every pixel beyond the feather is the old one.

Retouch (storyboard.retouch) and the regional passes that add a third or fourth character
(storyboard.engines.storymaker.regional) both keep an image exactly outside a region and blend across its edge.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageFilter

FEATHER_PX_PER_1024 = 8  # the blend ramp is twice this wide, scaled with the image's longer side


def feather_px(size: tuple[int, int]) -> int:
    """How far the blend reaches into the old image on each side of the ramp's middle, in pixels."""
    return max(1, round(FEATHER_PX_PER_1024 * max(size) / 1024))


def feathered(painted: np.ndarray, feather: int) -> np.ndarray:
    """Blend weights 0-1: 1 on the painted region, a ramp `2 * feather` px wide around it, exactly 0 beyond."""
    grown = Image.fromarray(painted.astype(np.uint8) * 255).filter(ImageFilter.MaxFilter(2 * feather + 1))
    return np.asarray(grown.filter(ImageFilter.BoxBlur(feather)), dtype=np.float32) / 255.0


def composite(old: Image.Image, new: Image.Image, weights: np.ndarray) -> Image.Image:
    """`new` over `old` by `weights`; where a weight is 0 the old pixel is kept as it is."""
    before = np.asarray(old.convert("RGB"))
    after = np.asarray(new.convert("RGB").resize(old.size, Image.Resampling.BICUBIC), dtype=np.float32)
    w = weights[:, :, None]
    blended = np.clip(np.rint(before * (1.0 - w) + after * w), 0, 255).astype(np.uint8)
    return Image.fromarray(np.where(w > 0, blended, before))
