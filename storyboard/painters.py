"""Painters: one page drawn in page points, by the same drawing code into the PDF (reportlab) and into PNGs (Pillow).

Coordinates are PDF points with the origin at the top-left corner of the trimmed page, y growing down. Art
arrives as a TakeArt (storyboard.art): the PDF painter embeds it without decoding where it can, the PNG
painter decodes it; painters of the same page share one TakeArt, so a take is decoded at most once a page.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from PIL import Image, ImageDraw, ImageFont

from storyboard.art import TakeArt, cover_crop, pdf_art
from storyboard.layout import PageLayout, Rect
from storyboard.lettering import CAPTION_FILL, INK, PAPER, Font, PanelLettering, TextBlock, pick_font, wrap
from storyboard.model import Project
from storyboard.pdfwriter import SpooledCanvas
from storyboard.prepress import CROP_MARK_OFFSET_PT, CROP_MARK_PT

RGB = tuple[float, float, float]
Point = tuple[float, float]


class Painter(Protocol):
    """Draws on one page in page points (top-left origin, y down)."""

    def image(self, rect: Rect, art: TakeArt, key: str) -> None: ...
    def rect(self, rect: Rect, fill: RGB | None, stroke: RGB | None, width: float) -> None: ...
    def polygon(self, points: Sequence[Point], fill: RGB | None, stroke: RGB | None, width: float, dashed: bool = False) -> None: ...
    def circle(self, x: float, y: float, r: float, fill: RGB | None, stroke: RGB | None, width: float) -> None: ...
    def line(self, a: Point, b: Point, color: RGB, width: float) -> None: ...
    def text(self, text: str, font: Font, size: float, x: float, y: float, align: str = "left", color: RGB = INK) -> None: ...


class PdfPainter:
    """Draws into a SpooledCanvas; art goes in as storyboard.art.pdf_art decides, text stays text."""

    def __init__(self, canvas: SpooledCanvas, media_height: float, origin: Point, dpi: int, quality: int,
                 art_dpi: int | None = None):
        self.c = canvas
        self.h = media_height
        self.ox, self.oy = origin
        self.dpi = dpi
        self.art_dpi = art_dpi
        self.quality = quality

    def _xy(self, x: float, y: float) -> Point:
        return self.ox + x, self.h - (self.oy + y)

    def _box(self, rect: Rect) -> tuple[float, float, float, float]:
        x, y = self._xy(rect.x, rect.bottom)
        return x, y, rect.w, rect.h

    def image(self, rect: Rect, art: TakeArt, key: str) -> None:
        placed = pdf_art(art, rect, self.dpi, self.art_dpi, self.quality)
        clip = self._box(placed.clip) if placed.clip is not None else None
        self.c.place_image(placed.image, *self._box(placed.box), clip=clip)

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


@functools.lru_cache(maxsize=64)
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

    def image(self, rect: Rect, art: TakeArt, key: str) -> None:
        x0, y0 = self._p(rect.x, rect.y)
        x1, y1 = self._p(rect.right, rect.bottom)
        box = (round(x0), round(y0), round(x1), round(y1))
        fitted = cover_crop(art.image(), rect.w / rect.h).convert("RGB").resize((box[2] - box[0], box[3] - box[1]), Image.LANCZOS)
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


def draw_comic_page(painter: Painter, page: PageLayout, art: Mapping[str, TakeArt],
                    lettering: Mapping[str, PanelLettering], border_pt: float, bleed_pt: float = 0.0) -> None:
    """Each panel's art (into the bleed where the panel meets the trim), its lettering, then its border."""
    for placed in page.panels:
        painter.image(bleed_rect(placed.rect, page.width_pt, page.height_pt, bleed_pt), art[placed.panel_id], placed.panel_id)
        draw_lettering(painter, lettering[placed.panel_id])
        if border_pt > 0:
            painter.rect(placed.rect, None, INK, border_pt)


def bleed_rect(rect: Rect, width_pt: float, height_pt: float, bleed_pt: float) -> Rect:
    """`rect` grown by the bleed on each side where it meets the trim edge, so the art runs off the cut."""
    if bleed_pt <= 0:
        return rect
    edge = 0.01
    left = bleed_pt if rect.x <= edge else 0.0
    top = bleed_pt if rect.y <= edge else 0.0
    right = bleed_pt if rect.right >= width_pt - edge else 0.0
    bottom = bleed_pt if rect.bottom >= height_pt - edge else 0.0
    return Rect(rect.x - left, rect.y - top, rect.w + left + right, rect.h + top + bottom)


def draw_page_number(painter: Painter, number: int, width_pt: float, height_pt: float, margin_pt: float,
                     safe_pt: float = 0.0) -> None:
    """The folio, centred in the bottom margin but never below the live area (`safe_pt` inside the trim)."""
    font = pick_font(str(number))
    size = 8.0
    y = height_pt - max(margin_pt / 2 - size / 3, size * 0.3, safe_pt)  # digits sit on the baseline
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


class Offset:
    """Shifts everything a painter draws by (dx, dy) points: the trim box inside a page with bleed and slug."""

    def __init__(self, painter: Painter, offset: float):
        self.p = painter
        self.d = offset

    def _pt(self, p: Point) -> Point:
        return p[0] + self.d, p[1] + self.d

    def image(self, rect: Rect, art: TakeArt, key: str) -> None:
        self.p.image(rect.moved(self.d, self.d), art, key)

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
