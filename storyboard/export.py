"""Export a project as comic pages or a storyboard sheet: a PDF (reportlab) and optionally one PNG per page.

1. Check the options and that the outputs can be written, before any work.
2. Lay out pages (template or auto; comic pages or sheet rows).
3. Render panels that have no take yet (or whose take file is missing) at their slot's size.
4. Letter every panel (captions and balloons as vector shapes, text as real PDF text).
5. Draw each page with one painter for the PDF and one for PNGs, from the same geometry.
6. Write every file atomically: a failed export leaves no half-written file and keeps the old one.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import math
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from PIL import Image, ImageDraw, ImageFont

from storyboard.errors import PoseError, StoryboardError
from storyboard.images import PROJECT_MAX_PIXELS, open_image
from storyboard.layout import (
    DEFAULT_GUTTER_MM,
    DEFAULT_MARGIN_MM,
    PageLayout,
    PageSpec,
    Rect,
    layout_pages,
    page_spec,
    render_sizes,
)
from storyboard.lettering import (
    CAPTION_FILL,
    INK,
    PAPER,
    Font,
    LetteringError,
    LetteringIssue,
    PanelLettering,
    TextBlock,
    letter_panel,
    pick_font,
    speaker_heads,
    wrap,
)
from storyboard.model import Panel, Project
from storyboard.pagesizes import PT_PER_MM, PageSize
from storyboard.paths import resolve_inside
from storyboard.poses import Pose, read_pose

log = logging.getLogger(__name__)

RGB = tuple[float, float, float]
Point = tuple[float, float]

CROP_MARK_PT = 18.0  # length of a crop mark; marks sit in a slug this wide outside the bleed
CROP_MARK_OFFSET_PT = 3.0
SHEET_HEADER_PT = 26.0
GUTTER_COLOUR: RGB = (1.0, 1.0, 1.0)


class ExportError(StoryboardError):
    """An export cannot be done as asked (bad option, unwritable output, unreadable take)."""


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One export setting: its CLI flag, type, default, limits and help. One table drives CLI, checks and docs."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None


EXPORT_OPTIONS: tuple[Option, ...] = (
    Option("page_size", str, None, "a4, letter, comic, b5, a5 or WxHmm (default: the project's page size)"),
    Option("template", str, None, "page template in presets/templates/ or auto (default: the project's)"),
    Option("reading", str, None, "ltr, or rtl for manga (default: the project's)"),
    Option("margin_mm", float, DEFAULT_MARGIN_MM, "page margin in mm", 0, 60),
    Option("gutter_mm", float, DEFAULT_GUTTER_MM, "gap between panels in mm", 0, 30),
    Option("border_pt", float, 1.2, "panel border width in points (0: none)", 0, 8),
    Option("bleed_mm", float, 0.0, "bleed in mm; adds crop marks and trim/bleed boxes for print", 0, 10),
    Option("dpi", int, 300, "image resolution in the PDF, dots per inch (art is never upscaled)", 72, 1200),
    Option("jpeg_quality", int, 88, "JPEG quality of the art in the PDF", 30, 100),
    Option("png_dpi", int, 150, "resolution of the PNG pages", 36, 600),
    Option("max_png_megapixels", int, 40, "largest PNG page, in megapixels (page size x png-dpi); a larger one is "
           "refused before anything is drawn (drawing takes about 35 bytes of memory per pixel)", 1, 250),
    Option("sheet_panels", int, 5, "panels per storyboard sheet page", 1, 12),
    Option("title_page", bool, False, "start with a title page (title, author, subject)"),
    Option("page_numbers", bool, True, "number the pages"),
    Option("strict", bool, False, "fail instead of warning when lettering does not fit"),
    Option("subject", str, "", "PDF subject metadata"),
    Option("appendix", bool, False, "end with a consistency appendix: per panel its scores (Face Sim, CLIP-I, CLIP-T) "
           "and drift flags, as text"),
)
OPTION_NAMES = {o.name for o in EXPORT_OPTIONS}


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how; defaults come from EXPORT_OPTIONS."""

    output: Path
    sheet: bool = False
    png_dir: Path | None = None
    render_missing: bool = True
    settings: tuple[tuple[str, Any], ...] = ()
    thresholds: tuple[tuple[str, float], ...] = ()  # drift thresholds for the appendix (storyboard.metrics)

    def get(self, name: str) -> Any:
        for key, value in self.settings:
            if key == name:
                return value
        return next(o.default for o in EXPORT_OPTIONS if o.name == name)


def make_options(output: Path | str, sheet: bool = False, png_dir: Path | str | None = None, render_missing: bool = True,
                 thresholds: dict[str, float | None] | None = None, **settings: Any) -> ExportOptions:
    """ExportOptions from keyword settings, checked against EXPORT_OPTIONS (None means the default).

    `thresholds` overrides the appendix's drift thresholds (storyboard.metrics.DRIFT_THRESHOLDS)."""
    from storyboard.scores import make_thresholds

    table = {o.name: o for o in EXPORT_OPTIONS}
    checked: list[tuple[str, Any]] = []
    for name, value in settings.items():
        if name not in table:
            raise ExportError(f"Unknown export setting {name!r}; settings are: {', '.join(table)}.")
        if value is None:
            continue
        option = table[name]
        if option.kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ExportError(f"Export setting {name} must be a number ({option.help}), got {value!r}.")
        if option.kind is int and int(value) != value:
            raise ExportError(f"Export setting {name} must be a whole number, got {value!r}.")
        if option.low is not None and not option.low <= value <= option.high:
            raise ExportError(f"Export setting {name} must be between {option.low:g} and {option.high:g} ({option.help}), got {value}.")
        checked.append((name, option.kind(value)))
    return ExportOptions(Path(output), sheet, Path(png_dir) if png_dir else None, render_missing, tuple(checked),
                         tuple(make_thresholds(thresholds).items()))


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and what it had to say."""

    pdf: Path
    pages: int
    pngs: tuple[Path, ...] = ()
    rendered: tuple[str, ...] = ()
    issues: tuple[LetteringIssue, ...] = ()
    layouts: tuple[PageLayout, ...] = ()
    lettering: tuple[PanelLettering, ...] = ()
    sheet: bool = False


# ---------------------------------------------------------------- painters


class Painter(Protocol):
    """Draws on one page in page points (top-left origin, y down)."""

    def image(self, rect: Rect, image: Image.Image, key: str) -> None: ...
    def rect(self, rect: Rect, fill: RGB | None, stroke: RGB | None, width: float) -> None: ...
    def polygon(self, points: Sequence[Point], fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> None: ...
    def circle(self, x: float, y: float, r: float, fill: RGB | None, stroke: RGB | None, width: float) -> None: ...
    def line(self, a: Point, b: Point, color: RGB, width: float) -> None: ...
    def text(self, text: str, font: Font, size: float, x: float, y: float, align: str = "left", color: RGB = INK) -> None: ...


class PdfPainter:
    """Draws into a reportlab canvas; art is embedded as JPEG at the chosen dpi, text stays text."""

    def __init__(self, canvas: Any, media_height: float, origin: Point, dpi: int, quality: int):
        self.c = canvas
        self.h = media_height
        self.ox, self.oy = origin
        self.dpi = dpi
        self.quality = quality
        self._images: dict[str, Any] = {}

    def _xy(self, x: float, y: float) -> Point:
        return self.ox + x, self.h - (self.oy + y)

    def image(self, rect: Rect, image: Image.Image, key: str) -> None:
        from reportlab.lib.utils import ImageReader

        want = (max(1, round(rect.w / 72 * self.dpi)), max(1, round(rect.h / 72 * self.dpi)))
        cache_key = f"{key}:{want}"
        if cache_key not in self._images:
            fitted = cover_crop(image, rect.w / rect.h)
            if fitted.width > want[0]:  # never upscale: the printer does that no worse
                fitted = fitted.resize(want, Image.LANCZOS)
            buffer = io.BytesIO()
            fitted.convert("RGB").save(buffer, format="JPEG", quality=self.quality, optimize=True, subsampling=0 if self.quality >= 90 else 2)
            buffer.seek(0)
            self._images[cache_key] = ImageReader(buffer)
        x, y = self._xy(rect.x, rect.bottom)
        self.c.drawImage(self._images[cache_key], x, y, rect.w, rect.h)

    def _style(self, fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> tuple[int, int]:
        if fill is not None:
            self.c.setFillColorRGB(*fill)
        if stroke is not None:
            self.c.setStrokeColorRGB(*stroke)
            self.c.setLineWidth(width)
            self.c.setDash([2.2, 1.8] if dashed else [])
        return int(fill is not None), int(stroke is not None and width > 0)

    def rect(self, rect: Rect, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        f, s = self._style(fill, stroke, width)
        x, y = self._xy(rect.x, rect.bottom)
        self.c.rect(x, y, rect.w, rect.h, fill=f, stroke=s)

    def polygon(self, points: Sequence[Point], fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> None:
        f, s = self._style(fill, stroke, width, dashed)
        self.c.setLineJoin(1)
        path = self.c.beginPath()
        path.moveTo(*self._xy(*points[0]))
        for p in points[1:]:
            path.lineTo(*self._xy(*p))
        path.close()
        self.c.drawPath(path, fill=f, stroke=s)
        self.c.setDash([])

    def circle(self, x: float, y: float, r: float, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        f, s = self._style(fill, stroke, width)
        self.c.circle(*self._xy(x, y), r, fill=f, stroke=s)

    def line(self, a: Point, b: Point, color: RGB, width: float) -> None:
        self._style(None, color, width)
        self.c.line(*self._xy(*a), *self._xy(*b))

    def text(self, text: str, font: Font, size: float, x: float, y: float, align: str = "left", color: RGB = INK) -> None:
        self.c.setFillColorRGB(*color)
        self.c.setFont(font.name, size)
        px, py = self._xy(x, y)
        {"left": self.c.drawString, "center": self.c.drawCentredString, "right": self.c.drawRightString}[align](px, py, text)


@functools.cache
def _pil_font(path: str, size_px: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size_px)


class PngPainter:
    """Draws the same page with Pillow, supersampled for smooth edges."""

    SUPERSAMPLE = 2

    def __init__(self, width_pt: float, height_pt: float, dpi: int):
        self.scale = dpi / 72 * self.SUPERSAMPLE
        self.size = (round(width_pt * dpi / 72), round(height_pt * dpi / 72))
        self.canvas = Image.new("RGB", (self.size[0] * self.SUPERSAMPLE, self.size[1] * self.SUPERSAMPLE), "white")
        self.draw = ImageDraw.Draw(self.canvas)

    def _p(self, x: float, y: float) -> Point:
        return x * self.scale, y * self.scale

    @staticmethod
    def _c(color: RGB | None) -> tuple[int, int, int] | None:
        return None if color is None else tuple(round(v * 255) for v in color)  # type: ignore[return-value]

    def _w(self, width: float) -> int:
        return max(1, round(width * self.scale))

    def image(self, rect: Rect, image: Image.Image, key: str) -> None:
        x0, y0 = self._p(rect.x, rect.y)
        x1, y1 = self._p(rect.right, rect.bottom)
        box = (round(x0), round(y0), round(x1), round(y1))
        fitted = cover_crop(image, rect.w / rect.h).convert("RGB").resize((box[2] - box[0], box[3] - box[1]), Image.LANCZOS)
        self.canvas.paste(fitted, box[:2])

    def rect(self, rect: Rect, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        self.draw.rectangle([self._p(rect.x, rect.y), self._p(rect.right, rect.bottom)], fill=self._c(fill),
                            outline=self._c(stroke) if width > 0 else None, width=self._w(width))

    def polygon(self, points: Sequence[Point], fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> None:
        xy = [self._p(*p) for p in points]
        if fill is not None:
            self.draw.polygon(xy, fill=self._c(fill))
        if stroke is None or width <= 0:
            return
        closed = xy + [xy[0]]
        if not dashed:
            self.draw.line(closed, fill=self._c(stroke), width=self._w(width), joint="curve")
            return
        on, off = 2.2 * self.scale, 1.8 * self.scale
        travelled, drawing = 0.0, True
        for a, b in zip(closed, closed[1:]):
            seg = math.dist(a, b)
            pos = 0.0
            while pos < seg:
                left = (on if drawing else off) - travelled
                step = min(left, seg - pos)
                if drawing:
                    t0, t1 = pos / seg, (pos + step) / seg
                    self.draw.line([(a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0),
                                    (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)], fill=self._c(stroke), width=self._w(width))
                pos += step
                travelled += step
                if travelled >= (on if drawing else off) - 1e-9:
                    drawing, travelled = not drawing, 0.0

    def circle(self, x: float, y: float, r: float, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        cx, cy = self._p(x, y)
        rr = r * self.scale
        self.draw.ellipse([cx - rr, cy - rr, cx + rr, cy + rr], fill=self._c(fill), outline=self._c(stroke), width=self._w(width))

    def line(self, a: Point, b: Point, color: RGB, width: float) -> None:
        self.draw.line([self._p(*a), self._p(*b)], fill=self._c(color), width=self._w(width))

    def text(self, text: str, font: Font, size: float, x: float, y: float, align: str = "left", color: RGB = INK) -> None:
        anchor = {"left": "ls", "center": "ms", "right": "rs"}[align]
        self.draw.text(self._p(x, y), text, font=_pil_font(str(font.path), max(1, round(size * self.scale))),
                       fill=self._c(color), anchor=anchor)

    def result(self) -> Image.Image:
        return self.canvas.resize(self.size, Image.LANCZOS)


def cover_crop(image: Image.Image, aspect: float) -> Image.Image:
    """The centre of `image` cut to `aspect` (width / height): art is cropped to fit, never stretched."""
    w, h = image.size
    if abs(w / h - aspect) < 1e-3:
        return image
    if w / h > aspect:
        new_w = max(1, round(h * aspect))
        left = (w - new_w) // 2
        return image.crop((left, 0, left + new_w, h))
    new_h = max(1, round(w / aspect))
    top = (h - new_h) // 2
    return image.crop((0, top, w, top + new_h))


def contain_rect(box: Rect, image_size: tuple[int, int]) -> Rect:
    """The largest rectangle of the image's aspect centred in `box` (for sheet thumbnails: the whole frame)."""
    iw, ih = image_size
    scale = min(box.w / iw, box.h / ih)
    w, h = iw * scale, ih * scale
    return Rect(box.x + (box.w - w) / 2, box.y + (box.h - h) / 2, w, h)


# ---------------------------------------------------------------- drawing


def draw_lettering(painter: Painter, lettering: PanelLettering) -> None:
    """Captions, then balloons in reading order: outline with tail, text on top."""
    for caption in lettering.captions:
        painter.rect(caption.rect, CAPTION_FILL, INK, 0.8)
        for line, x, y in caption.lines():
            painter.text(line, caption.text.font, caption.text.size, x, y, "left")
    for balloon in lettering.balloons:
        width = 1.3 if balloon.kind == "shout" else 0.9
        for bx, by, r in balloon.bubbles:
            painter.circle(bx, by, r, PAPER, INK, 0.8)
        painter.polygon(balloon.outline, PAPER, INK, width, dashed=balloon.dashed)
        for line, x, y in balloon.lines():
            painter.text(line, balloon.text.font, balloon.text.size, x, y, "center")


def draw_comic_page(painter: Painter, page: PageLayout, images: dict[str, Image.Image],
                    lettering: dict[str, PanelLettering], border_pt: float) -> None:
    for placed in page.panels:
        painter.image(placed.rect, images[placed.panel_id], placed.panel_id)
        draw_lettering(painter, lettering[placed.panel_id])
        if border_pt > 0:
            painter.rect(placed.rect, None, INK, border_pt)


def draw_page_number(painter: Painter, number: int, width_pt: float, height_pt: float, margin_pt: float) -> None:
    font = pick_font(str(number))
    size = 8.0
    y = height_pt - max(margin_pt / 2 - size / 3, size * 0.3)
    painter.text(str(number), font, size, width_pt / 2, y, "center", (0.3, 0.3, 0.3))


def draw_title_page(painter: Painter, project: Project, width_pt: float, height_pt: float, subject: str, pages: int) -> None:
    title_font = pick_font(project.title, bold=True, what="The title")
    size = 30.0
    block = None
    while size >= 14:
        block = wrap(project.title, title_font, size, width_pt * 0.8)
        if block is not None and len(block.lines) <= 3:
            break
        size -= 2
    if block is None:
        block = wrap(project.title, title_font, 14, width_pt * 2) or TextBlock((project.title,), title_font, 14, (0.0,))
    y = height_pt * 0.38
    for line, baseline in zip(block.lines, block.baselines(y)):
        painter.text(line, title_font, block.size, width_pt / 2, baseline, "center")
    y += block.height + 28
    for text, text_size in ((project.author, 14.0), (subject, 11.0)):
        if text:
            font = pick_font(text, what="The title page")
            painter.text(text, font, text_size, width_pt / 2, y, "center", (0.25, 0.25, 0.25))
            y += text_size * 2
    note = f"{len(project.panels)} panels, {pages} pages"
    painter.text(note, pick_font(note), 9.0, width_pt / 2, height_pt * 0.9, "center", (0.45, 0.45, 0.45))


def draw_crop_marks(painter: Painter, trim: Rect, bleed_pt: float) -> None:
    """Short hairlines at each trim corner, outside the bleed, aligned with the trim edges."""
    gap = bleed_pt + CROP_MARK_OFFSET_PT
    for x in (trim.x, trim.right):
        for y in (trim.y, trim.bottom):
            sx = -1 if x == trim.x else 1
            sy = -1 if y == trim.y else 1
            painter.line((x + sx * gap, y), (x + sx * (gap + CROP_MARK_PT), y), INK, 0.3)
            painter.line((x, y + sy * gap), (x, y + sy * (gap + CROP_MARK_PT)), INK, 0.3)


# ---------------------------------------------------------------- storyboard sheet


@dataclass(frozen=True)
class SheetRow:
    """One panel on a storyboard sheet: its frame box and the text beside it."""

    panel_id: str
    number: int
    frame: Rect
    text_box: Rect
    lines: tuple[tuple[str, Font, float, bool], ...]  # (line, font, size, gap before)


def sheet_entries(panel: Panel, number: int, project: Project) -> list[tuple[str, str, bool]]:
    """(label, text, bold) paragraphs beside a panel on the sheet."""
    from storyboard.render import fill_prompt

    names = {c.id: c.name for c in project.cast}
    duration = f"{panel.duration:g} s" if panel.duration is not None else "duration not set"
    entries = [(f"Panel {number}", f"{panel.id} · {panel.shot.replace('-', ' ')} · {duration}", True)]
    if panel.caption:
        entries.append(("Caption", panel.caption, False))
    for balloon in panel.balloons:
        who = names.get(balloon.speaker, "off-panel") if balloon.speaker else "off-panel"
        kind = "" if balloon.kind == "speech" else f" ({balloon.kind})"
        entries.append((f"{who.upper()}{kind}", balloon.text, False))
    if panel.prompt:
        entries.append(("Action", fill_prompt(panel.prompt, project), False))
    if panel.notes:
        entries.append(("Notes", panel.notes, False))
    return entries


def layout_sheet_rows(project: Project, spec: PageSpec, per_page: int) -> tuple[list[list[SheetRow]], list[LetteringIssue]]:
    """Storyboard sheet rows: frame on the left, its text on the right, `per_page` rows a page."""
    live = spec.live
    body = Rect(live.x, live.y + SHEET_HEADER_PT, live.w, live.h - SHEET_HEADER_PT)
    row_h = body.h / per_page
    gap = spec.gutter_pt
    frame_w = body.w * 0.5
    pages: list[list[SheetRow]] = []
    issues: list[LetteringIssue] = []
    for index, panel in enumerate(project.panels):
        slot = index % per_page
        if slot == 0:
            pages.append([])
        top = body.y + slot * row_h
        frame = Rect(body.x, top + gap / 2, frame_w, row_h - gap)
        text_box = Rect(body.x + frame_w + gap * 1.5, top + gap / 2, body.w - frame_w - gap * 1.5, row_h - gap)
        lines, fits = _sheet_text(sheet_entries(panel, index + 1, project), text_box, panel.id)
        if not fits:
            issues.append(LetteringIssue(panel.id, "sheet text", panel.notes or panel.prompt,
                                         f"does not fit beside the frame at 6.5 pt; it runs past the row. Use fewer "
                                         f"panels per page (--sheet-panels, now {per_page}) or shorter notes."))
        pages[-1].append(SheetRow(panel.id, index + 1, frame, text_box, lines))
    return pages, issues


def _sheet_text(entries: list[tuple[str, str, bool]], box: Rect, panel_id: str) -> tuple[tuple[tuple[str, Font, float, bool], ...], bool]:
    for size in (9.0, 8.5, 8.0, 7.5, 7.0, 6.5):
        lines: list[tuple[str, Font, float, bool]] = []
        ok = True
        for i, (label, text, bold) in enumerate(entries):
            paragraph = f"{label}: {text}" if not bold else f"{label} · {text}"
            font = pick_font(paragraph, bold=bold, what=f"Panel {panel_id!r} sheet text")
            block = wrap(paragraph, font, size, box.w)
            if block is None:
                ok = False
                block = TextBlock((paragraph,), font, size, (0.0,))
            for j, line in enumerate(block.lines):
                lines.append((line, font, size, j == 0 and i > 0))
        height = sum(size * 1.2 + (size * 0.45 if gap else 0) for _, _, size, gap in lines)
        if ok and height <= box.h:
            return tuple(lines), True
    return tuple(lines), False


def draw_sheet_page(painter: Painter, rows: Sequence[SheetRow], images: dict[str, Image.Image], project: Project,
                    spec: PageSpec, page_number: int, page_count: int) -> None:
    live = spec.live
    title = project.title
    total = sum(p.duration or 0 for p in project.panels)
    header_font = pick_font(title, bold=True, what="The title")
    painter.text(title, header_font, 12, live.x, live.y + 12, "left")
    right = f"Storyboard · page {page_number} of {page_count} · {len(project.panels)} panels · {total:g} s"
    painter.text(right, pick_font(right), 8.5, live.right, live.y + 12, "right", (0.3, 0.3, 0.3))
    painter.line((live.x, live.y + 18), (live.right, live.y + 18), INK, 0.6)
    for row in rows:
        painter.rect(row.frame, (0.93, 0.93, 0.93), None, 0)
        image = images[row.panel_id]
        inner = contain_rect(row.frame, image.size)
        painter.image(inner, image, f"sheet:{row.panel_id}")
        painter.rect(row.frame, None, INK, 0.8)
        y = row.text_box.y
        for line, font, size, gap in row.lines:
            y += size * 1.2 + (size * 0.45 if gap else 0)
            painter.text(line, font, size, row.text_box.x, y - size * 0.25, "left")


# ---------------------------------------------------------------- consistency appendix

APPENDIX_SIZE_PT = 8.5
APPENDIX_FLAG: RGB = (0.75, 0.1, 0.1)
APPENDIX_MUTED: RGB = (0.35, 0.35, 0.35)


def appendix_entries(project: Project, thresholds: dict[str, float] | None = None) -> list[list[tuple[str, bool, RGB]]]:
    """Per panel, the appendix paragraphs: (text, bold, colour). Scores are read from story.yaml, never computed."""
    from storyboard.scores import METRICS, drift_flags, format_scores, metric_scores, unscorable_reason

    names = {c.id: c.name for c in project.cast}
    entries = []
    for number, panel in enumerate(project.panels, start=1):
        cast = ", ".join(names.get(c, c) for c in panel.characters) or "no characters"
        paragraphs: list[tuple[str, bool, RGB]] = [(f"Panel {number} · {panel.id} · {cast}", True, INK)]
        take = panel.selected_take
        if take is None:
            paragraphs.append(("No take.", False, APPENDIX_MUTED))
            entries.append(paragraphs)
            continue
        seed = f", seed {take.seed}" if take.seed is not None else ""
        paragraphs.append((f"Take {take.file} ({take.engine or 'added by hand'}{seed}, {len(panel.takes)} take(s) in all)",
                           False, APPENDIX_MUTED))
        if unscorable_reason(take) or not metric_scores(take):
            status = format_scores(take)
            paragraphs.append((status[0].upper() + status[1:] + ".", False, APPENDIX_MUTED))
            entries.append(paragraphs)
            continue
        paragraphs.append((format_scores(take, flags=False), False, INK))
        scores = dict(take.scores)
        if len(panel.characters) > 1:
            per = []
            for cid in panel.characters:
                values = [f"{METRICS[m].label} {scores[f'{m}.{cid}']:.2f}" for m in ("face_sim", "clip_i") if f"{m}.{cid}" in scores]
                if values:
                    per.append(f"{names.get(cid, cid)}: {', '.join(values)}")
            if per:
                paragraphs.append(("; ".join(per), False, INK))
        flags = drift_flags(take, thresholds, panel.characters)
        for flag in flags:
            who = names.get(flag.character, flag.character) if flag.character else None
            text = flag.message if who is None else flag.message.replace(f"{flag.character}:", f"{who}:", 1)
            paragraphs.append((f"Flag: {text}", False, APPENDIX_FLAG))
        if not flags:
            paragraphs.append(("No drift.", False, APPENDIX_MUTED))
        entries.append(paragraphs)
    return entries


def layout_appendix(project: Project, width_pt: float, height_pt: float, margin_pt: float,
                    thresholds: dict[str, float]) -> list[list[tuple[str, Font, float, RGB, float]]]:
    """The appendix as pages of lines (text, font, size, colour, baseline y), panels never split across pages."""
    from storyboard.scores import METRICS

    size = APPENDIX_SIZE_PT
    leading = size * 1.3
    text_w = width_pt - 2 * margin_pt
    top, bottom = margin_pt + 44.0, height_pt - margin_pt
    limits = ", ".join(f"{METRICS[k].label} < {v:g}" for k, v in thresholds.items())
    header = [
        ("Consistency appendix", True, 14.0, INK),
        (f"{project.title}: scores of each panel's selected take. Face Sim and CLIP-I are cosines (1 is identical), "
         f"CLIP-T is 100 x the CLIP cosine with the prompt. Flagged below: {limits}.", False, 7.5, APPENDIX_MUTED),
    ]
    pages: list[list[tuple[str, Font, float, RGB, float]]] = []

    def new_page() -> float:
        pages.append([])
        y = margin_pt
        for text, bold, text_size, colour in header:
            block = wrap(text, pick_font(text, bold=bold, what="The appendix"), text_size, text_w)
            for line in (block.lines if block else (text,)):
                y += text_size * 1.3
                pages[-1].append((line, pick_font(line, bold=bold, what="The appendix"), text_size, colour, y))
        return max(y + 10.0, top)

    y = new_page()
    for paragraphs in appendix_entries(project, thresholds):
        lines: list[tuple[str, Font, float, RGB]] = []
        for text, bold, colour in paragraphs:
            font = pick_font(text, bold=bold, what="The appendix")
            block = wrap(text, font, size, text_w)
            for line in (block.lines if block else (text,)):
                lines.append((line, font, size, colour))
        height = leading * len(lines) + size
        if y + height > bottom and pages[-1] and y > top:
            y = new_page()
        for line, font, line_size, colour in lines:
            y += leading
            pages[-1].append((line, font, line_size, colour, y))
        y += size
    return pages


def draw_appendix_page(painter: Painter, lines: Sequence[tuple[str, Font, float, RGB, float]], margin_pt: float) -> None:
    for text, font, size, colour, y in lines:
        painter.text(text, font, size, margin_pt, y, "left", colour)


# ---------------------------------------------------------------- files


def check_writable(path: Path, what: str) -> None:
    """Fail now, before any rendering, if `path` cannot be written; nothing is created or changed."""
    folder = path.parent
    if path.is_dir():
        raise ExportError(f"The {what} {path} is a folder; give a file name, e.g. {path / 'comic.pdf'}.")
    if not folder.is_dir():
        raise ExportError(f"Cannot write the {what} {path}: the folder {folder} does not exist. Create it or choose another path.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ExportError(f"Cannot write the {what} {path}: {exc.strerror or exc}. Choose a folder you can write to.") from None
    os.close(fd)
    os.unlink(tmp)
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"Cannot write the {what} {path}: the file is read-only. Choose another name or make it writable.")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temp file beside `path` that replaces it only when the block finishes without an error."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def _raw_streams() -> Iterator[None]:
    """reportlab wraps JPEG streams in ASCII85 by default (+25% size); binary streams are fine in PDF."""
    from reportlab import rl_config

    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved


def load_take_image(root: Path, panel: Panel) -> Image.Image:
    """The panel's selected take as an RGB image; ExportError names the file and what to do."""
    take = panel.selected_take
    if take is None:
        raise ExportError(f"Panel {panel.id!r} has no take; render it first: python -m storyboard render PROJECT --panels {panel.id}.")
    again = f"python -m storyboard render PROJECT --panels {panel.id} --force"
    return open_image(resolve_inside(root, take.file), f"panel {panel.id!r}: the take {take.file}",
                      max_pixels=PROJECT_MAX_PIXELS, error=ExportError,
                      advice=f"Render it again ({again}) or replace the file with a PNG of the panel; nothing was exported.")


def needs_render(root: Path, panel: Panel) -> bool:
    """True when the panel has no selected take or its file is gone."""
    take = panel.selected_take
    return take is None or not resolve_inside(root, take.file).is_file()


def _panel_pose(root: Path, panel: Panel) -> Pose | None:
    if not panel.pose:
        return None
    try:
        return read_pose(resolve_inside(root, panel.pose))
    except PoseError as exc:
        log.warning("Panel %s: %s Balloon tails point to the default staging instead.", panel.id, exc)
        return None


# ---------------------------------------------------------------- export


def export_project(
    root: Path | str,
    project: Project,
    options: ExportOptions,
    engine: Any | None = None,
    on_panel: Callable[[Any], None] | None = None,
    context: Any | None = None,
) -> ExportResult:
    """Export comic pages (or a storyboard sheet) as a PDF, and PNG pages if asked; see the module docstring."""
    from storyboard.render import render_project

    root = Path(root)
    get = options.get
    # 1. Check inputs and outputs before doing any work.
    if not project.panels:
        raise ExportError(f"{project.title!r} has no panels to export; add panels to story.yaml first.")
    if options.output.suffix.lower() != ".pdf":
        raise ExportError(f"The output {options.output} should end in .pdf (PNG pages go to --png-dir).")
    spec = page_spec(project, get("page_size"), get("reading"), get("margin_mm"), get("gutter_mm"))
    if options.png_dir is not None:
        check_png_pixels(spec.size, options)
    check_writable(options.output, "PDF")
    if options.png_dir is not None:
        try:
            options.png_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"Cannot create the PNG folder {options.png_dir}: {exc.strerror or exc}.") from None
        check_writable(options.png_dir / "page-001.png", "PNG page")
    template = get("template") or project.page.template

    # 2. Lay out pages (the comic layout also gives every panel its render size).
    comic_pages = layout_pages(project.panels, template, spec)

    # 3. Render what has no take.
    missing = [p.id for p in project.panels if needs_render(root, p)]
    if missing:
        if not options.render_missing or engine is None:
            raise ExportError(
                f"{len(missing)} panel(s) have no rendered image: {', '.join(missing)}. Render them first "
                "(python -m storyboard render PROJECT), or export with rendering allowed."
            )
        log.info("Rendering %d panel(s) without a take first (%s): %s", len(missing), engine.describe(), ", ".join(missing))
        project = render_project(root, project, engine, missing, force=True, context=context, on_panel=on_panel,
                                 sizes=render_sizes(comic_pages))
    images = {p.id: load_take_image(root, p) for p in project.panels}

    # 4 + 5 + 6. Letter, draw and write.
    with _raw_streams():
        if options.sheet:
            return _export_sheet(project, options, spec, images, missing)
        return _export_comic(root, project, options, spec, comic_pages, images, missing)


def check_png_pixels(size: PageSize, options: ExportOptions) -> None:
    """ExportError, before anything is drawn, when a PNG page would exceed max_png_megapixels (bleed and marks included)."""
    get = options.get
    bleed_pt = 0.0 if options.sheet else get("bleed_mm") * PT_PER_MM
    slug = bleed_pt + CROP_MARK_OFFSET_PT + CROP_MARK_PT if bleed_pt > 0 else 0.0
    dpi, limit = get("png_dpi"), get("max_png_megapixels")
    width_px = round((size.width_pt + 2 * slug) * dpi / 72)
    height_px = round((size.height_pt + 2 * slug) * dpi / 72)
    if width_px * height_px > limit * 1_000_000:
        fitting = max(1, math.floor(dpi * math.sqrt(limit * 1_000_000 / (width_px * height_px))))
        raise ExportError(
            f"PNG pages of a {size.name} page at {dpi} dpi would be {width_px:,} x {height_px:,} pixels "
            f"({width_px * height_px / 1e6:,.0f} megapixels); the most is {limit}. Lower the PNG resolution "
            f"(--png-dpi {fitting} or less) or choose a smaller page size; nothing was written.")


def _export_comic(root: Path, project: Project, options: ExportOptions, spec: PageSpec, pages: list[PageLayout],
                  images: dict[str, Image.Image], rendered: list[str]) -> ExportResult:
    get = options.get
    lettering: dict[str, PanelLettering] = {}
    for page in pages:
        for placed in page.panels:
            panel = project.panel(placed.panel_id)
            heads = speaker_heads(panel, placed.rect, images[panel.id].size, _panel_pose(root, panel))
            lettering[panel.id] = letter_panel(panel, placed.rect, heads, spec.reading)
    issues = [issue for page in pages for placed in page.panels for issue in lettering[placed.panel_id].issues]
    _report(issues, get("strict"))

    bleed_pt = get("bleed_mm") * PT_PER_MM
    slug = bleed_pt + CROP_MARK_OFFSET_PT + CROP_MARK_PT if bleed_pt > 0 else 0.0
    trim_w, trim_h = spec.size.width_pt, spec.size.height_pt
    media = (trim_w + 2 * slug, trim_h + 2 * slug)

    appendix = layout_appendix(project, trim_w, trim_h, spec.margin_pt, dict(options.thresholds)) if get("appendix") else []

    def page_sequence() -> Iterator[tuple[str, Any]]:
        if get("title_page"):
            yield "title", None
        for page in pages:
            yield "comic", page
        for lines in appendix:
            yield "appendix", lines

    def paint(painter: Painter, kind: str, page: Any) -> None:
        if kind == "title":
            draw_title_page(painter, project, trim_w, trim_h, get("subject"), len(pages))
        elif kind == "appendix":
            draw_appendix_page(painter, page, spec.margin_pt)
        else:
            assert page is not None
            draw_comic_page(painter, page, images, lettering, get("border_pt"))
            if get("page_numbers"):
                draw_page_number(painter, page.number, trim_w, trim_h, spec.margin_pt)
        if bleed_pt > 0:
            draw_crop_marks(painter, Rect(0, 0, trim_w, trim_h), bleed_pt)

    sequence = list(page_sequence())
    _write_pdf(options.output, project, options, media, slug, bleed_pt, sequence, paint)
    pngs = _write_pngs(options.png_dir, sequence, paint, media, slug, get("png_dpi"))
    log.info("Wrote %s: %d page(s)%s.", options.output, len(sequence), f" and {len(pngs)} PNG page(s) in {options.png_dir}" if pngs else "")
    return ExportResult(options.output, len(sequence), tuple(pngs), tuple(rendered), tuple(issues), tuple(pages),
                        tuple(lettering[p.panel_id] for page in pages for p in page.panels))


def _export_sheet(project: Project, options: ExportOptions, spec: PageSpec, images: dict[str, Image.Image],
                  rendered: list[str]) -> ExportResult:
    get = options.get
    rows_by_page, issues = layout_sheet_rows(project, spec, get("sheet_panels"))
    _report(issues, get("strict"))
    media = (spec.size.width_pt, spec.size.height_pt)
    sequence: list[tuple[str, Any]] = [("title", None)] if get("title_page") else []
    sequence += [("sheet", (i + 1, rows)) for i, rows in enumerate(rows_by_page)]
    if get("appendix"):
        sequence += [("appendix", lines) for lines in layout_appendix(project, media[0], media[1], spec.margin_pt,
                                                                      dict(options.thresholds))]

    def paint(painter: Painter, kind: str, data: Any) -> None:
        if kind == "title":
            draw_title_page(painter, project, media[0], media[1], get("subject") or "Storyboard", len(rows_by_page))
            return
        if kind == "appendix":
            draw_appendix_page(painter, data, spec.margin_pt)
            return
        number, rows = data
        draw_sheet_page(painter, rows, images, project, spec, number, len(rows_by_page))

    _write_pdf(options.output, project, options, media, 0.0, 0.0, sequence, paint)
    pngs = _write_pngs(options.png_dir, sequence, paint, media, 0.0, get("png_dpi"))
    log.info("Wrote the storyboard sheet %s: %d page(s).", options.output, len(sequence))
    return ExportResult(options.output, len(sequence), tuple(pngs), tuple(rendered), tuple(issues), sheet=True)


def _report(issues: Sequence[LetteringIssue], strict: bool) -> None:
    if issues and strict:
        raise LetteringError(
            f"{len(issues)} piece(s) of lettering do not fit; nothing was written:\n  "
            + "\n  ".join(str(i) for i in issues)
        )
    for issue in issues:
        log.warning("%s", issue)


def _write_pdf(path: Path, project: Project, options: ExportOptions, media: tuple[float, float], slug: float,
               bleed_pt: float, sequence: Sequence[tuple[str, Any]], paint: Callable[[Painter, str, Any], None]) -> None:
    from reportlab.pdfgen.canvas import Canvas

    from storyboard import __version__

    with atomic_output(path) as tmp:
        canvas = Canvas(str(tmp), pagesize=media, pageCompression=1)
        canvas.setTitle(project.title)
        canvas.setAuthor(project.author or "")
        canvas.setSubject(options.get("subject") or ("Storyboard" if options.sheet else "Comic"))
        canvas.setCreator(f"Storyboard Studio {__version__}")
        canvas.setKeywords(", ".join(c.name for c in project.cast))
        if slug > 0:
            w, h = media
            canvas.setTrimBox((slug, slug, w - slug, h - slug))
            edge = slug - bleed_pt
            canvas.setBleedBox((edge, edge, w - edge, h - edge))
        for kind, data in sequence:
            paint(PdfPainter(canvas, media[1], (slug, slug), options.get("dpi"), options.get("jpeg_quality")), kind, data)
            canvas.showPage()
        try:
            canvas.save()
        except OSError as exc:
            raise ExportError(f"Could not write {path}: {exc.strerror or exc}. The previous file, if any, is unchanged.") from None


def _write_pngs(folder: Path | None, sequence: Sequence[tuple[str, Any]], paint: Callable[[Painter, str, Any], None],
                media: tuple[float, float], slug: float, dpi: int) -> list[Path]:
    if folder is None:
        return []
    written = []
    for index, (kind, data) in enumerate(sequence, start=1):
        painter = PngPainter(media[0], media[1], dpi)
        paint(_Offset(painter, slug), kind, data)
        path = folder / f"page-{index:03d}.png"
        try:
            with atomic_output(path) as tmp:
                painter.result().save(tmp, format="PNG", optimize=False)
        except OSError as exc:
            raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from None
        written.append(path)
    return written


class _Offset:
    """Shifts everything a painter draws by (dx, dy) points: the trim box inside a page with bleed and slug."""

    def __init__(self, painter: Painter, offset: float):
        self.p = painter
        self.d = offset

    def _pt(self, p: Point) -> Point:
        return p[0] + self.d, p[1] + self.d

    def image(self, rect: Rect, image: Image.Image, key: str) -> None:
        self.p.image(rect.moved(self.d, self.d), image, key)

    def rect(self, rect: Rect, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        self.p.rect(rect.moved(self.d, self.d), fill, stroke, width)

    def polygon(self, points: Sequence[Point], fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> None:
        self.p.polygon([self._pt(q) for q in points], fill, stroke, width, dashed)

    def circle(self, x: float, y: float, r: float, fill: RGB | None, stroke: RGB | None, width: float) -> None:
        self.p.circle(x + self.d, y + self.d, r, fill, stroke, width)

    def line(self, a: Point, b: Point, color: RGB, width: float) -> None:
        self.p.line(self._pt(a), self._pt(b), color, width)

    def text(self, text: str, font: Font, size: float, x: float, y: float, align: str = "left", color: RGB = INK) -> None:
        self.p.text(text, font, size, x + self.d, y + self.d, align, color)
