"""The page view: each comic page as the PDF prints it, drawn by the export's own code (storyboard.export.draw_page),
with the geometry of its lettering for the studio's hand-lettering editor.

Drawing a page takes about a second, so pages are cached by what shapes them (the page's layout, its panels with
their takes and poses as files on disk, the cast's names, the resolution): a change to any of those draws that
page again, and nothing else does. The cache keeps each page as a PNG (exact colours, about half a megabyte at
150 dpi) and, once asked for, as a WebP for the browser (a quarter of that).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from storyboard.errors import StoryboardError
from storyboard.layout import PageLayout, project_layout
from storyboard.model import PageSettings, Project
from storyboard.paths import resolve_inside
from storyboard.prepress import page_guides
from storyboard.storyfile import load_project
from storyboard.studio.common import StudioError

log = logging.getLogger(__name__)

PAGE_VIEW_DPI = 150  # balloon text (9.5 pt) is about 20 px tall: readable, and sharp when zoomed to 2x
CACHE_PAGES = 32
WEBP_QUALITY = 88


@dataclass(frozen=True)
class PageView:
    """One page as it prints: the picture (PNG), its size in points, and its lettering's geometry as plain data."""

    number: int
    pages: int
    png: bytes
    width_pt: float
    height_pt: float
    panels: tuple[dict[str, Any], ...]  # per panel: id, number, rect, caption and balloons in page points (see _panels)
    notes: tuple[str, ...]  # lettering that does not fit, slots without art
    key: str = ""  # digest of everything that shapes the page: equal keys, equal pages
    live: tuple[float, float, float, float] | None = None  # the live area (x, y, w, h): a guide on screen, never printed

    @property
    def image(self) -> Image.Image:
        with Image.open(io.BytesIO(self.png)) as image:
            return image.convert("RGB")

    @functools.cached_property
    def webp(self) -> bytes:
        """The picture as a WebP (for the browser: a quarter of the PNG's bytes, text still crisp)."""
        buffer = io.BytesIO()
        self.image.save(buffer, format="WEBP", quality=WEBP_QUALITY, method=2)
        return buffer.getvalue()

    def to_data(self) -> dict[str, Any]:
        """What the page view editor draws over the picture (everything but the picture)."""
        return {"key": self.key, "page": self.number, "pages": self.pages, "width_pt": round(self.width_pt, 3),
                "height_pt": round(self.height_pt, 3), "panels": list(self.panels), "notes": list(self.notes),
                "live": [round(v, 2) for v in self.live] if self.live else None}


_cache: OrderedDict[str, PageView] = OrderedDict()
_cache_lock = threading.Lock()


def page_count(root: Path | str, project: Project | None = None) -> int:
    """How many comic pages the project has with its page settings."""
    project = project or load_project(root)
    return len(project_layout(project)) if project.panels else 0


def page_view(root: Path | str, number: int = 1, dpi: int = PAGE_VIEW_DPI, project: Project | None = None) -> PageView:
    """Page `number` (from 1) as it prints, from the cache when nothing that shapes it changed."""
    from storyboard.export import draw_page

    root = Path(root)
    if isinstance(number, bool) or not isinstance(number, int):
        raise StudioError(f"The page number must be a whole number, got {number!r}.")
    project = project or load_project(root)
    layouts = project_layout(project) if project.panels else []
    if not layouts:
        raise StudioError(f"{project.title!r} has no panels yet, so no pages; add a panel in the Panels tab.")
    if not 1 <= number <= len(layouts):
        raise StudioError(f"{project.title!r} has {len(layouts)} page(s); there is no page {number}.")
    key = _key(root, project, layouts[number - 1], len(layouts), dpi)
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
    drawing = draw_page(root, project, number, dpi)
    buffer = io.BytesIO()
    drawing.image.save(buffer, format="PNG", compress_level=1)
    notes = [f"Panel {_number(drawing.layout, pid)}: {why}." for pid, why in drawing.placeholders]
    notes += [str(issue) for lettering in drawing.lettering for issue in lettering.issues]
    live = page_guides(project)[number - 1].live
    view = PageView(number, drawing.pages, buffer.getvalue(), drawing.layout.width_pt, drawing.layout.height_pt,
                    tuple(_panels(project, drawing.layout, drawing.lettering)), tuple(notes), key,
                    (live.x, live.y, live.w, live.h))
    with _cache_lock:
        _cache[key] = view
        while len(_cache) > CACHE_PAGES:
            _cache.popitem(last=False)
    return view


def page_previews(root: Path | str, page: PageSettings | None = None, width_px: int = 420) -> list[Image.Image]:
    """Every page as it prints (the page view's pictures), `width_px` wide: the overview of the Pages tab."""
    root = Path(root)
    project = load_project(root)
    if page is not None:
        project = dataclasses.replace(project, page=page)
    if not project.panels:
        return []
    out = []
    for number in range(1, page_count(root, project) + 1):
        image = page_view(root, number, project=project).image
        if image.width != width_px:
            image = image.resize((width_px, max(1, round(image.height * width_px / image.width))), Image.LANCZOS)
        out.append(image)
    return out


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def _key(root: Path, project: Project, layout: PageLayout, pages: int, dpi: int) -> str:
    """A digest of everything that shapes a page's picture."""
    parts: list[Any] = [str(root.resolve()), dpi, pages, layout, project.page, sorted((c.id, c.name) for c in project.cast)]
    for placed in layout.panels:
        panel = project.panel(placed.panel_id)
        parts.append(panel)
        take = panel.selected_take
        for rel in ([take.file] if take is not None else []) + ([panel.pose] if panel.pose else []):
            try:
                stat = resolve_inside(root, rel).stat()
                parts.append((rel, stat.st_mtime_ns, stat.st_size))
            except (OSError, StoryboardError) as exc:  # gone, or escaping: drawn as a placeholder, keyed so
                parts.append((rel, type(exc).__name__))
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def _number(layout: PageLayout, panel_id: str) -> int:
    return next(p.number for p in layout.panels if p.panel_id == panel_id)


def _rect(r: Any) -> list[float]:
    return [round(r.x, 2), round(r.y, 2), round(r.w, 2), round(r.h, 2)]


def _panels(project: Project, layout: PageLayout, letterings: Any) -> list[dict[str, Any]]:
    """The lettering of each panel on the page as plain data, in page points, for the editor."""
    out = []
    for placed, lettering in zip(layout.panels, letterings):
        panel = project.panel(placed.panel_id)
        caption = None
        if lettering.captions:
            box = lettering.captions[0]
            caption = {"rect": _rect(box.rect), "by_hand": box.by_hand, "text": _short(panel.caption)}
        balloons = []
        for index, (spec, balloon) in enumerate(zip(panel.balloons, lettering.balloons)):
            balloons.append({
                "index": index, "kind": balloon.kind, "speaker": balloon.speaker, "text": _short(spec.text),
                "body": _rect(balloon.body), "center": [round(balloon.center[0], 2), round(balloon.center[1], 2)],
                "tip": None if balloon.tail_tip is None else [round(balloon.tail_tip[0], 2), round(balloon.tail_tip[1], 2)],
                "by_hand": balloon.by_hand, "tail_by_hand": balloon.tail_by_hand,
            })
        out.append({"panel": placed.panel_id, "number": placed.number, "rect": _rect(placed.rect), "caption": caption,
                    "balloons": balloons})
    return out


def _short(text: str, words: int = 6) -> str:
    split = text.split()
    return " ".join(split[:words]) + ("…" if len(split) > words else "")
