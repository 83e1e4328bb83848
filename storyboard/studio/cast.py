"""The cast: add, change and remove characters; photos, masks and outfits; the face check."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from storyboard.engines import CharacterRef, Engine
from storyboard.engines.draft import font
from storyboard.errors import EngineError, EngineUnavailable, ImageError, ProjectError
from storyboard.images import open_image
from storyboard.model import (
    COLOR_PATTERN,
    Character,
    Project,
    next_color,
)
from storyboard.paths import resolve_inside
from storyboard.settings import Settings
from storyboard.store import project_lock
from storyboard.storyfile import PLACEHOLDER, atomic_write, load_project, save_project
from storyboard.studio.common import IMAGE_FORMATS, ImageUploadError, StudioError, _character, _unique, check_text, slug

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- images


def import_image(src: str | Path, root: Path, rel_stem: str, settings: Settings, what: str = "photo",
                 mode: str = "RGB") -> tuple[str, list[str]]:
    """Copy an uploaded image into the project as PNG (EXIF rotation applied, scaled down if huge).

    `mode` is "RGB" for a picture (transparency laid on white) or "mask" for an L mask; storyboard.images
    has the rules for every kind of pixel.

    Returns the project-relative path and notes for the user. ImageUploadError says what is wrong.
    """
    src = Path(src)
    name = src.name
    try:
        size_mb = src.stat().st_size / 1e6
    except OSError:
        raise ImageUploadError(f"The {what} {name} could not be read; upload it again.") from None
    if size_mb > settings.max_upload_mb:
        raise ImageUploadError(f"The {what} {name} is {size_mb:.0f} MB; the limit is {settings.max_upload_mb} MB. "
                               "Save it smaller (e.g. as JPEG) and upload it again.")
    upright = open_image(src, f"the {what} {name}", mode=mode, max_pixels=settings.max_image_megapixels * 1_000_000,
                         advice=f"Upload a {IMAGE_FORMATS} file of at most {settings.max_image_megapixels} megapixels.",
                         error=ImageUploadError)
    notes: list[str] = []
    longest = max(upright.size)
    if longest > settings.max_reference_side:
        before = upright.size
        upright.thumbnail((settings.max_reference_side, settings.max_reference_side), Image.Resampling.LANCZOS)
        notes.append(f"The {what} was {before[0]}x{before[1]} pixels; it was scaled down to "
                     f"{upright.size[0]}x{upright.size[1]} (enough for the face and the character).")
    buffer = io.BytesIO()
    upright.save(buffer, format="PNG")
    data = buffer.getvalue()
    rel = f"{rel_stem}-{secrets.token_hex(3)}.png"
    atomic_write(resolve_inside(root, rel), data)
    return rel, notes


# ---------------------------------------------------------------- cast


def add_character(root: Path | str, name: str, photo: str | Path | None, settings: Settings, description: str = "",
                  color: str | None = None, mask: str | Path | None = None, outfit: str | Path | None = None) -> tuple[Project, str, list[str]]:
    """Add a cast member, with a reference photo or (for draft mode) without; returns the project, the new id and
    notes (e.g. scaled down, or no photo yet)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        name = (name or "").strip()
        # 1. Check the request.
        if not name:
            raise StudioError("Give the character a name (e.g. Mia) before adding them.")
        check_text("name", name)
        check_text("description", description)
        if any(c.name.lower() == name.lower() for c in project.cast):
            raise StudioError(f"There is already a character called {name}; give this one another name.")
        if len(project.cast) >= settings.max_cast:
            raise StudioError(f"The cast is full ({settings.max_cast} characters); remove one before adding another.")
        if (mask or outfit) and not photo:
            raise StudioError(f"A mask or outfit goes with a reference photo: upload a photo of {name} too, or add "
                              f"{name} without the mask and outfit.")
        color = _check_color(color) if color else next_color(project.cast)
        cid = _unique(slug(name, "character"), {c.id for c in project.cast})
        # 2. Write the images, then the story; remove the images if anything fails.
        written: list[str] = []
        try:
            reference: str | None = None
            notes = [f"No photo of {name} yet: draft mode draws them; StoryMaker needs a clear, front-facing photo "
                     f"({IMAGE_FORMATS}), so add one here before rendering with it."]
            if photo is not None and str(photo) != "":
                reference, notes = import_image(photo, root, f"cast/{cid}", settings, f"photo of {name}")
                written.append(reference)
            mask_rel = outfit_rel = None
            if mask:
                mask_rel, more = import_image(mask, root, f"cast/{cid}_mask", settings, f"mask of {name}", mode="mask")
                written.append(mask_rel)
                notes += more
            if outfit:
                outfit_rel, more = import_image(outfit, root, f"cast/{cid}_outfit", settings, f"outfit image of {name}")
                written.append(outfit_rel)
                notes += more
            member = Character(id=cid, name=name, reference=reference, mask=mask_rel, outfit=outfit_rel,
                               description=(description or "").strip(), color=color)
            project = dataclasses.replace(project, cast=project.cast + (member,))
            save_project(root, project, history=f"Add {name}")
        except BaseException:
            for rel in written:
                resolve_inside(root, rel).unlink(missing_ok=True)
            raise
        return project, cid, notes


def _check_color(color: str) -> str:
    check_text("color", color)
    color = (color or "").strip()
    if color.startswith("rgb"):  # some colour pickers answer rgb(r, g, b) or rgba(...)
        numbers = [float(v) for v in re.findall(r"[\d.]+", color)[:3]]
        if len(numbers) == 3:
            color = "#" + "".join(f"{round(v):02x}" for v in numbers)
    if not COLOR_PATTERN.match(color):
        raise StudioError(f"The colour {color!r} is not a colour like #e4572e; pick one with the colour picker.")
    return color.lower()


def update_character(root: Path | str, character_id: str, settings: Settings, *, name: str | None = None,
                     description: str | None = None, color: str | None = None, photo: str | Path | None = None,
                     mask: str | Path | None = None, outfit: str | Path | None = None,
                     clear_mask: bool = False, clear_outfit: bool = False) -> tuple[Project, list[str]]:
    """Change a cast member; only the fields given change. New images replace the old ones."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        member = _character(project, character_id)
        changes: dict[str, Any] = {}
        if name is not None:
            name = name.strip()
            if not name:
                raise StudioError("The name is empty; every character needs a name.")
            check_text("name", name)
            if any(c.name.lower() == name.lower() and c.id != character_id for c in project.cast):
                raise StudioError(f"There is already a character called {name}; choose another name.")
            changes["name"] = name
        if description is not None:
            check_text("description", description)
            changes["description"] = description.strip()
        if color:
            changes["color"] = _check_color(color)
        if mask and not (photo or member.reference):
            raise StudioError(f"A mask goes with a reference photo: upload a photo of {member.name} first (or with it).")
        written: list[str] = []
        notes: list[str] = []
        try:
            if photo:
                changes["reference"], more = import_image(photo, root, f"cast/{member.id}", settings, f"photo of {member.name}")
                written.append(changes["reference"])
                notes += more
            if mask:
                changes["mask"], more = import_image(mask, root, f"cast/{member.id}_mask", settings, f"mask of {member.name}", mode="mask")
                written.append(changes["mask"])
                notes += more
            elif clear_mask:
                changes["mask"] = None
            if outfit:
                changes["outfit"], more = import_image(outfit, root, f"cast/{member.id}_outfit", settings, f"outfit of {member.name}")
                written.append(changes["outfit"])
                notes += more
            elif clear_outfit:
                changes["outfit"] = None
            updated = dataclasses.replace(member, **changes)
            project = dataclasses.replace(project, cast=tuple(updated if c.id == character_id else c for c in project.cast))
            save_project(root, project, history=f"Change {member.name}")
        except BaseException:
            for rel in written:
                resolve_inside(root, rel).unlink(missing_ok=True)
            raise
        return project, notes


def mask_from_layers(layers: Sequence[Any], size: tuple[int, int]) -> Image.Image | None:
    """A white-on-black L-mode mask of `size` (width, height) from painted layers, or None if nothing is painted.

    A layer is a PIL image or a numpy array (H x W x 4 RGBA, or H x W); a pixel is painted where its alpha
    (or, without alpha, its value) is not zero. Layers of another size are scaled to `size` first.
    """
    import numpy as np

    mask = np.zeros((size[1], size[0]), dtype=bool)
    for layer in layers:
        if layer is None:
            continue
        if isinstance(layer, Image.Image):
            image = layer
        else:
            array = np.asarray(layer)
            if array.ndim == 3 and array.shape[2] == 4:
                image = Image.fromarray(array[:, :, 3].astype(np.uint8), "L")
            elif array.ndim == 3:
                image = Image.fromarray(array.max(axis=2).astype(np.uint8), "L")
            elif array.ndim == 2:
                image = Image.fromarray(array.astype(np.uint8), "L")
            else:
                raise StudioError(f"A painted layer of shape {array.shape} is not an image; paint the mask again.")
        if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
            image = image.convert("RGBA").getchannel("A")
        elif image.mode != "L":
            image = image.convert("L")
        if image.size != size:
            image = image.resize(size, Image.Resampling.NEAREST)
        mask |= np.asarray(image) > 0
    if not mask.any():
        return None
    return Image.fromarray(mask.astype(np.uint8) * 255, "L")


def set_painted_mask(root: Path | str, character_id: str, layers: Sequence[Any]) -> Project:
    """Make the painted layers the character's mask (white = character), at the size of their reference photo."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        member = _character(project, character_id)
        if member.reference is None:
            raise StudioError(f"{member.name} has no photo yet: upload a reference photo first, then paint the mask over it.")
        size = _cast_image(root, member, "reference").size
        mask = mask_from_layers(layers, size)
        if mask is None:
            raise StudioError(f"Nothing is painted yet: brush over {member.name} in the photo (the painted part becomes "
                              "the mask), then save it.")
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        rel = f"cast/{member.id}_mask-{secrets.token_hex(3)}.png"
        atomic_write(resolve_inside(root, rel), buffer.getvalue())
        try:
            updated = dataclasses.replace(member, mask=rel)
            project = dataclasses.replace(project, cast=tuple(updated if c.id == character_id else c for c in project.cast))
            save_project(root, project, history=f"Paint the mask of {member.name}")
        except BaseException:
            resolve_inside(root, rel).unlink(missing_ok=True)
            raise
        return project


def clear_mask(root: Path | str, character_id: str) -> Project:
    """Remove a character's mask (StoryMaker then finds the character in the photo itself)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        member = _character(project, character_id)
        if member.mask is None:
            return project
        project = dataclasses.replace(project, cast=tuple(dataclasses.replace(c, mask=None) if c.id == character_id else c
                                                          for c in project.cast))
        save_project(root, project, history=f"Remove the mask of {member.name}")
        return project


def mask_layer(root: Path | str, character_id: str, color: tuple[int, int, int] = (249, 115, 22)) -> Image.Image | None:
    """The character's mask as a paint layer (RGBA: `color` where the mask is white, clear elsewhere), or None."""
    root = Path(root)
    member = _character(load_project(root), character_id)
    if not member.mask or not member.reference:
        return None
    try:
        alpha = _cast_image(root, member, "mask")
        size = _cast_image(root, member, "reference").size
    except (ImageError, ProjectError) as exc:
        log.warning("Mask of %s: %s", character_id, exc)
        return None
    if alpha.size != size:
        alpha = alpha.resize(size, Image.Resampling.NEAREST)
    layer = Image.new("RGBA", size, (*color, 0))
    layer.putalpha(alpha.point(lambda v: 255 if v > 127 else 0))
    return layer


def remove_character(root: Path | str, character_id: str) -> Project:
    """Remove a cast member; panels lose them (their balloons become off-panel, prompts keep the name as text)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        member = _character(project, character_id)
        panels = []
        for panel in project.panels:
            prompt = PLACEHOLDER.sub(lambda m: member.name if m.group(1) == member.id else m.group(0), panel.prompt)
            balloons = tuple(dataclasses.replace(b, speaker=None) if b.speaker == member.id else b for b in panel.balloons)
            panels.append(dataclasses.replace(panel, prompt=prompt, balloons=balloons,
                                              characters=tuple(c for c in panel.characters if c != member.id)))
        project = dataclasses.replace(project, cast=tuple(c for c in project.cast if c.id != character_id), panels=tuple(panels))
        save_project(root, project, history=f"Remove {member.name}")
        return project


@dataclass(frozen=True)
class FaceCheck:
    """What the face check found in a reference photo."""

    status: str  # "found", "none" (no face) or "unavailable" (no face model here)
    message: str
    box: tuple[float, float, float, float] | None = None


def face_check(root: Path | str, character_id: str, engine: Engine) -> FaceCheck:
    """Look for the face StoryMaker will use in a cast member's photo (needs the engine's face model)."""
    root = Path(root)
    project = load_project(root)
    member = _character(project, character_id)
    if member.reference is None:
        return FaceCheck("unavailable", f"No photo of {member.name} yet: draft mode draws them as a stick figure; for "
                                        "StoryMaker renders, add a clear, front-facing photo.")
    encoder = getattr(engine, "encoder", None)
    if encoder is None and getattr(engine, "name", "") != "draft":
        return FaceCheck("unavailable",
                         f"The face check needs the face model, which loads with StoryMaker's models on the first render "
                         f"(or with Load models at the top). Then save {member.name} again to check the photo.")
    if encoder is None:
        return FaceCheck("unavailable",
                         f"The face check needs the face model (insightface buffalo_l), which draft mode does not load. "
                         f"Draft mode draws {member.name} as a stick figure and needs no face; for StoryMaker renders, "
                         "use a clear, front-facing photo and start the app with its models (see the banner).")
    ref = CharacterRef(id=member.id, name=member.name, color=member.color, description=member.description,
                       reference=resolve_inside(root, member.reference))
    try:
        encoding = encoder.encode(ref, face_only=True)
    except EngineUnavailable as exc:
        return FaceCheck("unavailable", f"The face check could not run: {exc}")
    except EngineError as exc:
        return FaceCheck("none", str(exc))
    notes = " ".join(encoding.warnings)
    return FaceCheck("found", f"Face found in the photo of {member.name}. {notes}".strip(), tuple(encoding.face_box))


def face_preview(root: Path | str, character_id: str, check: FaceCheck | None = None, max_side: int = 640) -> Image.Image:
    """The cast member's photo (scaled) with the detected face box drawn on it; without a photo, a placeholder."""
    root = Path(root)
    member = _character(load_project(root), character_id)
    if member.reference is None:
        return placeholder_portrait(member, min(max_side, 384))
    photo = _cast_image(root, member, "reference")
    scale = min(1.0, max_side / max(photo.size))
    if scale < 1:
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
    if check is not None and check.box is not None:
        x0, y0, x1, y1 = (v * scale for v in check.box)
        draw = ImageDraw.Draw(photo)
        width = max(2, round(max(photo.size) / 160))
        draw.rectangle((x0, y0, x1, y1), outline=member.color, width=width)
    return photo


def placeholder_portrait(member: Character, side: int = 384) -> Image.Image:
    """A square tile for a cast member without a photo: head and shoulders in their colour, and their name."""
    rgb = tuple(int(member.color[i : i + 2], 16) for i in (1, 3, 5))
    tile = Image.new("RGB", (side, side), tuple(round(c + (255 - c) * 0.8) for c in rgb))
    draw = ImageDraw.Draw(tile)
    line = max(2, side // 48)
    draw.ellipse([side * 0.2, side * 0.62, side * 0.8, side * 1.2], fill=rgb)  # shoulders
    draw.ellipse([side * 0.34, side * 0.2, side * 0.66, side * 0.52], fill=tuple(round(c + (255 - c) * 0.5) for c in rgb),
                 outline=rgb, width=line)
    label = font(max(12, side // 9), bold=True)
    name = member.name if draw.textlength(member.name, font=label) < side * 0.9 else member.name[:12] + "…"
    draw.text((side / 2, side * 0.1), name, font=label, fill=(40, 40, 46), anchor="mm")
    draw.text((side / 2, side * 0.9), "no photo yet", font=font(max(10, side // 18)), fill=(255, 255, 255), anchor="mm")
    return tile


def _cast_image(root: Path, member: Character, field: str) -> Image.Image:
    """A cast member's reference photo (RGB) or mask (L), upright; ImageError names the file and what to do."""
    rel = getattr(member, field)
    what = {"reference": "photo", "mask": "mask", "outfit": "outfit image"}[field]
    return open_image(resolve_inside(root, rel), f"the {what} of {member.name} ({rel})",
                      mode="mask" if field == "mask" else "RGB",
                      advice=f"Upload a new {what} of {member.name} in the Cast tab (or replace the file).")
