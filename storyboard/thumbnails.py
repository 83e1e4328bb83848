"""Small pictures of takes for lists (the studio's panel list): made once per take file, kept in the project's cache.

A thumbnail lives in `<project>/.cache/thumbs/`, named after the take's path, size and modification time, so a
take written again gets a new one and an unchanged take is never decoded twice. The cache is not part of the
project (not zipped, not in the history); deleting it only costs the time to make the thumbnails again.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

from PIL import Image

from storyboard.errors import StoryboardError
from storyboard.images import open_image
from storyboard.model import Panel
from storyboard.paths import atomic_write, resolve_inside

log = logging.getLogger(__name__)

THUMBS_DIR = ".cache/thumbs"
THUMB_SIDE_PX = 128  # the longer side; lists show them at about 64 CSS pixels, sharp on high-density screens
THUMB_QUALITY = 82


def thumbnail_path(root: Path, take_path: Path, side_px: int = THUMB_SIDE_PX) -> Path:
    """Where the thumbnail of the take file `take_path` (absolute, inside `root`) is kept."""
    info = take_path.stat()
    key = f"{take_path.relative_to(root).as_posix()}\0{info.st_size}\0{info.st_mtime_ns}\0{side_px}"
    return root / THUMBS_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.jpg"


def panel_thumbnail(root: Path | str, panel: Panel, side_px: int = THUMB_SIDE_PX) -> Path | None:
    """The thumbnail of the panel's chosen take, made now if it is not there yet; None when there is no usable take.

    A take that is missing, damaged or too large to open has no thumbnail (the reason is logged): a list never
    fails for one bad file."""
    take = panel.selected_take
    if take is None:
        return None
    root = Path(os.path.realpath(root))
    try:
        source = resolve_inside(root, take.file)
        if not source.is_file():
            return None
        thumb = thumbnail_path(root, source, side_px)
        if thumb.is_file():
            return thumb
        image = open_image(source, f"panel {panel.id!r}: the take {take.file}")
    except (StoryboardError, OSError) as exc:
        log.warning("No thumbnail for panel %s: %s", panel.id, exc)
        return None
    image.thumbnail((side_px, side_px), Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=THUMB_QUALITY, optimize=True)
    try:
        atomic_write(thumb, buffer.getvalue())
    except OSError as exc:  # a full disk or a read-only project: the list goes without this picture
        log.warning("Could not keep the thumbnail %s: %s", thumb, exc)
        return None
    return thumb
