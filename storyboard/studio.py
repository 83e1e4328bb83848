"""What the studio app does, as plain functions: project folder in, project (and what changed) out.

Each edit loads the project, checks the request, writes any new file first, then saves story.yaml
atomically; on a bad request it raises a StoryboardError subclass that says what to do, and the
project on disk stays as it was. The UI (ui/) only turns these errors into messages.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import os
import re
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from storyboard.engines import CharacterRef, Engine, RenderContext
from storyboard.errors import EngineError, EngineUnavailable, PoseError, ProjectError, StoryboardError
from storyboard.layout import list_templates, project_layout
from storyboard.model import (
    BALLOON_KINDS,
    DEFAULT_SHOT,
    ID_PATTERN,
    MAX_CHARACTERS_PER_PANEL,
    READING_ORDERS,
    SHOT_TYPES,
    STORY_FILE,
    Balloon,
    Character,
    PageSettings,
    Panel,
    Project,
    next_color,
)
from storyboard.model import COLOR_PATTERN
from storyboard.pagesizes import parse_page_size
from storyboard.paths import resolve_inside
from storyboard.poses import Pose, pose_from_json, read_pose, write_pose
from storyboard.presets import load_style, with_overrides
from storyboard.render import PanelEvent, RenderOptions, render_project, render_variations, stale_panels
from storyboard.settings import Settings
from storyboard.storyfile import MAX_SEED, PLACEHOLDER, atomic_write, export_zip, import_zip, load_project, new_project, save_project

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
SAMPLE = "rainy-monday"
IMAGE_FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class StudioError(StoryboardError):
    """A request from the studio cannot be done as asked (bad upload, too many characters, empty prompt ...)."""


class ImageUploadError(StudioError):
    """An uploaded file is not a usable image."""


# ---------------------------------------------------------------- helpers


def slug(text: str, fallback: str = "item") -> str:
    """A valid id from free text: lowercase letters, digits and '-'."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:32].strip("-")
    return out if out and ID_PATTERN.match(out) else fallback


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _panel(project: Project, panel_id: str, root: Path) -> Panel:
    try:
        return project.panel(panel_id)
    except KeyError:
        raise ProjectError(f"There is no panel {panel_id!r} in {project.title!r} any more; pick a panel from the list.") from None


def _character(project: Project, character_id: str) -> Character:
    try:
        return project.character(character_id)
    except KeyError:
        raise ProjectError(f"There is no character {character_id!r} in {project.title!r}; pick one from the cast.") from None


def _names(project: Project, ids: Sequence[str]) -> str:
    names = []
    for cid in ids:
        try:
            names.append(project.character(cid).name)
        except KeyError:
            names.append(cid)
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else "nobody"


def _remove_unreferenced(root: Path, project: Project, rels: Sequence[str | None]) -> None:
    """Delete files the project no longer names (after a successful save)."""
    from storyboard.storyfile import project_paths

    used = set(project_paths(project))
    for rel in rels:
        if rel and rel not in used:
            try:
                resolve_inside(root, rel).unlink(missing_ok=True)
            except (OSError, ProjectError) as exc:
                log.warning("Could not remove %s: %s", rel, exc)


# ---------------------------------------------------------------- images


def import_image(src: str | Path, root: Path, rel_stem: str, settings: Settings, what: str = "photo",
                 mode: str = "RGB") -> tuple[str, list[str]]:
    """Copy an uploaded image into the project as PNG (EXIF rotation applied, scaled down if huge).

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
    try:
        with Image.open(src) as image:
            width, height = image.size
            if width * height > settings.max_image_megapixels * 1e6:
                raise ImageUploadError(
                    f"The {what} {name} is {width}x{height} pixels ({width * height / 1e6:.0f} megapixels); the limit is "
                    f"{settings.max_image_megapixels} megapixels. Scale it down and upload it again.")
            image.load()
            upright = ImageOps.exif_transpose(image)
    except ImageUploadError:
        raise
    except Image.DecompressionBombError:
        raise ImageUploadError(f"The {what} {name} is far too large to open safely; scale it down and upload it again.") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        detail = "" if isinstance(exc, UnidentifiedImageError) else f" ({exc})"
        raise ImageUploadError(f"The {what} {name} is not an image this app can read{detail}. "
                               f"Upload a {IMAGE_FORMATS} file.") from None
    notes: list[str] = []
    if mode == "RGB" and upright.mode in ("RGBA", "LA", "P"):
        rgba = upright.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        upright = flat
    upright = upright.convert(mode)
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


# ---------------------------------------------------------------- projects and sessions


def project_summary(project: Project) -> str:
    return f"{project.title}: {len(project.cast)} characters, {len(project.panels)} panels, style {project.style}"


def create_project(session_dir: Path | str, title: str) -> Path:
    """A new empty project folder in the session's folder, named after the title."""
    title = (title or "").strip()
    if not title:
        raise StudioError("Give the new project a title, e.g. 'Rainy Monday'.")
    if len(title) > 120:
        raise StudioError(f"The title is {len(title)} characters long; keep it under 120.")
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in session_dir.iterdir()}
    root = session_dir / _unique(slug(title, "project"), taken)
    new_project(root, title=title)
    return root


def open_sample(session_dir: Path | str, name: str = SAMPLE) -> Path:
    """The session's copy of a sample project (copied on first use, the user's edits kept after that)."""
    source = SAMPLES_DIR / name
    if not (source / STORY_FILE).is_file():
        raise ProjectError(f"There is no sample {name!r}; samples are: {', '.join(p.name for p in SAMPLES_DIR.iterdir())}.")
    dest = Path(session_dir) / f"sample-{name}"  # never a user's project of the same title
    if not (dest / STORY_FILE).is_file():
        shutil.copytree(source, dest, dirs_exist_ok=True)
    return dest


def import_project(session_dir: Path | str, archive: str | Path, settings: Settings) -> Path:
    """Unpack an uploaded project .zip into a new folder of the session; nothing is kept if it is broken."""
    archive = Path(archive)
    if archive.stat().st_size > settings.max_upload_mb * 1e6:
        raise StudioError(f"{archive.name} is larger than {settings.max_upload_mb} MB; that is too big to upload here.")
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in session_dir.iterdir()}
    dest = session_dir / _unique(slug(archive.stem, "imported"), taken)
    try:
        project = import_zip(archive, dest)
    except ProjectError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise ProjectError(f"Could not open {archive.name}: {exc}") from None
    if len(project.panels) > settings.max_panels:
        shutil.rmtree(dest, ignore_errors=True)
        raise StudioError(f"{archive.name} has {len(project.panels)} panels; this studio allows {settings.max_panels}.")
    return dest


def export_project_zip(root: Path | str, out_dir: Path | str) -> Path:
    """The project as one .zip in `out_dir`, named after its folder."""
    root = Path(root)
    return export_zip(root, Path(out_dir) / f"{root.name}.zip")


def list_projects(session_dir: Path | str) -> list[tuple[str, Path]]:
    """(title, folder) of the session's projects, most recently changed first."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        return []
    found = []
    for folder in session_dir.iterdir():
        story = folder / STORY_FILE
        if story.is_file():
            try:
                title = load_project(folder).title
            except StoryboardError:
                title = f"{folder.name} (cannot be opened)"
            found.append((story.stat().st_mtime, title, folder))
    return [(title, folder) for _, title, folder in sorted(found, key=lambda t: t[0], reverse=True)]


def check_inside(session_dir: Path | str, root: Path | str) -> Path:
    """`root` if it is a project folder of this session; ProjectError otherwise."""
    session_real = Path(os.path.realpath(session_dir))
    real = Path(os.path.realpath(root))
    if session_real not in real.parents:
        raise ProjectError(f"{root} is not one of this session's projects; open it from the list of your projects.")
    load_project(real)
    return real


def set_title(root: Path | str, title: str) -> Project:
    title = (title or "").strip()
    if not title:
        raise StudioError("The title is empty; give the story a title.")
    project = load_project(root)
    project = dataclasses.replace(project, title=title)
    save_project(root, project)
    return project


# ---------------------------------------------------------------- cast


def add_character(root: Path | str, name: str, photo: str | Path | None, settings: Settings, description: str = "",
                  color: str | None = None, mask: str | Path | None = None, outfit: str | Path | None = None) -> tuple[Project, str, list[str]]:
    """Add a cast member with a reference photo; returns the project, the new id and notes (e.g. scaled down)."""
    root = Path(root)
    project = load_project(root)
    name = (name or "").strip()
    # 1. Check the request.
    if not name:
        raise StudioError("Give the character a name (e.g. Mia) before adding them.")
    if len(name) > 60:
        raise StudioError(f"The name {name[:20]!r}... is {len(name)} characters long; keep it under 60.")
    if any(c.name.lower() == name.lower() for c in project.cast):
        raise StudioError(f"There is already a character called {name}; give this one another name.")
    if len(project.cast) >= settings.max_cast:
        raise StudioError(f"The cast is full ({settings.max_cast} characters); remove one before adding another.")
    if photo is None or str(photo) == "":
        raise StudioError(f"Upload a reference photo of {name} ({IMAGE_FORMATS}); a clear, front-facing one works best.")
    color = _check_color(color) if color else next_color(project.cast)
    cid = _unique(slug(name, "character"), {c.id for c in project.cast})
    # 2. Write the images, then the story; remove the images if anything fails.
    written: list[str] = []
    try:
        reference, notes = import_image(photo, root, f"cast/{cid}", settings, f"photo of {name}")
        written.append(reference)
        mask_rel = outfit_rel = None
        if mask:
            mask_rel, more = import_image(mask, root, f"cast/{cid}_mask", settings, f"mask of {name}", mode="L")
            written.append(mask_rel)
            notes += more
        if outfit:
            outfit_rel, more = import_image(outfit, root, f"cast/{cid}_outfit", settings, f"outfit image of {name}")
            written.append(outfit_rel)
            notes += more
        member = Character(id=cid, name=name, reference=reference, mask=mask_rel, outfit=outfit_rel,
                           description=(description or "").strip(), color=color)
        project = dataclasses.replace(project, cast=project.cast + (member,))
        save_project(root, project)
    except BaseException:
        for rel in written:
            resolve_inside(root, rel).unlink(missing_ok=True)
        raise
    return project, cid, notes


def _check_color(color: str) -> str:
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
    project = load_project(root)
    member = _character(project, character_id)
    changes: dict[str, Any] = {}
    if name is not None:
        name = name.strip()
        if not name:
            raise StudioError("The name is empty; every character needs a name.")
        if any(c.name.lower() == name.lower() and c.id != character_id for c in project.cast):
            raise StudioError(f"There is already a character called {name}; choose another name.")
        changes["name"] = name
    if description is not None:
        changes["description"] = description.strip()
    if color:
        changes["color"] = _check_color(color)
    written: list[str] = []
    notes: list[str] = []
    old = [member.reference, member.mask, member.outfit]
    try:
        if photo:
            changes["reference"], more = import_image(photo, root, f"cast/{member.id}", settings, f"photo of {member.name}")
            written.append(changes["reference"])
            notes += more
        if mask:
            changes["mask"], more = import_image(mask, root, f"cast/{member.id}_mask", settings, f"mask of {member.name}", mode="L")
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
        save_project(root, project)
    except BaseException:
        for rel in written:
            resolve_inside(root, rel).unlink(missing_ok=True)
        raise
    _remove_unreferenced(root, project, [r for r in old if r and r.startswith("cast/")])
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
    project = load_project(root)
    member = _character(project, character_id)
    with Image.open(resolve_inside(root, member.reference)) as photo:
        size = photo.size
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
        save_project(root, project)
    except BaseException:
        resolve_inside(root, rel).unlink(missing_ok=True)
        raise
    _remove_unreferenced(root, project, [member.mask])
    return project


def clear_mask(root: Path | str, character_id: str) -> Project:
    """Remove a character's mask (StoryMaker then finds the character in the photo itself)."""
    root = Path(root)
    project = load_project(root)
    member = _character(project, character_id)
    if member.mask is None:
        return project
    project = dataclasses.replace(project, cast=tuple(dataclasses.replace(c, mask=None) if c.id == character_id else c
                                                      for c in project.cast))
    save_project(root, project)
    _remove_unreferenced(root, project, [member.mask])
    return project


def mask_layer(root: Path | str, character_id: str, color: tuple[int, int, int] = (249, 115, 22)) -> Image.Image | None:
    """The character's mask as a paint layer (RGBA: `color` where the mask is white, clear elsewhere), or None."""
    root = Path(root)
    member = _character(load_project(root), character_id)
    if not member.mask:
        return None
    try:
        with Image.open(resolve_inside(root, member.mask)) as image:
            alpha = image.convert("L")
        with Image.open(resolve_inside(root, member.reference)) as photo:
            size = photo.size
    except (OSError, UnidentifiedImageError, ProjectError) as exc:
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
    project = load_project(root)
    member = _character(project, character_id)
    panels = []
    for panel in project.panels:
        prompt = PLACEHOLDER.sub(lambda m: member.name if m.group(1) == member.id else m.group(0), panel.prompt)
        balloons = tuple(dataclasses.replace(b, speaker=None) if b.speaker == member.id else b for b in panel.balloons)
        panels.append(dataclasses.replace(panel, prompt=prompt, balloons=balloons,
                                          characters=tuple(c for c in panel.characters if c != member.id)))
    project = dataclasses.replace(project, cast=tuple(c for c in project.cast if c.id != character_id), panels=tuple(panels))
    save_project(root, project)
    _remove_unreferenced(root, project, [member.reference, member.mask, member.outfit])
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
    """The cast member's photo (scaled) with the detected face box drawn on it."""
    root = Path(root)
    member = _character(load_project(root), character_id)
    with Image.open(resolve_inside(root, member.reference)) as image:
        photo = image.convert("RGB")
    scale = min(1.0, max_side / max(photo.size))
    if scale < 1:
        photo = photo.resize((round(photo.width * scale), round(photo.height * scale)), Image.Resampling.LANCZOS)
    if check is not None and check.box is not None:
        x0, y0, x1, y1 = (v * scale for v in check.box)
        draw = ImageDraw.Draw(photo)
        width = max(2, round(max(photo.size) / 160))
        draw.rectangle((x0, y0, x1, y1), outline=member.color, width=width)
    return photo


# ---------------------------------------------------------------- panels

PANEL_FIELDS = ("prompt", "characters", "shot", "caption", "notes", "duration", "seed", "seed_locked")


def _check_panel(project: Project, panel: Panel) -> None:
    """Refuse a panel that would be saved wrong, with a message for the person editing it."""
    if not panel.prompt.strip():
        raise StudioError(f"Panel {panel.id}: the prompt is empty. Describe what happens, e.g. "
                          "\"{mia} waves at the bus\" (use the cast buttons to insert names).")
    if len(panel.characters) > MAX_CHARACTERS_PER_PANEL:
        raise StudioError(f"Panel {panel.id}: {_names(project, panel.characters)} are {len(panel.characters)} characters; "
                          f"a panel holds at most {MAX_CHARACTERS_PER_PANEL}. Untick one, or split the scene over two panels.")
    cast_ids = {c.id for c in project.cast}
    for cid in panel.characters:
        if cid not in cast_ids:
            raise StudioError(f"Panel {panel.id}: {cid!r} is not in the cast; add them in the Cast tab first.")
    for name in PLACEHOLDER.findall(panel.prompt):
        if name not in cast_ids:
            raise StudioError(f"Panel {panel.id}: the prompt names {{{name}}}, who is not in the cast. "
                              f"Use a cast id in braces ({', '.join('{' + c + '}' for c in cast_ids) or 'the cast is empty'}).")
    if panel.shot not in SHOT_TYPES:
        raise StudioError(f"Panel {panel.id}: {panel.shot!r} is not a shot type; pick one of {', '.join(SHOT_TYPES)}.")
    if panel.seed is not None and not 0 <= panel.seed <= MAX_SEED:
        raise StudioError(f"Panel {panel.id}: the seed must be a whole number from 0 to {MAX_SEED}, got {panel.seed}.")
    if panel.duration is not None and panel.duration <= 0:
        raise StudioError(f"Panel {panel.id}: the duration must be a positive number of seconds, got {panel.duration:g}.")


def _coerce(field: str, value: Any) -> Any:
    if field == "characters":
        return tuple(str(c) for c in (value or ()))
    if field in ("seed",):
        if value is None or value == "":
            return None
        if isinstance(value, float) and not value.is_integer():
            raise StudioError(f"The seed must be a whole number, got {value}.")
        return int(value)
    if field == "duration":
        return None if value in (None, "", 0) else float(value)
    if field == "seed_locked":
        return bool(value)
    return "" if value is None else str(value).strip() if field == "prompt" else str(value)


def add_panel(root: Path | str, prompt: str, settings: Settings, characters: Sequence[str] = (), shot: str = DEFAULT_SHOT,
              after: str | None = None) -> tuple[Project, str]:
    """Add a panel (at the end, or after the panel `after`); returns the project and the new panel's id."""
    root = Path(root)
    project = load_project(root)
    if len(project.panels) >= settings.max_panels:
        raise StudioError(f"The story has {len(project.panels)} panels, the most this studio allows; delete one first.")
    numbers = [int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))]
    pid = _unique(f"p{max(numbers, default=0) + 1}", {p.id for p in project.panels})
    panel = Panel(id=pid, prompt=_coerce("prompt", prompt), characters=_coerce("characters", characters), shot=shot or DEFAULT_SHOT)
    _check_panel(project, panel)
    panels = list(project.panels)
    index = len(panels) if after is None else next((i + 1 for i, p in enumerate(panels) if p.id == after), len(panels))
    panels.insert(index, panel)
    project = dataclasses.replace(project, panels=tuple(panels))
    save_project(root, project)
    return project, pid


def update_panel(root: Path | str, panel_id: str, **changes: Any) -> Project:
    """Change some of a panel's fields (prompt, characters, shot, caption, notes, duration, seed, seed_locked)."""
    unknown = set(changes) - set(PANEL_FIELDS)
    if unknown:
        raise StudioError(f"Unknown panel field(s) {', '.join(sorted(unknown))}; fields are: {', '.join(PANEL_FIELDS)}.")
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    updated = dataclasses.replace(panel, **{k: _coerce(k, v) for k, v in changes.items()})
    _check_panel(project, updated)
    if updated == panel:
        return project
    project = project.replace_panel(updated)
    if updated.characters != panel.characters and panel.pose:
        _recast_pose(root, updated)
    save_project(root, project)
    return project


def _recast_pose(root: Path, panel: Panel) -> None:
    """Give the pose's skeletons the panel's cast, in order, after the panel's characters changed."""
    path = resolve_inside(root, panel.pose)
    try:
        pose = read_pose(path)
    except PoseError as exc:
        log.warning("Panel %s: %s", panel.id, exc)
        return
    names = list(panel.characters)[: len(pose.people)]
    write_pose(path, pose.with_characters(names + [None] * (len(pose.people) - len(names))))


def duplicate_panel(root: Path | str, panel_id: str, settings: Settings) -> tuple[Project, str]:
    """A copy of a panel (pose and takes included) right after it; returns the project and the copy's id."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    if len(project.panels) >= settings.max_panels:
        raise StudioError(f"The story has {len(project.panels)} panels, the most this studio allows; delete one first.")
    numbers = [int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))]
    pid = _unique(f"p{max(numbers, default=0) + 1}", {p.id for p in project.panels})
    copy = dataclasses.replace(panel, id=pid, pose=None)
    if panel.pose:
        source = resolve_inside(root, panel.pose)
        if source.is_file():
            rel = f"poses/{pid}.json"
            atomic_write(resolve_inside(root, rel), source.read_bytes())
            copy = dataclasses.replace(copy, pose=rel)
    panels = list(project.panels)
    panels.insert(panels.index(panel) + 1, copy)
    project = dataclasses.replace(project, panels=tuple(panels))
    save_project(root, project)
    return project, pid


def delete_panel(root: Path | str, panel_id: str) -> Project:
    """Remove a panel (its rendered images stay on disk until the project is cleaned)."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    project = dataclasses.replace(project, panels=tuple(p for p in project.panels if p.id != panel_id))
    save_project(root, project)
    if panel.pose:
        _remove_unreferenced(root, project, [panel.pose])
    return project


def move_panel(root: Path | str, panel_id: str, offset: int) -> Project:
    """Move a panel `offset` places (negative: earlier); it stops at either end."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    panels = list(project.panels)
    index = panels.index(panel)
    target = max(0, min(len(panels) - 1, index + int(offset)))
    if target == index:
        return project
    panels.insert(target, panels.pop(index))
    project = dataclasses.replace(project, panels=tuple(panels))
    save_project(root, project)
    return project


def _check_balloon(project: Project, panel: Panel, text: str, speaker: str | None, kind: str) -> Balloon:
    text = (text or "").strip()
    if not text:
        raise StudioError(f"Panel {panel.id}: the balloon has no text; type what is said.")
    if kind not in BALLOON_KINDS:
        raise StudioError(f"Balloon kind {kind!r} is unknown; pick one of {', '.join(BALLOON_KINDS)}.")
    speaker = speaker or None
    if speaker is not None and speaker not in {c.id for c in project.cast}:
        raise StudioError(f"Panel {panel.id}: the speaker {speaker!r} is not in the cast; pick a cast member or nobody.")
    return Balloon(text=text, speaker=speaker, kind=kind)


def add_balloon(root: Path | str, panel_id: str, text: str, speaker: str | None = None, kind: str = "speech") -> Project:
    """Add a speech, thought, shout or whisper balloon to a panel."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    balloon = _check_balloon(project, panel, text, speaker, kind)
    project = project.replace_panel(dataclasses.replace(panel, balloons=panel.balloons + (balloon,)))
    save_project(root, project)
    return project


def _balloon_index(panel: Panel, index: int) -> int:
    if not isinstance(index, int) or not 0 <= index < len(panel.balloons):
        raise StudioError(f"Panel {panel.id} has no balloon {index if not isinstance(index, int) else index + 1}; "
                          f"it has {len(panel.balloons)}. Pick one from the list.")
    return index


def update_balloon(root: Path | str, panel_id: str, index: int, text: str, speaker: str | None = None,
                   kind: str = "speech") -> Project:
    """Replace a panel's balloon number `index` (from 0)."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    index = _balloon_index(panel, index)
    balloons = list(panel.balloons)
    balloons[index] = _check_balloon(project, panel, text, speaker, kind)
    project = project.replace_panel(dataclasses.replace(panel, balloons=tuple(balloons)))
    save_project(root, project)
    return project


def remove_balloon(root: Path | str, panel_id: str, index: int) -> Project:
    """Remove a panel's balloon number `index` (from 0)."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    index = _balloon_index(panel, index)
    project = project.replace_panel(dataclasses.replace(panel, balloons=panel.balloons[:index] + panel.balloons[index + 1:]))
    save_project(root, project)
    return project


def panel_pose(root: Path | str, panel: Panel) -> Pose | None:
    """The panel's pose, or None when it has none (or its file cannot be read)."""
    if not panel.pose:
        return None
    try:
        return read_pose(resolve_inside(Path(root), panel.pose))
    except PoseError as exc:
        log.warning("Panel %s: %s", panel.id, exc)
        return None


def set_pose(root: Path | str, panel_id: str, pose: Pose | dict | str | None) -> tuple[Project, bool]:
    """Set (or with None / no skeletons, clear) a panel's pose; returns the project and whether it changed."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    if isinstance(pose, str):
        try:
            pose = json.loads(pose) if pose.strip() else None
        except json.JSONDecodeError as exc:
            raise PoseError(f"Panel {panel_id}: the pose is not valid JSON ({exc}).") from None
    if isinstance(pose, dict):
        pose = pose_from_json(pose, f"the pose of panel {panel_id}")
    if pose is None or not pose.people:
        if panel.pose is None:
            return project, False
        old = panel.pose
        project = project.replace_panel(dataclasses.replace(panel, pose=None))
        save_project(root, project)
        _remove_unreferenced(root, project, [old])
        return project, True
    if len(pose.people) > MAX_CHARACTERS_PER_PANEL:
        raise PoseError(f"Panel {panel_id}: the pose has {len(pose.people)} skeletons; a panel holds at most "
                        f"{MAX_CHARACTERS_PER_PANEL}. Remove one.")
    if panel_pose(root, panel) == pose:
        return project, False
    rel = panel.pose or f"poses/{panel_id}.json"
    write_pose(resolve_inside(root, rel), pose)
    if panel.pose != rel:
        project = project.replace_panel(dataclasses.replace(panel, pose=rel))
        save_project(root, project)
    return project, True


def select_take(root: Path | str, panel_id: str, index: int) -> Project:
    """Make take number `index` (from 0) the panel's chosen image."""
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    if not isinstance(index, int) or not 0 <= index < len(panel.takes):
        raise StudioError(f"Panel {panel_id} has {len(panel.takes)} take(s); there is no take {index}.")
    if panel.selected != index:
        project = project.replace_panel(dataclasses.replace(panel, selected=index))
        save_project(root, project)
    return project


# ---------------------------------------------------------------- style and pages


def set_style(root: Path | str, style_id: str) -> Project:
    """Switch the story's style preset (the panels become stale; nothing else changes)."""
    load_style(style_id)  # PresetError lists the styles
    project = load_project(root)
    if project.style != style_id:
        project = dataclasses.replace(project, style=style_id)
        save_project(root, project)
    return project


STYLE_OVERRIDE_KEYS = ("scheduler", "steps", "guidance", "ip_adapter_scale", "lora_scale", "pose_scale", "pose_start",
                       "pose_end")


def style_overrides(project: Project) -> dict[str, Any]:
    """The project's own sampler settings over its style's (only those it overrides)."""
    return dict(project.style_overrides)


def set_style_overrides(root: Path | str, overrides: Mapping[str, Any]) -> Project:
    """Change the project's sampler overrides; a value None or equal to the style's own removes that override.

    Keys not given keep their override. PresetError names a bad key or value and its range; nothing changes then.
    """
    project = load_project(root)
    style = load_style(project.style)
    unknown = [k for k in overrides if k not in STYLE_OVERRIDE_KEYS]
    if unknown:
        raise StudioError(f"{', '.join(map(repr, unknown))} cannot be set per project; use {', '.join(STYLE_OVERRIDE_KEYS)}.")
    merged = dict(project.style_overrides)
    for key, value in overrides.items():
        if isinstance(value, float) and key == "steps" and value.is_integer():
            value = int(value)  # sliders and JSON send 30.0
        if isinstance(value, float):
            value = round(value, 3)  # slider steps arrive as 0.8500000000000001
        if value is None or value == getattr(style.sampler, key):
            merged.pop(key, None)
        else:
            merged[key] = value
    with_overrides(style, merged)  # PresetError: which key, which range
    ordered = tuple((k, merged[k]) for k in STYLE_OVERRIDE_KEYS if k in merged)
    if ordered != project.style_overrides:
        project = dataclasses.replace(project, style_overrides=ordered)
        save_project(root, project)
    return project


def reset_style_overrides(root: Path | str) -> Project:
    """Back to the style's own sampler settings (every override removed)."""
    project = load_project(root)
    if project.style_overrides:
        project = dataclasses.replace(project, style_overrides=())
        save_project(root, project)
    return project


def set_page_settings(root: Path | str, size: str | None = None, template: str | None = None,
                      reading: str | None = None) -> Project:
    """Change page size, template or reading order (only those given)."""
    project = load_project(root)
    page = project.page
    if size is not None:
        page = dataclasses.replace(page, size=parse_page_size(size).name)
    if template is not None:
        if template not in list_templates():
            raise StudioError(f"There is no page template {template!r}; pick one of {', '.join(list_templates())}.")
        page = dataclasses.replace(page, template=template)
    if reading is not None:
        if reading not in READING_ORDERS:
            raise StudioError(f"Reading order {reading!r} must be ltr (left to right) or rtl (right to left, manga).")
        page = dataclasses.replace(page, reading=reading)
    if page != project.page:
        project = dataclasses.replace(project, page=page)
        save_project(root, project)
    return project


def page_previews(root: Path | str, page: PageSettings | None = None, width_px: int = 420) -> list[Image.Image]:
    """One small picture per page: each panel's slot with its chosen take (cropped to fit) and its number."""
    root = Path(root)
    project = load_project(root)
    if page is not None:
        project = dataclasses.replace(project, page=page)
    if not project.panels:
        return []
    pages = project_layout(project)
    images: list[Image.Image] = []
    for layout in pages:
        scale = width_px / layout.width_pt
        canvas = Image.new("RGB", (width_px, round(layout.height_pt * scale)), "white")
        draw = ImageDraw.Draw(canvas)
        for placed in layout.panels:
            r = placed.rect
            box = (round(r.x * scale), round(r.y * scale), round(r.right * scale), round(r.bottom * scale))
            size = (max(1, box[2] - box[0]), max(1, box[3] - box[1]))
            take = project.panel(placed.panel_id).selected_take
            art = None
            if take is not None:
                try:
                    with Image.open(resolve_inside(root, take.file)) as image:
                        art = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
                except (OSError, UnidentifiedImageError, ProjectError):
                    art = None
            if art is not None:
                canvas.paste(art, box[:2])
            else:
                draw.rectangle(box, fill=(236, 236, 240))
            draw.rectangle(box, outline=(30, 30, 30), width=2)
            label = str(placed.number)
            draw.rectangle((box[0] + 3, box[1] + 3, box[0] + 9 + 7 * len(label), box[1] + 19), fill="white", outline=(30, 30, 30))
            draw.text((box[0] + 6, box[1] + 5), label, fill=(30, 30, 30))
        images.append(canvas)
    return images


# ---------------------------------------------------------------- rendering


@dataclass(frozen=True)
class RenderUpdate:
    """One step of a render run, for a UI to show: progress, and the panel just finished."""

    done: int
    total: int
    panel_id: str | None
    message: str
    project: Project


def render_options(settings: Settings, steps: int | None = None) -> RenderOptions:
    """RenderOptions within the app's limits (renders shrink to max_render_side on a Space)."""
    return RenderOptions(steps=steps or None, max_side=settings.max_render_side or None)


def panel_states(root: Path | str, project: Project, engine: Engine, settings: Settings) -> dict[str, str]:
    """Each panel's state: 'none' (not rendered), 'stale' (inputs changed) or 'current'."""
    root = Path(root)
    try:
        stale = stale_panels(root, project, engine, render_options(settings))
    except StoryboardError as exc:
        log.warning("Cannot tell stale panels: %s", exc)
        stale = {p.id for p in project.panels}
    return {p.id: "none" if p.selected_take is None else "stale" if p.id in stale else "current" for p in project.panels}


def _check_renderable(project: Project, panel_ids: Sequence[str]) -> None:
    for pid in panel_ids:
        panel = project.panel(pid)
        if not panel.prompt.strip():
            raise StudioError(f"Panel {pid} has an empty prompt; describe what happens in it before rendering.")


def iter_render(root: Path | str, engine: Engine, settings: Settings, which: str = "stale", panel_id: str | None = None,
                count: int = 1, context: RenderContext | None = None,
                on_step: Callable[[str, int, int], None] | None = None) -> Iterator[RenderUpdate]:
    """Render panels one at a time and yield after each, so a UI can show them as they finish.

    `which`: 'stale' (every panel whose inputs changed), 'all', 'panel' (one panel, again) or
    'variations' (`count` new takes of one panel). `on_step(panel_id, step, total)` reports engine steps.
    RenderCancelled propagates when the context is cancelled; panels finished before that are kept.
    """
    root = Path(root)
    project = load_project(root)
    options = render_options(settings)
    if which in ("panel", "variations"):
        _panel(project, panel_id or "", root)
        targets = [panel_id] * (count if which == "variations" else 1)
        if which == "variations" and not 1 <= count <= settings.max_variations:
            raise StudioError(f"Ask for 1 to {settings.max_variations} variations, not {count}.")
    elif which == "stale":
        stale = stale_panels(root, project, engine, options)
        targets = [p.id for p in project.panels if p.id in stale]
    elif which == "all":
        targets = [p.id for p in project.panels]
    else:
        raise StudioError(f"Unknown render choice {which!r}; use stale, all, panel or variations.")
    _check_renderable(project, targets)
    total = len(targets)
    if not total:
        yield RenderUpdate(0, 0, None, "Every panel is up to date; nothing to render.", project)
        return
    context = context or RenderContext()
    for done, pid in enumerate(targets):
        started = time.perf_counter()

        def progress(step: int, steps: int, pid: str = pid) -> None:
            if on_step is not None:
                on_step(pid, step, steps)

        step_context = RenderContext(on_progress=progress, cancel_event=context.cancel_event)
        project = load_project(root)
        if which == "variations":
            project = render_variations(root, project, engine, pid, 1, context=step_context, options=options)
        else:
            project = render_project(root, project, engine, [pid], force=True, context=step_context, options=options)
        seconds = time.perf_counter() - started
        yield RenderUpdate(done + 1, total, pid, f"Panel {pid} rendered ({done + 1} of {total}, {seconds:.1f} s).", project)


# ---------------------------------------------------------------- export

EXPORT_KINDS = {"pdf": "Comic pages (PDF)", "png": "Comic pages (PDF + PNG per page)", "sheet": "Storyboard sheet (PDF)"}


@dataclass(frozen=True)
class ExportFiles:
    """The files an export wrote and what it has to say."""

    files: tuple[Path, ...]
    pages: int
    rendered: tuple[str, ...]
    notes: tuple[str, ...]


def export(root: Path | str, out_dir: Path | str, kind: str, engine: Engine, context: RenderContext | None = None,
           on_panel: Callable[[PanelEvent], None] | None = None) -> ExportFiles:
    """Export the project (rendering panels without a take first) into `out_dir`; returns the files written."""
    from storyboard.export import export_project, make_options

    if kind not in EXPORT_KINDS:
        raise StudioError(f"Unknown export {kind!r}; choose one of {', '.join(EXPORT_KINDS)}.")
    root, out_dir = Path(root), Path(out_dir)
    project = load_project(root)
    _check_renderable(project, [p.id for p in project.panels if p.selected_take is None])
    name = slug(project.title, "story")
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf = out_dir / (f"{name}-storyboard.pdf" if kind == "sheet" else f"{name}.pdf")
    png_dir = out_dir / f"{name}-pages" if kind == "png" else None
    if png_dir is not None and png_dir.is_dir():
        shutil.rmtree(png_dir)
    options = make_options(pdf, sheet=kind == "sheet", png_dir=png_dir)
    result = export_project(root, project, options, engine=engine, on_panel=on_panel, context=context)
    notes = tuple(str(issue) for issue in result.issues)
    return ExportFiles((result.pdf, *result.pngs), result.pages, tuple(result.rendered), notes)


# ---------------------------------------------------------------- per-session cancel


class CancelRegistry:
    """One cancel flag per session, so Stop in one browser never stops another's render."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, key: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def fresh(self, key: str) -> threading.Event:
        """The session's flag, cleared for a new run."""
        event = self.event(key)
        event.clear()
        return event

    def cancel(self, key: str) -> None:
        self.event(key).set()
