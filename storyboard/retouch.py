"""Retouch a region of a take: render it again there, with the panel's characters, and keep the rest.

The mask is white where the take is rendered again. The engine renders the region (StoryMaker: SDXL inpainting
with its attention processors, so the characters are still drawn from their photos); the result is laid onto
the old take through a feathered copy of the mask, so every pixel farther than the feather from the painted
region is the old take's, exactly. The draft engine has no inpainting: it draws the panel again from its
current inputs (a changed pose, shot or cast shows there) and only the painted region of that drawing is kept.

The seed is the take's own (a panel that follows its takes keeps following it), and the new take records the
same inputs as the take it was made from: it is current exactly when that take was. It is recorded through
storyboard.render.record_take (the project's one writer) and selected.
"""

from __future__ import annotations

import hashlib
import io
import logging
import secrets
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

from storyboard.engines import Engine, RenderContext, RenderResult
from storyboard.errors import ImageError, ProjectError, StoryboardError
from storyboard.feathering import composite, feather_px, feathered
from storyboard.images import open_image
from storyboard.model import Take
from storyboard.paths import resolve_inside
from storyboard.render import build_request, fill_prompt, project_style, record_take, request_digest
from storyboard.storyfile import MAX_SEED, load_project

log = logging.getLogger(__name__)

MASK_ADVICE = "Paint the region to render again white on black, at the take's size (or the same shape)."


@dataclass(frozen=True)
class Retouched:
    """What a retouch made: the new take (selected), the region it changed, and the engine's result."""

    take: Take
    source: Take
    changed: np.ndarray  # bool, True where pixels may differ from the old take (the mask and its feathered edge)
    result: RenderResult


def read_mask(mask: Path | str | Image.Image, size: tuple[int, int], what: str = "the retouch mask") -> np.ndarray:
    """The mask as booleans at `size` (width, height): True where it is white (at least half bright)."""
    if isinstance(mask, Image.Image):
        image = mask.convert("L")
    else:
        image = open_image(mask, f"{what} ({mask})", mode="mask", advice=MASK_ADVICE, error=ImageError)
    if image.size != size:
        ratio, wanted = image.width / image.height, size[0] / size[1]
        if abs(ratio - wanted) > 0.01 * wanted:
            raise StoryboardError(f"{what.capitalize()} is {image.width}x{image.height}, but the take is {size[0]}x{size[1]}: "
                                  "paint it over the take itself, at its size or the same shape.")
        image = image.resize(size, Image.Resampling.NEAREST)
    painted = np.asarray(image) >= 128
    if not painted.any():
        raise StoryboardError(f"{what.capitalize()} has nothing painted: paint the region to render again white.")
    return painted


def retouch_take(root: Path, panel_id: str, mask: Path | str | Image.Image, engine: Engine, prompt: str | None = None,
                 context: RenderContext | None = None, take_file: str | None = None, steps: int | None = None) -> Retouched:
    """Render the region `mask` paints of the panel's chosen take (or `take_file`) again; record the result.

    `prompt` says what to draw there instead of the panel's prompt; `steps` overrides the style's step count."""
    # 1. Check inputs: the panel, its take, the mask
    root = Path(root)
    project = load_project(root)
    try:
        panel = project.panel(panel_id)
    except KeyError:
        raise ProjectError(f"No panel with id {panel_id!r} in {root}; panels are: "
                           f"{', '.join(p.id for p in project.panels) or 'none'}.") from None
    source = next((t for t in panel.takes if t.file == take_file), None) if take_file else panel.selected_take
    if source is None:
        raise ProjectError(f"Panel {panel_id!r} has {'no take ' + repr(take_file) if take_file else 'no take yet'}: "
                           "render it first, then retouch a region of a take.")
    old = open_image(resolve_inside(root, source.file), f"take {source.file} of panel {panel_id!r}",
                     advice="Render the panel again, then retouch the new take.")
    painted = read_mask(mask, old.size)
    weights = feathered(painted, feather_px(old.size))
    if prompt is not None and not prompt.strip():
        raise StoryboardError("The retouch prompt is empty: leave it out to use the panel's prompt, or say what to draw.")
    if steps is not None and not 1 <= steps <= 150:
        raise StoryboardError(f"steps must be between 1 and 150, got {steps}.")
    # 2. The request: the panel as it is now, at the take's size (in multiples of 8), the take's seed
    style = project_style(project)
    seed = source.seed if source.seed is not None else panel.seed if panel.seed is not None else secrets.randbelow(MAX_SEED + 1)
    size = (max(64, old.width // 8 * 8), max(64, old.height // 8 * 8))
    request = build_request(root, project, panel, style, seed, size, steps)
    if prompt is not None:
        filled = fill_prompt(prompt.strip(), project)
        request = replace(request, prompt=filled, styled_prompt=style.apply(filled))
    # 3. Render the region
    context = context or RenderContext()
    region = Image.fromarray((weights > 0).astype(np.uint8) * 255).resize(size, Image.Resampling.NEAREST)
    if callable(getattr(engine, "retouch", None)):
        result = engine.retouch(request, old.resize(size, Image.Resampling.BICUBIC), region, context)
    else:  # the draft engine: draw the panel again and keep the painted region of it
        result = engine.render(request, context)
    # 4. Keep the old take outside the feathered mask, and record the new take
    image = composite(old, result.image, weights)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    digest = hashlib.sha256("|".join([request_digest(request, engine), source.file, str(feather_px(old.size)),
                                      hashlib.sha256(np.packbits(painted).tobytes()).hexdigest()]).encode()).hexdigest()
    take = Take(file=f"renders/{panel.id}/{seed}-r{digest[:8]}.png", seed=seed, engine=engine.name, inputs=source.inputs)
    if not record_take(root, panel.id, take, buffer.getvalue(), variation=panel.seed_locked):
        raise ProjectError(f"Panel {panel_id!r} was deleted while it was retouched; nothing was kept.")
    for warning in result.metadata.get("warnings", []):
        log.warning("Panel %s: %s", panel.id, warning)
    return Retouched(take, source, weights > 0, result)

