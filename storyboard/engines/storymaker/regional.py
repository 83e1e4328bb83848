"""A third and a fourth character in a panel: regional inpainting passes after StoryMaker draws the first two.

The released StoryMaker was trained on one or two characters. A panel with more renders in passes:

1. The panel's first two characters, exactly as a panel of just those two renders (the same request, pose and
   seed, so the same pixels): outside the further characters' regions the take is that render.
2. Then each further character k, in panel order, by SDXL inpainting with StoryMaker's processors (the engine's
   retouch path) in its region, conditioned on that character alone:
   - region: the bounding box of its skeleton in the panel's pose (the person whose `character` names it, else
     the k-th skeleton when that one names nobody else in the panel), grown by REGION_GROW and clipped to the
     image; without a skeleton, the place the default staging gives figure k (storyboard.engines.draft's
     stage_people, unjittered: where the draft engine draws it, on average);
   - image tokens: its own only, at position embedding 0, as in a panel of that character alone. The position
     embedding tells the adapter's token blocks apart *within one set of image tokens* (training masks each
     character's attention to its own region in skeleton order); a pass carries one character, so there is
     nothing to tell apart, and 0 is the only position the released model ever saw alone (positions past 1 were
     never trained, and only 3 exist). The region, not the position, places the character;
   - ControlNet: that character's skeleton only, when it has one in the pose (and a ControlNet is installed);
   - seed: pass_seed(take's seed, k), so a take is reproducible from its seed like any other;
   - prompt: the character's description before the panel's styled prompt.
   Each pass's result is laid over the image through its feathered region (storyboard.feathering): beyond the
   feather every pixel is the previous image's.

A panel of n characters costs 1 + (n - 2) denoising runs, which MAX_CHARACTERS_PER_PANEL bounds. Progress counts
the steps of every pass; a cancel stops within one step of the pass running.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from typing import Any, Protocol

import numpy as np
from PIL import Image

from storyboard.engines.base import CharacterRef, RenderContext, RenderRequest, RenderResult
from storyboard.errors import EngineError
from storyboard.feathering import composite, feather_px, feathered
from storyboard.model import MAX_CHARACTERS_PER_PANEL, STORYMAKER_CHARACTERS
from storyboard.poses import Person, Pose

REGION_GROW = 0.1  # a skeleton's box grows by this share of its longer side on every side ...
REGION_MIN_GROW = 0.04  # ... and by at least this share of the image's longer side (a lone head, a hand)
REGION_MIN_PX = 8  # a region clipped to less than this (a skeleton off the panel) falls back to the staging

Box = tuple[int, int, int, int]  # left, top, right, bottom in render pixels (right and bottom excluded)


class InpaintingEngine(Protocol):
    """What the passes need of the engine: a render, and a retouch (inpainting) of a region."""

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult: ...

    def retouch(self, request: RenderRequest, image: Image.Image, mask: Image.Image,
                context: RenderContext) -> RenderResult: ...


@dataclasses.dataclass(frozen=True)
class RegionalPass:
    """The pass that adds character `index` of the panel (2, 3, ...)."""

    index: int
    character: CharacterRef
    box: Box
    skeleton: Person | None  # in the pose's own canvas pixels, for the ControlNet; None: placed by the staging
    seed: int


def check_photos(request: RenderRequest) -> None:
    """Refuse a request with a character StoryMaker cannot draw: one without a reference photo."""
    for character in request.characters:
        if character.reference is None:
            raise EngineError(f"Panel {request.panel_id!r}: {character.name} has no reference photo, and StoryMaker "
                              f"needs one to draw them. Add a photo of {character.name} in the Cast tab (draft "
                              "renders work without one).")


def likeness_warning(characters: tuple[CharacterRef, ...]) -> str:
    """The warning every take of a panel with more than two characters carries."""
    later = [c.name for c in characters[STORYMAKER_CHARACTERS:]]
    return (f"{len(characters)} characters: StoryMaker draws the first {STORYMAKER_CHARACTERS} and adds "
            f"{' and '.join(later)} by regional inpainting passes; the released model was trained on one or two "
            "characters, so likeness is weaker past two")


def pass_seed(seed: int, index: int) -> int:
    """The seed of the pass that adds character `index`: derived from the take's seed, 0 to 2**32 - 1."""
    return int.from_bytes(hashlib.sha256(f"storymaker-regional/{seed}/{index}".encode()).digest()[:4], "big")


def skeleton_index(pose: Pose, ids: tuple[str, ...], index: int) -> int | None:
    """Which of the pose's people stands for character `index` of `ids`: the one naming it, else the index-th
    skeleton when that one names nobody in the panel; None when neither."""
    for i, person in enumerate(pose.people):
        if person.character == ids[index]:
            return i
    if index < len(pose.people) and pose.people[index].character not in ids:
        return index
    return None


def region_box(person: Person, width: int, height: int) -> Box | None:
    """The region of a figure (render pixels): its points' box, grown, clipped to the image; None if too small."""
    box = person.bbox()
    if box is None:
        return None
    x0, y0, x1, y1 = box
    grow = max(REGION_GROW * max(x1 - x0, y1 - y0), REGION_MIN_GROW * max(width, height))
    left, top = max(0, math.floor(x0 - grow)), max(0, math.floor(y0 - grow))
    right, bottom = min(width, math.ceil(x1 + grow)), min(height, math.ceil(y1 + grow))
    if right - left < REGION_MIN_PX or bottom - top < REGION_MIN_PX:
        return None
    return left, top, right, bottom


def character_regions(request: RenderRequest) -> tuple[list[tuple[Box, int | None]], list[str]]:
    """(region, skeleton index in the pose or None) of every character of the request, and warnings."""
    from storyboard.engines.draft import Unjittered, stage_people

    w, h, n = request.width, request.height, len(request.characters)
    ids = tuple(c.id for c in request.characters)
    staged = stage_people(w, h, n, request.shot, Unjittered()).people
    scaled = request.pose.scaled_to(w, h).clamped() if request.pose is not None else None
    regions: list[tuple[Box, int | None]] = []
    warnings: list[str] = []
    for k, character in enumerate(request.characters):
        found = skeleton_index(request.pose, ids, k) if request.pose is not None else None
        box = region_box(scaled.people[found], w, h) if scaled is not None and found is not None else None
        if found is not None and box is None:
            warnings.append(f"the skeleton of {character.name} lies (almost) outside the panel; "
                            f"{character.name} is placed where the default staging puts them")
            found = None
        if box is None:
            box = region_box(staged[k], w, h) or (0, 0, w, h)
        regions.append((box, found))
    return regions, warnings


def plan_passes(request: RenderRequest) -> tuple[list[RegionalPass], list[str]]:
    """The passes that add the characters past the first two, in panel order, and warnings."""
    regions, warnings = character_regions(request)
    passes = []
    for k in range(STORYMAKER_CHARACTERS, len(request.characters)):
        box, found = regions[k]
        skeleton = request.pose.people[found] if request.pose is not None and found is not None else None
        passes.append(RegionalPass(k, request.characters[k], box, skeleton, pass_seed(request.seed, k)))
    return passes, warnings


def region_weights(box: Box, size: tuple[int, int]) -> np.ndarray:
    """Blend weights (height x width) for a region: 1 inside the box, the feathered ramp around it, 0 beyond."""
    painted = np.zeros((size[1], size[0]), dtype=bool)
    left, top, right, bottom = box
    painted[top:bottom, left:right] = True
    return feathered(painted, feather_px(size))


def pass_request(request: RenderRequest, step: RegionalPass) -> RenderRequest:
    """The request of one pass: that character alone, its own skeleton, its seed, its description first."""
    character = step.character
    prompt = f"{character.description.strip()}, {request.styled_prompt}" if character.description.strip() \
        else request.styled_prompt
    pose = None if step.skeleton is None or request.pose is None else \
        Pose(request.pose.width, request.pose.height, (step.skeleton,))
    return dataclasses.replace(request, characters=(character,), pose=pose, seed=step.seed, styled_prompt=prompt)


class _PassContext(RenderContext):
    """One pass's context: its steps counted after those of the passes before it; the run's cancel."""

    def __init__(self, outer: RenderContext, done: int, total: int) -> None:
        super().__init__(cancel_event=outer.cancel_event)
        self._outer, self._done, self._total = outer, done, total

    def progress(self, step: int, total: int) -> None:
        self._outer.progress(self._done + step, self._total)


def render_regional(engine: InpaintingEngine, request: RenderRequest, context: RenderContext) -> RenderResult:
    """Render a panel of three or four characters: the first two with StoryMaker, then a regional pass each."""
    started = time.perf_counter()
    # 1. Check inputs, plan the passes
    n = len(request.characters)
    if not STORYMAKER_CHARACTERS < n <= MAX_CHARACTERS_PER_PANEL:
        raise EngineError(f"Panel {request.panel_id!r} has {n} characters; StoryMaker renders at most "
                          f"{MAX_CHARACTERS_PER_PANEL} (the first {STORYMAKER_CHARACTERS} together, each further one "
                          "by a regional pass). Split the scene over two panels.")
    passes, notes = plan_passes(request)
    total = request.steps * (1 + len(passes))
    # 2. The first two characters, as a panel of those two renders
    first = engine.render(dataclasses.replace(request, characters=request.characters[:STORYMAKER_CHARACTERS]),
                          _PassContext(context, 0, total))
    image = first.image.convert("RGB")
    warnings = [likeness_warning(request.characters), *notes]
    warnings += [w for w in first.metadata.get("warnings", []) if w not in warnings]
    # 3. Each further character in its region, laid over the image through the feathered region
    done: list[dict[str, Any]] = []
    for i, step in enumerate(passes, start=1):
        weights = region_weights(step.box, image.size)
        mask = Image.fromarray((weights > 0).astype(np.uint8) * 255)
        result = engine.retouch(pass_request(request, step), image, mask, _PassContext(context, i * request.steps, total))
        image = composite(image, result.image, weights)
        warnings += [w for w in result.metadata.get("warnings", []) if w not in warnings]
        done.append({"character": step.character.id, "box": list(step.box), "seed": step.seed,
                     "skeleton": step.skeleton is not None})
    metadata = {**first.metadata, "seconds": round(time.perf_counter() - started, 3), "regional": done,
                "warnings": warnings}
    return RenderResult(image=image, metadata=metadata)


def retouch_characters(request: RenderRequest, mask: Image.Image) -> tuple[RenderRequest, str]:
    """A retouch of a panel with more than two characters draws at most two: those whose regions the painted mask
    covers most (in panel order; the first two when it covers none). The request for them, and a note saying so."""
    regions, _ = character_regions(request)
    painted = np.asarray(mask.convert("L")) >= 128
    cover = [int(painted[top:bottom, left:right].sum()) for (left, top, right, bottom), _ in regions]
    ranked = sorted((k for k in range(len(cover)) if cover[k] > 0), key=lambda k: (-cover[k], k))
    chosen = sorted(ranked[:STORYMAKER_CHARACTERS]) or list(range(STORYMAKER_CHARACTERS))
    characters = tuple(request.characters[k] for k in chosen)
    note = (f"the retouch draws {' and '.join(c.name for c in characters)}, whose places the painted region covers "
            f"most: a retouch conditions on at most {STORYMAKER_CHARACTERS} characters")
    return dataclasses.replace(request, characters=characters), note
