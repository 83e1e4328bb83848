"""The image crops StoryMaker encodes per character: the aligned face, and the character crop by its mask.

The character crop is the released pipeline's: the bounding box of the mask, outside the 5 x 5 blurred mask
filled with white, stretched to 224 x 224. The box is the reference's too: every non-zero pixel of the mask
counts (the released code boxes the contours of the mask's first channel), so a soft, anti-aliased edge is
inside it; only specks that are not connected to the mask's solid part (JPEG noise in the background) are
left out (issue 15, item 4).
"""

from __future__ import annotations

import warnings

import numpy as np
from PIL import Image

from storyboard.engines.base import CharacterRef
from storyboard.errors import EngineError

CROP_PX = 224
MASK_BLUR_KERNEL = 5  # a 5 x 5 Gaussian softens the mask edge before the background is whitened
FAR_PX = 24  # pixels this far (or 1/16 of the side) from the solid mask are no soft edge: only noise is there


def align_face(photo: Image.Image, kps: np.ndarray, size: int = CROP_PX) -> Image.Image:
    """The face aligned to the ArcFace template at `size` px (insightface's norm_crop), as RGB."""
    from insightface.utils import face_align  # noqa: PLC0415

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        aligned = face_align.norm_crop(np.asarray(photo), landmark=kps, image_size=size)
    return Image.fromarray(aligned)


def mask_box(alpha: np.ndarray) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around every non-zero pixel of a mask, isolated noise aside; None when nothing is set.

    Non-zero pixels are grouped by 8-connectivity; a group counts when its brightest pixel is at least half as
    bright as the mask's brightest, so an anti-aliased or blurred edge (connected to the solid part) is boxed
    exactly as the reference boxes it, and faint specks apart from it are not. Where faint pixels remain far
    from the solid part (JPEG noise joins the whole background into one group), the brightest of them is the
    noise floor, and only pixels above it count."""
    import cv2  # noqa: PLC0415

    alpha = np.asarray(alpha)
    peak = int(alpha.max()) if alpha.size else 0
    if peak == 0:
        return None
    kept = _groups_reaching(alpha, 0, peak)
    solid = (alpha.astype(np.int64) * 2 >= peak).astype(np.uint8)
    margin = max(FAR_PX, max(alpha.shape) // 16)
    near = cv2.dilate(solid, np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)).astype(bool)
    far = kept & ~near
    if far.any():  # noise reaching far out from the character: count only what is brighter than it
        kept = _groups_reaching(alpha, int(alpha[far].max()), peak)
    ys, xs = np.nonzero(kept)
    return int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1


def _groups_reaching(alpha: np.ndarray, floor: int, peak: int) -> np.ndarray:
    """The pixels above `floor` in 8-connected groups whose brightest pixel is at least half of `peak`."""
    import cv2  # noqa: PLC0415

    count, labels = cv2.connectedComponents((alpha > floor).astype(np.uint8), connectivity=8)
    brightest = np.zeros(count, dtype=np.int64)
    np.maximum.at(brightest, labels.ravel(), alpha.ravel().astype(np.int64))
    strong = brightest * 2 >= peak
    strong[0] = False  # label 0 is what is not above the floor
    return strong[labels]


def character_crop(photo: Image.Image, mask: Image.Image, character: CharacterRef | None = None) -> Image.Image:
    """The mask's bounding box of the photo, white outside the slightly blurred mask, stretched to 224 x 224."""
    import cv2  # noqa: PLC0415

    alpha = np.asarray(mask.convert("L"))
    box = mask_box(alpha)
    if box is None:
        who = f" of {character.name} ({character.mask})" if character is not None else ""
        raise EngineError(f"The mask{who} is empty: paint the character white on black, or remove the mask.")
    x0, y0, x1, y1 = box
    pixels = np.asarray(photo, dtype=np.float64)[y0:y1, x0:x1]
    soft = cv2.GaussianBlur(alpha[y0:y1, x0:x1], (MASK_BLUR_KERNEL, MASK_BLUR_KERNEL), 0)[:, :, None] / 255.0
    # float64 and truncated to uint8 as in the released pipeline, so crops match it pixel for pixel
    whitened = np.clip(255.0 * (1.0 - soft) + soft * pixels, 0, 255).astype(np.uint8)
    return Image.fromarray(whitened).resize((CROP_PX, CROP_PX), Image.BICUBIC)


def fit_mask(mask: Image.Image, photo: Image.Image, character: CharacterRef, notes: list[str]) -> Image.Image:
    """The mask as "L" at the photo's size: alpha when the mask is a cut-out, resized when only the scale differs."""
    if mask.mode in ("RGBA", "LA", "PA") or (mask.mode == "P" and "transparency" in mask.info):
        rgba = mask.convert("RGBA")
        alpha = rgba.getchannel("A")
        mask = alpha if alpha.getextrema() != (255, 255) else rgba.convert("L")
    else:
        mask = mask.convert("L")
    if mask.size != photo.size:
        mask_ratio, photo_ratio = mask.width / mask.height, photo.width / photo.height
        if abs(mask_ratio - photo_ratio) > 0.01 * photo_ratio:
            raise EngineError(
                f"The mask of {character.name} ({character.mask}) is {mask.width}x{mask.height} but the photo is "
                f"{photo.width}x{photo.height}: draw the mask over the photo itself, at the same size."
            )
        notes.append(
            f"The mask of {character.name} is {mask.width}x{mask.height}, the photo {photo.width}x{photo.height}: "
            "the mask was resized to fit."
        )
        mask = mask.resize(photo.size, Image.BILINEAR)
    return mask
