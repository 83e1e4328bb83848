"""Lettering: captions and balloons laid out over a panel as vector shapes with real text.

Everything here is geometry in page points (top-left origin, y down), computed once and then drawn by
both the PDF and the PNG painters in `export.py`, so the two outputs match. Text wraps and shrinks to fit
between MAX_SIZE_PT and MIN_SIZE_PT; what still cannot fit is reported as a LetteringIssue, never cut.
"""

from __future__ import annotations

import functools
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import StoryboardError
from storyboard.layout import Rect
from storyboard.model import Balloon as BalloonSpec
from storyboard.model import Panel
from storyboard.poses import Pose

log = logging.getLogger(__name__)

Point = tuple[float, float]
Head = tuple[float, float, float]  # centre x, y and radius of a speaker's head, in page points

FONT_DIR = Path(__file__).resolve().parent.parent / "assets" / "fonts"
# The lettering font first, then fallbacks; any other .ttf dropped into assets/fonts/ joins the chain.
SHIPPED_FONTS: dict[str, tuple[str, ...]] = {
    "regular": ("ComicNeue-Regular.ttf", "DejaVuSans.ttf"),
    "bold": ("ComicNeue-Bold.ttf", "DejaVuSans-Bold.ttf"),
}
# TrueType fonts a system may have for scripts the shipped fonts lack (CJK above all).
SYSTEM_FONTS: tuple[str, ...] = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
    "/usr/share/fonts/truetype/noto/NotoSansJP-Regular.ttf",
    "/usr/share/fonts/truetype/unifont/unifont.ttf",
)

MAX_SIZE_PT = 9.5  # balloon text: comic lettering at print size
MIN_SIZE_PT = 6.5
CAPTION_MAX_PT = 8.5
SIZE_STEP_PT = 0.5
LEADING = 1.18
PANEL_PAD_PT = 4.0  # lettering keeps this far inside the panel border
BALLOON_GAP_PT = 3.0  # between balloons, and between a balloon and a caption
TEXT_PAD_PT = 3.0  # between the text and the balloon outline
CAPTION_PAD_PT = 3.5
MAX_BALLOON_SHARE = 0.45  # a balloon bigger than this share of its panel buries the art: reported
BEAM_WIDTH = 5  # placements kept per balloon while searching a panel's layout

INK = (0.0, 0.0, 0.0)
PAPER = (1.0, 1.0, 1.0)
CAPTION_FILL = (1.0, 0.97, 0.80)


class LetteringError(StoryboardError):
    """Text that cannot be lettered (no font has its characters, or it does not fit and strict mode is on)."""


# ---------------------------------------------------------------- fonts


@dataclass(frozen=True)
class Font:
    """A TrueType font registered with reportlab under `name`, with the characters it covers."""

    name: str
    path: Path
    chars: frozenset[int]

    def covers(self, text: str) -> bool:
        return all(ord(ch) in self.chars or ch.isspace() for ch in text)


@functools.cache
def _load_font(path: str) -> Font | None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFError, TTFont

    name = "SB-" + Path(path).stem
    try:
        ttf = TTFont(name, path)
    except (TTFError, OSError, ValueError) as exc:  # CFF-outline OTF, .ttc, unreadable: skipped
        log.debug("Font %s cannot be used for lettering: %s", path, exc)
        return None
    pdfmetrics.registerFont(ttf)
    return Font(name, Path(path), frozenset(ttf.face.charToGlyph))


def font_chain(bold: bool = False) -> tuple[Font, ...]:
    """The fonts tried in order for a piece of text: Comic Neue, DejaVu Sans, then any others found.

    Found once per state of the font folder (a font dropped into it joins the chain at the next call): an
    export asks thousands of times (issue 13)."""
    try:
        stamp = FONT_DIR.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _font_chain(bold, FONT_DIR, stamp, SYSTEM_FONTS)


@functools.lru_cache(maxsize=8)
def _font_chain(bold: bool, font_dir: Path, stamp: int | None, system_fonts: tuple[str, ...]) -> tuple[Font, ...]:
    shipped = SHIPPED_FONTS["bold" if bold else "regular"]
    paths = [str(font_dir / name) for name in shipped]
    all_shipped = {n for names in SHIPPED_FONTS.values() for n in names}
    paths += sorted(str(p) for p in font_dir.glob("*.ttf") if p.name not in all_shipped and "Italic" not in p.name)
    paths += [p for p in system_fonts if Path(p).is_file()]
    seen: set[str] = set()
    chain = []
    for path in paths:
        if path in seen or not Path(path).is_file():
            continue
        seen.add(path)
        font = _load_font(path)
        if font is not None:
            chain.append(font)
    return tuple(chain)


def pick_font(text: str, bold: bool = False, what: str = "text") -> Font:
    """The first font that has every character of `text`; LetteringError names the characters none has."""
    chain = font_chain(bold)
    for font in chain:
        if font.covers(text):
            return font
    missing = sorted({ch for ch in text if not ch.isspace() and not any(ord(ch) in f.chars for f in chain)})
    if not missing:  # every character exists somewhere, just not all in one font
        best = max(chain, key=lambda f: sum(ord(ch) in f.chars for ch in text))
        missing = sorted({ch for ch in text if not ch.isspace() and ord(ch) not in best.chars})
    listed = ", ".join(f"{ch!r} (U+{ord(ch):04X})" for ch in missing[:12]) + (" ..." if len(missing) > 12 else "")
    raise LetteringError(
        f"{what} uses characters no lettering font has: {listed}. Fonts tried: "
        f"{', '.join(f.path.name for f in chain) or 'none'}. Add a TrueType (.ttf) font that covers them to "
        f"{FONT_DIR} (for Japanese, e.g. a .ttf build of Noto Sans JP), or change the text."
    )


def text_width(text: str, font: Font, size: float) -> float:
    return _unit_width(text, font.name) * size


@functools.lru_cache(maxsize=8192)
def _unit_width(text: str, font_name: str) -> float:
    """Width at 1 pt (widths scale with the size): wrapping measures the same words at every size it tries."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    return stringWidth(text, font_name, 1.0)


@functools.cache
def _ascent_descent(font_name: str) -> tuple[float, float]:
    from reportlab.pdfbase.pdfmetrics import getAscentDescent

    ascent, descent = getAscentDescent(font_name, 1000)
    return ascent / 1000, -descent / 1000


# ---------------------------------------------------------------- text blocks


@dataclass(frozen=True)
class TextBlock:
    """Wrapped lines in one font and size; widths per line in points."""

    lines: tuple[str, ...]
    font: Font
    size: float
    widths: tuple[float, ...]

    @property
    def leading(self) -> float:
        return self.size * LEADING

    @property
    def width(self) -> float:
        return max(self.widths, default=0.0)

    @property
    def height(self) -> float:
        ascent, descent = _ascent_descent(self.font.name)
        return self.leading * (len(self.lines) - 1) + (ascent + descent) * self.size

    def baselines(self, top: float) -> list[float]:
        ascent, _ = _ascent_descent(self.font.name)
        return [top + ascent * self.size + i * self.leading for i in range(len(self.lines))]


def wrap(text: str, font: Font, size: float, max_width: float) -> TextBlock | None:
    """Greedy word wrap to `max_width`; None when a single word is wider than that (words are never split)."""
    lines: list[str] = []
    for paragraph in text.split("\n"):
        words = paragraph.split()
        if not words:
            continue
        line = words[0]
        if text_width(line, font, size) > max_width:
            return None
        for word in words[1:]:
            if text_width(word, font, size) > max_width:
                return None
            candidate = f"{line} {word}"
            if text_width(candidate, font, size) <= max_width:
                line = candidate
            else:
                lines.append(line)
                line = word
        lines.append(line)
    if not lines:
        lines = [""]
    return TextBlock(tuple(lines), font, size, tuple(text_width(line, font, size) for line in lines))


def _sizes(largest: float) -> list[float]:
    count = int(round((largest - MIN_SIZE_PT) / SIZE_STEP_PT))
    return [largest - i * SIZE_STEP_PT for i in range(count + 1)]


# ---------------------------------------------------------------- shapes


@dataclass(frozen=True)
class Caption:
    """A caption box with left-aligned text."""

    rect: Rect
    text: TextBlock

    def lines(self) -> list[tuple[str, float, float]]:
        """(text, left x, baseline y) per line."""
        x = self.rect.x + CAPTION_PAD_PT
        return [(line, x, y) for line, y in zip(self.text.lines, self.text.baselines(self.rect.y + CAPTION_PAD_PT))]


@dataclass(frozen=True)
class Balloon:
    """One balloon: outline polygon (tail included), bubbles for thoughts, centred text."""

    number: int  # 1-based within the panel
    kind: str
    speaker: str | None
    body: Rect  # the outline's bounds without the tail
    center: Point
    outline: tuple[Point, ...]
    tail_tip: Point | None
    bubbles: tuple[tuple[float, float, float], ...]  # (x, y, radius) of thought bubbles
    text: TextBlock
    aim: Point | None = None  # the point the tail aims at (the speaker's head)

    @property
    def dashed(self) -> bool:
        return self.kind == "whisper"

    @property
    def bounds(self) -> Rect:
        """Everything the balloon covers: outline, tail and bubbles."""
        xs = [p[0] for p in self.outline] + [b[0] - b[2] for b in self.bubbles] + [b[0] + b[2] for b in self.bubbles]
        ys = [p[1] for p in self.outline] + [b[1] - b[2] for b in self.bubbles] + [b[1] + b[2] for b in self.bubbles]
        return Rect(min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys))

    def lines(self) -> list[tuple[str, float, float]]:
        """(text, centre x, baseline y) per line."""
        top = self.center[1] - self.text.height / 2
        return [(line, self.center[0], y) for line, y in zip(self.text.lines, self.text.baselines(top))]


@dataclass(frozen=True)
class LetteringIssue:
    """Text that did not fit where it belongs; it is still drawn, at the smallest size."""

    panel_id: str
    what: str  # "caption" or "balloon 2"
    text: str
    message: str

    def __str__(self) -> str:
        short = self.text if len(self.text) <= 40 else self.text[:37] + "..."
        return f"Panel {self.panel_id!r} {self.what} ({short!r}): {self.message}"


@dataclass(frozen=True)
class PanelLettering:
    """All lettering of one panel."""

    panel_id: str
    captions: tuple[Caption, ...]
    balloons: tuple[Balloon, ...]
    issues: tuple[LetteringIssue, ...]


# Balloon body shapes: how far the outline reaches beyond the text ellipse (as a factor of its radii).
BODY_REACH = {"speech": 1.0, "whisper": 1.0, "thought": 1.14, "shout": 1.3}


def _ellipse_point(cx: float, cy: float, a: float, b: float, phi: float, r: float = 1.0) -> Point:
    return cx + a * r * math.cos(phi), cy + b * r * math.sin(phi)


def _body_radius(kind: str, phi: float, seed: int, a: float, b: float) -> float:
    """The outline's radius factor at angle `phi`: 1 on the text ellipse, more for scallops and spikes."""
    if kind == "thought":
        bumps = max(8, min(16, round((a + b) / 9)))
        u = (phi * bumps / (2 * math.pi)) % 1.0
        return 1.0 + 0.14 * math.sin(math.pi * u) ** 0.7
    if kind == "shout":
        spikes = max(10, min(20, round((a + b) / 8)))
        u = (phi * spikes / (2 * math.pi)) % 1.0
        jitter = ((zlib.crc32(f"{seed}:{int(phi * spikes / (2 * math.pi))}".encode()) % 100) / 100) * 0.08
        return 1.0 + (0.3 - jitter) * (1 - abs(2 * u - 1))  # a spike peaks mid-segment
    return 1.0


def _outline(kind: str, cx: float, cy: float, a: float, b: float, seed: int, gap: tuple[float, float] | None) -> list[Point]:
    """The body outline, going round from angle gap[1] to gap[0] (+2pi) so a tail can close the gap."""
    start, end = (gap[1], gap[0] + 2 * math.pi) if gap else (0.0, 2 * math.pi)
    steps = 144 if kind in ("thought", "shout") else 96
    n = max(8, int(steps * (end - start) / (2 * math.pi)))
    points = []
    for i in range(n + 1):
        phi = start + (end - start) * i / n
        points.append(_ellipse_point(cx, cy, a, b, phi, _body_radius(kind, phi, seed, a, b)))
    return points


def _tail(base_left: Point, base_right: Point, tip: Point, curved: bool) -> list[Point]:
    """Points from base_left to the tip and back to base_right, bowed a little for speech."""
    mid = ((base_left[0] + base_right[0]) / 2, (base_left[1] + base_right[1]) / 2)
    dx, dy = tip[0] - mid[0], tip[1] - mid[1]
    length = math.hypot(dx, dy) or 1.0
    bow = 0.18 * length if curved else 0.0
    nx, ny = -dy / length * bow, dx / length * bow

    def bezier(p0: Point, p2: Point, steps: int = 8) -> list[Point]:
        c = ((p0[0] + p2[0]) / 2 + nx, (p0[1] + p2[1]) / 2 + ny)
        return [((1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * c[0] + t * t * p2[0],
                 (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * c[1] + t * t * p2[1]) for t in (i / steps for i in range(steps + 1))]

    return bezier(base_left, tip) + bezier(tip, base_right)[1:]


def _tip_toward(start: Point, target: Point, panel: Rect, stop: float) -> Point:
    """Where a tail from `start` towards `target` ends: `stop` short of it (the head's edge), inside the panel."""
    dx, dy = target[0] - start[0], target[1] - start[1]
    dist = math.hypot(dx, dy)
    if dist < 1e-6:
        dx, dy, dist = 0.0, 1.0, 1.0
    longest = max(18.0, 0.3 * min(panel.w, panel.h))
    length = min(max(dist - max(stop, 4.0), 9.0), longest)
    length = max(min(length, dist - 0.75 * stop), 3.0)  # close to the head: a stub, never into the face
    tip = (start[0] + dx / dist * length, start[1] + dy / dist * length)
    inner = panel.inset(2.0)
    return min(max(tip[0], inner.x), inner.right), min(max(tip[1], inner.y), inner.bottom)


def build_balloon(number: int, kind: str, speaker: str | None, text: TextBlock, center: Point, radii: tuple[float, float],
                  head: Head | None, panel: Rect, seed: int) -> Balloon:
    """The balloon's outline with a tail (or thought bubbles) towards the speaker's head, or out of the panel."""
    cx, cy = center
    target: Point | None = None if head is None else (head[0], head[1])
    stop = 0.0 if head is None else head[2] * 1.15
    a, b = radii
    reach = BODY_REACH[kind]
    body = Rect(cx - a * reach, cy - b * reach, 2 * a * reach, 2 * b * reach)
    if target is None:  # off-panel speaker: the tail points out of the nearest panel edge
        edges = {(cx, panel.y): cy - panel.y, (panel.x, cy): cx - panel.x, (panel.right, cy): panel.right - cx,
                 (cx, panel.bottom): panel.bottom - cy}
        target = min(edges, key=edges.get)  # type: ignore[arg-type]
        target = (target[0] + (target[0] - cx) * 0.2, target[1] + (target[1] - cy) * 0.2)
    phi = math.atan2((target[1] - cy) / b, (target[0] - cx) / a)
    edge = _ellipse_point(cx, cy, a, b, phi, _body_radius(kind, phi, seed, a, b) if kind == "shout" else 1.0)
    if kind == "thought":
        outline = tuple(_outline(kind, cx, cy, a, b, seed, None))
        start = _ellipse_point(cx, cy, a, b, phi, BODY_REACH["thought"])
        tip = _tip_toward(start, target, panel, stop)
        bubbles = []
        for t, r in ((0.28, 0.16), (0.62, 0.11), (0.92, 0.07)):
            radius = max(1.6, r * min(b, 40.0))
            bubbles.append((start[0] + (tip[0] - start[0]) * t, start[1] + (tip[1] - start[1]) * t, radius))
        return Balloon(number, kind, speaker, body, center, outline, tip, tuple(bubbles), text, target)
    half = (0.16 if kind == "shout" else 0.2) * min(1.0, 1.6 * b / a) + 0.06
    gap = (phi - half, phi + half)
    tip = _tip_toward(edge, target, panel, stop)
    base_left = _ellipse_point(cx, cy, a, b, gap[0])
    base_right = _ellipse_point(cx, cy, a, b, gap[1])
    outline = _outline(kind, cx, cy, a, b, seed, gap)
    outline += _tail(base_left, base_right, tip, curved=kind != "shout")
    return Balloon(number, kind, speaker, body, center, tuple(outline), tip, (), text, target)


def text_radii(block: TextBlock, ratio: float) -> tuple[float, float]:
    """The smallest ellipse radii (a, b) with a/b = ratio that hold every line of `block` with padding."""
    top = -block.height / 2
    ascent, descent = _ascent_descent(block.font.name)
    b_needed = 0.0
    for i, width in enumerate(block.widths):
        y0 = top + i * block.leading
        y1 = y0 + (ascent + descent) * block.size
        half_w = width / 2 + TEXT_PAD_PT
        for y in (y0 - TEXT_PAD_PT * 0.6, y1 + TEXT_PAD_PT * 0.6):
            b_needed = max(b_needed, math.sqrt((half_w / ratio) ** 2 + y * y))
    b = max(b_needed, block.size * 1.1)
    return b * ratio, b


# ---------------------------------------------------------------- placement


@dataclass(frozen=True)
class _Option:
    text: TextBlock
    radii: tuple[float, float]
    reach: float

    @property
    def size(self) -> tuple[float, float]:
        return 2 * self.radii[0] * self.reach, 2 * self.radii[1] * self.reach


def _balloon_options(text: str, kind: str, bold: bool, panel: Rect, what: str) -> list[_Option]:
    """Ways to set `text`: each font size, several wrap widths; widest-looking first within a size."""
    font = pick_font(text, bold=bold, what=what)
    options = []
    for size in _sizes(MAX_SIZE_PT):
        seen: set[tuple[str, ...]] = set()
        for share in (0.34, 0.48, 0.64, 0.82):
            block = wrap(text, font, size, panel.w * share / 1.5)
            if block is None or block.lines in seen:
                continue
            seen.add(block.lines)
            ratio = min(max(block.width / max(block.height, 1.0), 1.15), 2.3)
            options.append(_Option(block, text_radii(block, ratio), BODY_REACH[kind]))
    return options


def _caption_block(text: str, panel: Rect, what: str) -> tuple[TextBlock, bool]:
    """The caption text wrapped to at most 90% of the panel width; False if it is still too tall."""
    font = pick_font(text, what=what)
    limit_h = 0.45 * panel.h
    block = None
    for size in _sizes(CAPTION_MAX_PT):
        for share in (0.6, 0.75, 0.9):
            block = wrap(text, font, size, panel.w * share - 2 * CAPTION_PAD_PT - 2 * PANEL_PAD_PT)
            if block is not None and block.height + 2 * CAPTION_PAD_PT <= limit_h and len(block.lines) <= 3 + (share > 0.7):
                return block, True
    block = wrap(text, font, MIN_SIZE_PT, panel.w - 2 * CAPTION_PAD_PT - 2 * PANEL_PAD_PT)
    if block is None:  # one word wider than the panel: keep it on its own line, reported
        block = TextBlock(tuple(text.split()), font, MIN_SIZE_PT, tuple(text_width(w, font, MIN_SIZE_PT) for w in text.split()))
    return block, False


def letter_panel(panel: Panel, rect: Rect, heads: Mapping[str, Head], reading: str = "ltr") -> PanelLettering:
    """Caption and balloons of one panel, placed in `rect`; balloons near their speakers, never overlapping."""
    best: PanelLettering | None = None
    for caption_at in ("top", "bottom"):
        attempt = _letter(panel, rect, heads, reading, caption_at)
        if best is None or len(attempt.issues) < len(best.issues):
            best = attempt
        if not best.issues or not panel.caption:
            break
    assert best is not None
    return best


def _letter(panel: Panel, rect: Rect, heads: Mapping[str, Head], reading: str, caption_at: str) -> PanelLettering:
    issues: list[LetteringIssue] = []
    area = rect.inset(PANEL_PAD_PT)
    taken: list[Rect] = []
    captions: list[Caption] = []
    if panel.caption.strip():
        block, fits = _caption_block(panel.caption, rect, f"Panel {panel.id!r} caption")
        w, h = block.width + 2 * CAPTION_PAD_PT, block.height + 2 * CAPTION_PAD_PT
        x = area.x if reading == "ltr" else area.right - w
        y = area.y if caption_at == "top" else area.bottom - h
        caption = Caption(Rect(x, y, w, h), block)
        captions.append(caption)
        taken.append(caption.rect)
        if not fits:
            issues.append(LetteringIssue(panel.id, "caption", panel.caption,
                                         f"does not fit in {rect.w:.0f} x {rect.h:.0f} pt even at {MIN_SIZE_PT} pt; "
                                         "shorten it or give the panel a larger slot."))
    head_points = [heads[c] for c in panel.characters if c in heads]
    # A small beam search: the best spot for the first balloon may crowd out the second.
    beams: list[tuple[float, list[Balloon], list[LetteringIssue]]] = [(0.0, [], [])]
    for number, spec in enumerate(panel.balloons, start=1):
        what = f"balloon {number}"
        target = heads.get(spec.speaker) if spec.speaker in panel.characters else None
        options = _balloon_options(spec.text, spec.kind, spec.kind == "shout", rect, f"Panel {panel.id!r} {what}")
        seed = zlib.crc32(f"{panel.id}:{number}".encode())
        grown: list[tuple[float, list[Balloon], list[LetteringIssue]]] = []
        for total, placed, problems in beams:
            occupied = taken + [b.body for b in placed]
            choices = _place(options, area, occupied, target, head_points, placed[-1] if placed else None, reading)
            for score, option, center in choices:
                balloon = build_balloon(number, spec.kind, spec.speaker, option.text, center, option.radii, target, rect, seed)
                grown.append((total + score + 8.0 * _tangles(balloon, placed, head_points), placed + [balloon], problems))
            if not choices:
                option, center = _fallback(spec, options, area, occupied)
                balloon = build_balloon(number, spec.kind, spec.speaker, option.text, center, option.radii, target, rect, seed)
                issue = LetteringIssue(panel.id, what, spec.text,
                                       f"does not fit beside the other lettering in {rect.w:.0f} x {rect.h:.0f} pt even at "
                                       f"{MIN_SIZE_PT} pt; it is drawn anyway and may overlap. Shorten it, split it over "
                                       "two balloons or panels, or use a template with larger slots.")
                grown.append((total + 100.0, placed + [balloon], problems + [issue]))
        grown.sort(key=lambda state: (len(state[2]), state[0]))
        beams = grown[:BEAM_WIDTH]
    _, balloons, balloon_issues = beams[0]
    issues += balloon_issues
    return PanelLettering(panel.id, tuple(captions), tuple(balloons), tuple(issues))


def _place(options: Sequence[_Option], area: Rect, taken: Sequence[Rect], target: Head | None, heads: Sequence[Head],
           previous: Balloon | None, reading: str) -> tuple[_Option, Point] | None:
    """The best few (score, option, centre) for a balloon: near its speaker, high in the panel, in reading order."""
    best: list[tuple[float, _Option, Point]] = []  # sorted, at most BEAM_WIDTH, spots at least a few points apart
    direction = 1 if reading == "ltr" else -1
    tx = target[0] if target is not None else (area.x + area.w * (0.3 if reading == "ltr" else 0.7))
    for option in options:
        w, h = option.size
        if w > area.w or h > area.h * 0.8 or w * h > MAX_BALLOON_SHARE * area.w * area.h:
            continue
        size_penalty = (MAX_SIZE_PT - option.text.size) * 0.5
        if len(best) == BEAM_WIDTH and size_penalty >= best[-1][0]:
            continue
        shape = size_penalty + 0.15 * abs(math.log(option.radii[0] / option.radii[1] / 1.7))
        shape += 1.5 * w * h / (area.w * area.h)  # compact balloons hide less art
        xs = [area.x + w / 2 + (area.w - w) * i / 8 for i in range(9)]
        ys = [area.y + h / 2 + (area.h * 0.75 - h) * j / 7 for j in range(8)] if area.h * 0.75 > h else [area.y + h / 2]
        blocked = [(r.x - BALLOON_GAP_PT - w / 2, r.y - BALLOON_GAP_PT - h / 2, r.right + BALLOON_GAP_PT + w / 2,
                    r.bottom + BALLOON_GAP_PT + h / 2) for r in taken]  # centres inside these would overlap
        for cy in ys:
            top, bottom = cy - h / 2, cy + h / 2
            for cx in xs:
                # the cheap terms first: skip spots that cannot beat the shortlist
                score = shape + 2.2 * abs(cx - tx) / area.w + 1.4 * (top - area.y) / area.h
                if len(best) == BEAM_WIDTH and score >= best[-1][0]:
                    continue
                if any(x0 < cx < x1 and y0 < cy < y1 for x0, y0, x1, y1 in blocked):
                    continue
                if target is not None:
                    if target[1] - target[2] < bottom - h * 0.25:
                        score += 0.8  # the speaker's head is level with or above the balloon: tail goes sideways/up
                    if math.hypot(target[0] - cx, target[1] - bottom) > 0.7 * max(area.w, area.h):
                        score += 0.5
                if previous is not None:
                    earlier_side = (cx - previous.center[0]) * direction < 0
                    # read top to bottom, then in reading direction: a later balloon is lower, or level and after
                    if top < previous.body.y - 1 or (earlier_side and top < previous.body.y + 0.5 * previous.body.h):
                        score += 3.0
                if len(best) == BEAM_WIDTH and score >= best[-1][0]:
                    continue  # every term adds: the costly one below cannot bring it back
                if heads:
                    box = Rect(cx - w / 2, top, w, h)
                    score += 2.5 * sum(_covers(box, head) for head in heads)  # hides a face
                if len(best) < BEAM_WIDTH or score < best[-1][0]:
                    _keep(best, (score, option, (cx, cy)))
    return best


def _tangles(balloon: Balloon, placed: Sequence[Balloon], heads: Sequence[Head] = ()) -> int:
    """How many tails would cross another tail, run through another balloon or across someone else's face."""
    count = 0
    if balloon.tail_tip is not None:
        for hx, hy, r in heads:
            if balloon.aim is not None and math.hypot(hx - balloon.aim[0], hy - balloon.aim[1]) < 1e-6:
                continue  # the speaker's own head
            if _point_segment_distance((hx, hy), balloon.center, balloon.tail_tip) < 0.8 * r:
                count += 1
    own = (balloon.center, balloon.aim) if balloon.aim else None
    for other in placed:
        theirs = (other.center, other.aim) if other.aim else None
        if own and theirs and _segments_cross(*own, *theirs):
            count += 1
        if own and _segment_hits_rect(*own, other.body):
            count += 1
        if theirs and _segment_hits_rect(*theirs, balloon.body):
            count += 1
    return count


def _point_segment_distance(p: Point, a: Point, b: Point) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2))
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    def side(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    return side(a, b, c) * side(a, b, d) < 0 and side(c, d, a) * side(c, d, b) < 0


def _segment_hits_rect(a: Point, b: Point, rect: Rect) -> bool:
    """True when the segment passes through the rectangle (sampled; tails are short)."""
    return any(rect.inset(1.0).contains_point(a[0] + (b[0] - a[0]) * t / 16, a[1] + (b[1] - a[1]) * t / 16) for t in range(17))


def _keep(best: list[tuple[float, _Option, Point]], candidate: tuple[float, _Option, Point]) -> None:
    """Insert a candidate into the sorted shortlist, replacing a worse one at nearly the same spot."""
    score, _, (cx, cy) = candidate
    for i, (other, _, (ox, oy)) in enumerate(best):
        if abs(cx - ox) < 12 and abs(cy - oy) < 12:
            if score < other:
                best[i] = candidate
                best.sort(key=lambda c: c[0])
            return
    best.append(candidate)
    best.sort(key=lambda c: c[0])
    del best[BEAM_WIDTH:]


def _fallback(spec: BalloonSpec, options: Sequence[_Option], area: Rect, taken: Sequence[Rect]) -> tuple[_Option, Point]:
    """Where a balloon goes when it fits nowhere: smallest setting, below what is there; reported by the caller."""
    option = options[-1] if options else None
    if option is None:  # a single word wider than the panel at the smallest size
        font = pick_font(spec.text, bold=spec.kind == "shout")
        block = TextBlock((spec.text,), font, MIN_SIZE_PT, (text_width(spec.text, font, MIN_SIZE_PT),))
        option = _Option(block, text_radii(block, 2.0), BODY_REACH[spec.kind])
    w, h = option.size
    below = max((r.bottom for r in taken), default=area.y - BALLOON_GAP_PT) + BALLOON_GAP_PT
    cx = min(max(area.center[0], area.x + w / 2), max(area.x + w / 2, area.right - w / 2))
    cy = min(below, area.bottom - h) + h / 2 if h < area.h else area.y + h / 2
    return option, (cx, cy)


# ---------------------------------------------------------------- speakers


def _covers(box: Rect, head: Head) -> float:
    """How much of a head's circle the box hides, roughly: 0 (none) to 1 (its centre or more)."""
    x, y, r = head
    dx = max(box.x - x, 0.0, x - box.right)
    dy = max(box.y - y, 0.0, y - box.bottom)
    reach = r * 0.75  # the face, not the whole skull: balloons may sit over the top of a close-up head
    return max(0.0, 1.0 - math.hypot(dx, dy) / reach) if reach > 0 else 0.0


def image_to_page(rect: Rect, image_size: tuple[int, int]) -> tuple[float, float, float]:
    """(scale, offset x, offset y) mapping image pixels to page points when the image cover-fills `rect`."""
    iw, ih = image_size
    scale = max(rect.w / iw, rect.h / ih)
    return scale, rect.x - (iw * scale - rect.w) / 2, rect.y - (ih * scale - rect.h) / 2


def speaker_heads(panel: Panel, rect: Rect, image_size: tuple[int, int], pose: Pose | None) -> dict[str, Head]:
    """Where each character's head is on the page: from the pose skeleton, else their default staging side."""
    from storyboard.engines.draft import FRAMING  # the draft engine stages figures from this table too

    iw, ih = image_size
    scale, ox, oy = image_to_page(rect, image_size)
    people = pose.scaled_to(iw, ih).people if pose is not None else ()
    n = len(panel.characters)
    fig_frac, top_frac = FRAMING.get(panel.shot, FRAMING["medium"])
    fig_h = fig_frac * ih * (0.6 if n >= 2 and fig_frac > 2.5 else 1.0)
    spread = min(0.3, max(0.16, 0.19 * fig_h / iw))
    heads: dict[str, Head] = {}
    for i, cid in enumerate(panel.characters):
        person = people[i] if i < len(people) else None
        head = person.head() if person is not None else None
        if person is not None and head is not None:
            neck = person.point("neck")
            radius = abs(head[1] - neck[1]) * 0.85 if neck is not None else person.height() * 0.07
            radius = max(radius, person.height() * 0.05)
        else:  # as the draft engine stages them: first on the left, second on the right
            x_frac = 0.5 if n == 1 else (0.5 - spread if i == 0 else 0.5 + spread)
            head = (x_frac * iw, top_frac * ih + 0.075 * fig_h)
            radius = 0.08 * fig_h
        x, y = ox + head[0] * scale, oy + head[1] * scale
        inner = rect.inset(2.0)
        heads[cid] = (min(max(x, inner.x), inner.right), min(max(y, inner.y), inner.bottom), radius * scale)
    return heads
