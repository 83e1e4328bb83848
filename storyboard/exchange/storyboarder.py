"""Storyboarder exchange: a project as a `.storyboarder` file with its board images, and such a file back in.

A `.storyboarder` file is JSON with the fields Storyboarder's own files carry: `version`, `aspectRatio`,
`fps`, `defaultBoardTiming` (ms) and `boards`, each with `uid`, `url` (board-N-UID.png), `newShot`,
`lastEdited`, `layers`, `number`, `shot` ("1A"), `time` and `duration` (ms), `dialogue`, `action` and
`notes`. Images live in `images/` beside it: each board's art as its `reference` layer
(board-N-UID-reference.png), plus the flattened `-posterframe.jpg` and the `-thumbnail.png` Storyboarder
shows. What Storyboarder has no field for (shot type, prompt with {id}s, balloon kinds, caption, cast)
travels in a `storyboardStudio` key of the file and of each board, which Storyboarder keeps as it is;
a file without it is read from Storyboarder's own fields alone.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from storyboard.exchange import ExchangeError
from storyboard.model import Character, Panel, Project

log = logging.getLogger(__name__)

FORMAT_VERSION = "1.9.2"  # the Storyboarder version whose file layout this writes
EXTRA = "storyboardStudio"
CAPTION_NAME = "Caption"  # a dialogue line "Caption: ..." (or "V.O.: ...", "Narrator: ...") is the panel's caption
CAPTION_SPEAKERS = ("caption", "v.o.", "vo", "narrator", "narration")
DEFAULT_FPS = 24.0
DEFAULT_ASPECT = 16 / 9
DEFAULT_BOARD_MS = 2000
BOARD_SIDE_PX = 900  # Storyboarder's boards are 900 px on their short side
THUMB_HEIGHT_PX = 90
MAX_FILE_BYTES = 16 * 1024 * 1024
# Storyboarder's drawing layers, bottom to top; the notes layer holds annotations, not the picture.
LAYER_ORDER = ("shot-generator", "reference", "fill", "tone", "pencil", "ink")


class StoryboarderError(ExchangeError):
    """A .storyboarder file cannot be read or written; the message names the file, the board and the field."""


@dataclass(frozen=True)
class StoryboarderExport:
    """What an export wrote: the .storyboarder file, its images and the panels rendered first."""

    path: Path
    images: tuple[Path, ...]
    boards: int
    rendered: tuple[str, ...] = ()


@dataclass(frozen=True)
class StoryboarderImport:
    """What an import added to a project."""

    root: Path
    project: Project
    created: bool
    panels: tuple[str, ...]
    new_cast: tuple[Character, ...]
    fps: float
    aspect_ratio: float
    warnings: tuple[str, ...] = ()


# ---------------------------------------------------------------- export


def parse_aspect(text: str | float) -> float:
    """'16:9', '2.39' or 1.78 as a number between 0.2 and 5; StoryboarderError otherwise."""
    value: float | None
    try:
        if isinstance(text, str) and ":" in text:
            width, height = (float(v) for v in text.split(":", 1))
            value = width / height
        else:
            value = float(text)
    except (ValueError, ZeroDivisionError):
        value = None
    if value is None or not math.isfinite(value) or not 0.2 <= value <= 5:
        raise StoryboarderError(f"The aspect ratio {text!r} must be a width:height like 16:9 or a number like 2.39 "
                                "(between 0.2 and 5).")
    return value


def board_uid(project: Project, panel: Panel) -> str:
    """Storyboarder's 5-character board id, the same for a panel on every export (so re-exports replace files)."""
    digest = hashlib.sha256(f"{project.title}\0{panel.id}".encode()).digest()
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(alphabet[b % len(alphabet)] for b in digest[:5])


def board_size(aspect: float) -> tuple[int, int]:
    """Board image size as Storyboarder makes it: 900 px on the short side."""
    if aspect >= 1:
        return round(BOARD_SIDE_PX * aspect), BOARD_SIDE_PX
    return BOARD_SIDE_PX, round(BOARD_SIDE_PX / aspect)


def dialogue_text(project: Project, panel: Panel) -> str:
    """The caption ('Caption: ...') and balloons as screenplay-style lines: 'Mia: Wait for me!' (no name for an
    off-panel voice)."""
    names = {c.id: c.name for c in project.cast}
    lines = [f"{CAPTION_NAME}: {' '.join(panel.caption.split())}"] if panel.caption.strip() else []
    lines += [f"{names.get(b.speaker, b.speaker)}: {b.text}" if b.speaker else b.text for b in panel.balloons]
    return "\n".join(" ".join(line.split()) for line in lines)


def action_text(project: Project, panel: Panel) -> str:
    """The prompt with each {id} written as the character's name."""
    names = {c.id: c.name for c in project.cast}
    return re.sub(r"\{([^{}]*)\}", lambda m: names.get(m.group(1), m.group(0)), panel.prompt)


def board_data(project: Project, fps: float, aspect: float, uids: list[str]) -> dict[str, Any]:
    """The .storyboarder JSON for a project (boards in panel order; `uids` from board_uid)."""
    boards, start = [], 0
    now = int(time.time() * 1000)
    for number, (panel, uid) in enumerate(zip(project.panels, uids), start=1):
        url = f"board-{number}-{uid}.png"
        board: dict[str, Any] = {
            "uid": uid, "url": url, "newShot": False, "lastEdited": now,
            "layers": {"reference": {"url": url.replace(".png", "-reference.png"), "opacity": 1}},
            "number": number, "shot": f"{number}A", "time": start,
        }
        if panel.duration:  # Storyboarder leaves it out for boards that take the default timing
            board["duration"] = round(panel.duration * 1000)
        board.update({
            "dialogue": dialogue_text(project, panel), "action": action_text(project, panel), "notes": panel.notes,
            EXTRA: {"panel": panel.id, "shot": panel.shot, "prompt": panel.prompt, "characters": list(panel.characters),
                    "caption": panel.caption,
                    "balloons": [{"speaker": b.speaker, "kind": b.kind, "text": b.text} for b in panel.balloons]},
        })
        boards.append(board)
        start += board.get("duration", DEFAULT_BOARD_MS)
    return {
        "version": FORMAT_VERSION, "aspectRatio": aspect, "fps": fps, "defaultBoardTiming": DEFAULT_BOARD_MS,
        "boards": boards,
        EXTRA: {"title": project.title, "author": project.author,
                "cast": [{"id": c.id, "name": c.name, "color": c.color, "description": c.description} for c in project.cast]},
    }


def export_storyboarder(
    root: Path | str,
    project: Project,
    output: Path | str,
    fps: float = DEFAULT_FPS,
    aspect_ratio: float | str = DEFAULT_ASPECT,
    engine: Any | None = None,
    render_missing: bool = True,
    on_panel: Callable[[Any], None] | None = None,
    on_board: Callable[[int, int, str], None] | None = None,
    context: Any | None = None,
) -> StoryboarderExport:
    """Write `output` (.storyboarder) and its board images in `images/` beside it; panels without a take are
    rendered first with `engine`. Each file replaces the old one only when complete."""
    from storyboard.export import ExportError, check_writable, cover_crop, load_take_image, needs_render
    from storyboard.render import render_project
    from storyboard.storyfile import atomic_write

    root, output = Path(root), Path(output)
    # 1. Check the request and the output before any work.
    if output.suffix.lower() != ".storyboarder":
        raise ExportError(f"The Storyboarder file {output} should end in .storyboarder.")
    if not project.panels:
        raise ExportError(f"{project.title!r} has no panels to export; add panels first.")
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and 1 <= fps <= 240):
        raise ExportError(f"The frame rate must be between 1 and 240 frames per second, got {fps!r}.")
    aspect = parse_aspect(aspect_ratio)
    check_writable(output, "Storyboarder file")
    images = output.parent / "images"
    if images.exists() and not images.is_dir():
        raise ExportError(f"{images} is a file; Storyboarder keeps board images in a folder of that name. Choose "
                          "another folder for the .storyboarder file.")
    images.mkdir(exist_ok=True)
    check_writable(images / "board-1.png", "board image")
    # 2. Render what has no take.
    missing = [p.id for p in project.panels if needs_render(root, p)]
    if missing:
        if not render_missing or engine is None:
            raise ExportError(f"{len(missing)} panel(s) have no rendered image: {', '.join(missing)}. Render them "
                              "first (python -m storyboard render PROJECT), or export with rendering allowed.")
        project = render_project(root, project, engine, missing, force=True, context=context, on_panel=on_panel)
    # 3. Board images: the take cropped to the board's shape, as Storyboarder's reference layer, poster and thumbnail.
    uids = [board_uid(project, p) for p in project.panels]
    size = board_size(aspect)
    written: list[Path] = []
    for number, (panel, uid) in enumerate(zip(project.panels, uids), start=1):
        art = cover_crop(load_take_image(root, panel), aspect).resize(size, Image.Resampling.LANCZOS)
        stem = f"board-{number}-{uid}"
        thumb = art.resize((max(1, round(THUMB_HEIGHT_PX * aspect)), THUMB_HEIGHT_PX), Image.Resampling.LANCZOS)
        for name, image, fmt in ((f"{stem}-reference.png", art, "PNG"), (f"{stem}-posterframe.jpg", art, "JPEG"),
                                 (f"{stem}-thumbnail.png", thumb, "PNG")):
            buffer = io.BytesIO()
            image.save(buffer, format=fmt, **({"quality": 92} if fmt == "JPEG" else {}))
            try:
                atomic_write(images / name, buffer.getvalue())
            except OSError as exc:
                raise ExportError(f"Could not write {images / name}: {exc.strerror or exc}.") from None
            written.append(images / name)
        if on_board:
            on_board(number, len(project.panels), panel.id)
    # 4. The JSON last, so a file that exists names only images that exist.
    text = json.dumps(board_data(project, float(fps), aspect, uids), indent=2, ensure_ascii=False) + "\n"
    try:
        atomic_write(output, text.encode("utf-8"))
    except OSError as exc:
        raise ExportError(f"Could not write {output}: {exc.strerror or exc}. The previous file, if any, is unchanged.") from None
    log.info("Wrote %s: %d board(s), images in %s.", output, len(project.panels), images)
    return StoryboarderExport(output, tuple(written), len(project.panels), tuple(missing))


# ---------------------------------------------------------------- import


def read_storyboarder(path: Path | str) -> dict[str, Any]:
    """The JSON of a .storyboarder file, checked for size, nesting and shape; StoryboarderError says what is wrong."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise StoryboarderError(f"Cannot read {path}: {exc.strerror or exc}. Check the path.") from None
    if not path.is_file():
        raise StoryboarderError(f"{path} is not a regular file; give the .storyboarder file itself.")
    if info.st_size > MAX_FILE_BYTES:
        raise StoryboarderError(f"{path} is {info.st_size / 1024 / 1024:.1f} MB; .storyboarder files larger than "
                                f"{MAX_FILE_BYTES // 1024 // 1024} MB are not read (a 500-board one is about 1 MB).")
    with open(path, "rb") as handle:
        raw = handle.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise StoryboarderError(f"{path} grew past {MAX_FILE_BYTES // 1024 // 1024} MB while being read; it is not read.")
    try:
        data = json.loads(raw.decode("utf-8-sig"), parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise StoryboarderError(f"{path} is not UTF-8 text; it is not a Storyboarder file.") from None
    except RecursionError:
        raise StoryboarderError(f"{path} nests far too deeply to be a Storyboarder file.") from None
    except (json.JSONDecodeError, ValueError) as exc:
        line = f", line {exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        raise StoryboarderError(f"{path}{line}: this is not valid JSON ({exc}). Open and save it again in "
                                "Storyboarder, or export it again.") from None
    if not isinstance(data, dict) or not isinstance(data.get("boards"), list):
        raise StoryboarderError(f"{path} has no 'boards' list; it is not a Storyboarder file.")
    return data


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")

