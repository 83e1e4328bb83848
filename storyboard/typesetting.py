"""Typesetting for lettering: the font chain (Comic Neue, then fallbacks), text widths, word wrap, and text fitted
to a box or an ellipse by shrinking it between the largest and smallest lettering sizes.

Sizes are in points; nothing here knows where on a page the text goes (storyboard.lettering does).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import StoryboardError

log = logging.getLogger(__name__)

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
TEXT_PAD_PT = 3.0  # between the text and the balloon outline
CAPTION_PAD_PT = 3.5


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
def ascent_descent(font_name: str) -> tuple[float, float]:
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
        ascent, descent = ascent_descent(self.font.name)
        return self.leading * (len(self.lines) - 1) + (ascent + descent) * self.size

    def baselines(self, top: float) -> list[float]:
        ascent, _ = ascent_descent(self.font.name)
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


def sizes_down(largest: float) -> list[float]:
    """The lettering sizes tried, largest first, down to MIN_SIZE_PT."""
    count = int(round((largest - MIN_SIZE_PT) / SIZE_STEP_PT))
    return [largest - i * SIZE_STEP_PT for i in range(count + 1)]


def fit_ellipse(text: str, font: Font, a: float, b: float, largest: float = MAX_SIZE_PT) -> TextBlock | None:
    """`text` set as large as it fits inside an ellipse of radii a x b (with padding); None if not even at MIN_SIZE_PT."""
    for size in sizes_down(largest):
        for share in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5):
            block = wrap(text, font, size, max(2 * a * share - 2 * TEXT_PAD_PT, 1.0))
            if block is not None and fits_ellipse(block, a, b):
                return block
    return None


def fits_ellipse(block: TextBlock, a: float, b: float) -> bool:
    """True when every line of `block`, centred in the ellipse, lies inside it with TEXT_PAD_PT around."""
    if a <= 0 or b <= 0:
        return False
    ascent, descent = ascent_descent(block.font.name)
    top = -block.height / 2
    for i, width in enumerate(block.widths):
        y0 = top + i * block.leading - TEXT_PAD_PT * 0.6
        y1 = top + i * block.leading + (ascent + descent) * block.size + TEXT_PAD_PT * 0.6
        half_w = width / 2 + TEXT_PAD_PT
        for y in (y0, y1):
            if (half_w / a) ** 2 + (y / b) ** 2 > 1.0:
                return False
    return True


def fit_box(text: str, font: Font, width: float, height: float, largest: float) -> TextBlock | None:
    """`text` set as large as it fits in width x height points (left-aligned lines); None if not even at MIN_SIZE_PT."""
    for size in sizes_down(largest):
        block = wrap(text, font, size, max(width, 1.0))
        if block is not None and block.height <= height:
            return block
    return None


def smallest(text: str, font: Font, width: float) -> TextBlock:
    """`text` at MIN_SIZE_PT wrapped to `width`, or a word a line where one word is wider (drawn, and reported)."""
    block = wrap(text, font, MIN_SIZE_PT, max(width, 1.0))
    if block is None:
        words = tuple(text.split()) or ("",)
        block = TextBlock(words, font, MIN_SIZE_PT, tuple(text_width(w, font, MIN_SIZE_PT) for w in words))
    return block
