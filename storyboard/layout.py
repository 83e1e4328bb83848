"""Page layout: templates (`presets/templates/*.yaml`) or `auto`, reading order, slot rectangles, render sizes.

Coordinates are PDF points with the origin at the top-left corner of the trimmed page, y growing down.
A template's slots tile a grid over the live area (the page inside its margins); gutters are cut between
neighbouring slots, so every gap between panels is the same width.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from storyboard.errors import StoryboardError
from storyboard.model import READING_ORDERS, Panel, Project
from storyboard.pagesizes import PT_PER_MM, PageSize, parse_page_size

log = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "presets" / "templates"
AUTO = "auto"
SCHEMA_VERSION = 1
MAX_SLOTS = 24
EPS = 1e-9

DEFAULT_MARGIN_MM = 12.0
DEFAULT_GUTTER_MM = 4.0

# Render sizes: SDXL-friendly multiples of 64 near one megapixel, aspect kept within what SDXL draws well;
# a slot beyond these limits gets the nearest size and its art is cover-cropped (never stretched).
RENDER_PIXELS = 1024 * 1024
RENDER_MULTIPLE = 64
MIN_RENDER_ASPECT, MAX_RENDER_ASPECT = 1 / 2.5, 2.5

# key: (type, required, help) — one table drives template validation and the docs in the YAML files.
TEMPLATE_KEYS: dict[str, tuple[type, bool, str]] = {
    "schema": (int, True, f"template format version ({SCHEMA_VERSION})"),
    "name": (str, True, "name shown in the template picker"),
    "description": (str, False, "one sentence on the page's shape"),
    "grid": (list, True, "[columns, rows] of the grid laid over the live area"),
    "slots": (list, True, "panel rectangles as [column, row, width, height] in grid cells"),
}

# Auto layout: the share of a row's width a shot type asks for (wide shots a whole row, close-ups a third).
AUTO_WIDTH: dict[str, float] = {
    "establishing": 1.0,
    "wide": 1.0,
    "over-the-shoulder": 1 / 2,
    "medium": 1 / 2,
    "extreme-close-up": 1 / 2,
    "full": 1 / 3,
    "close-up": 1 / 3,
}
AUTO_ROW_OVERFILL = 1.2  # a row may take panels asking up to this much width; they are then narrowed to fit
AUTO_PAGE_ROWS = 3.35  # row-height units per page (a plain row is 1.0)
AUTO_MIN_PAGE_ROWS = 2.0  # a short last page does not stretch one row over the whole page
AUTO_MAX_PER_PAGE = 8


class LayoutError(StoryboardError):
    """A page template is unknown or malformed, or the page settings cannot hold a panel."""


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle: top-left corner and size."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def aspect(self) -> float:
        return self.w / self.h

    def contains(self, other: Rect, tolerance: float = 1e-6) -> bool:
        return (other.x >= self.x - tolerance and other.y >= self.y - tolerance
                and other.right <= self.right + tolerance and other.bottom <= self.bottom + tolerance)

    def contains_point(self, x: float, y: float, tolerance: float = 1e-6) -> bool:
        return self.x - tolerance <= x <= self.right + tolerance and self.y - tolerance <= y <= self.bottom + tolerance

    def overlaps(self, other: Rect, margin: float = 0.0) -> bool:
        """True when the two share area (or come closer than `margin`)."""
        return (self.x < other.right + margin and other.x < self.right + margin
                and self.y < other.bottom + margin and other.y < self.bottom + margin)

    def inset(self, amount: float) -> Rect:
        return Rect(self.x + amount, self.y + amount, self.w - 2 * amount, self.h - 2 * amount)

    def moved(self, dx: float, dy: float) -> Rect:
        return Rect(self.x + dx, self.y + dy, self.w, self.h)


@dataclass(frozen=True)
class Slot:
    """A panel's place on a page as fractions of the live area (0..1), top-left origin."""

    x: float
    y: float
    w: float
    h: float

    def mirrored(self) -> Slot:
        return Slot(1.0 - self.x - self.w, self.y, self.w, self.h)


@dataclass(frozen=True)
class Template:
    """A page shape: slots in left-to-right reading order."""

    id: str
    name: str
    description: str
    slots: tuple[Slot, ...]


@dataclass(frozen=True)
class PageSpec:
    """Paper, margins, gutters and reading order for laying out pages."""

    size: PageSize
    margin_mm: float = DEFAULT_MARGIN_MM
    gutter_mm: float = DEFAULT_GUTTER_MM
    reading: str = "ltr"

    @property
    def margin_pt(self) -> float:
        return self.margin_mm * PT_PER_MM

    @property
    def gutter_pt(self) -> float:
        return self.gutter_mm * PT_PER_MM

    @property
    def live(self) -> Rect:
        m = self.margin_pt
        return Rect(m, m, self.size.width_pt - 2 * m, self.size.height_pt - 2 * m)


@dataclass(frozen=True)
class PlacedPanel:
    """A panel on a page: its 1-based number in the story and its rectangle in points."""

    panel_id: str
    number: int
    rect: Rect


@dataclass(frozen=True)
class PageLayout:
    """One page: its number, size and the panels on it in reading order."""

    number: int
    width_pt: float
    height_pt: float
    panels: tuple[PlacedPanel, ...]


# ---------------------------------------------------------------- templates


def list_templates() -> list[str]:
    """Template names available, `auto` first."""
    return [AUTO] + sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml"))


@functools.cache
def load_template(name: str) -> Template:
    """Read and validate `presets/templates/<name>.yaml`; LayoutError lists the available templates."""
    path = TEMPLATES_DIR / f"{name}.yaml"
    if name == AUTO or "/" in name or "\\" in name or not path.is_file():
        raise LayoutError(
            f"There is no page template {name!r}" + (" file (auto is computed, not loaded)" if name == AUTO else "")
            + f"; available: {', '.join(list_templates())}. Use one of these names, or add {TEMPLATES_DIR}/{name}.yaml."
        )
    return parse_template(path.read_text(encoding="utf-8"), name, str(path))


def parse_template(text: str, template_id: str, source: str) -> Template:
    """Build a Template from YAML text; LayoutError names the file, line and key of any problem."""
    try:
        data = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise LayoutError(f"{source}: not valid YAML ({exc}). Check indentation and brackets.") from None
    lines = _key_lines(node)

    def fail(key: str, message: str) -> LayoutError:
        line = lines.get(key)
        return LayoutError(f"{source}{f', line {line}' if line else ''}: {message}")

    if not isinstance(data, dict):
        raise LayoutError(f"{source}: a template is a mapping with keys {', '.join(TEMPLATE_KEYS)}.")
    for key, value in data.items():
        if key not in TEMPLATE_KEYS:
            raise fail(key, f"unknown key {key!r}; allowed keys: {', '.join(TEMPLATE_KEYS)}. Fix the spelling or remove it.")
        kind = TEMPLATE_KEYS[key][0]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise fail(key, f"{key!r} must be {kind.__name__} ({TEMPLATE_KEYS[key][2]}), got {value!r}.")
    for key, (_, required, help_text) in TEMPLATE_KEYS.items():
        if required and key not in data:
            raise LayoutError(f"{source}: the template has no {key!r} ({help_text}). Add it.")
    if data["schema"] != SCHEMA_VERSION:
        raise fail("schema", f"schema {data['schema']} is not supported; this app reads template schema {SCHEMA_VERSION}.")
    grid = data["grid"]
    if len(grid) != 2 or not all(_positive_int(v) for v in grid):
        raise fail("grid", f"grid must be [columns, rows], two whole numbers above 0, got {grid!r}.")
    cols, rows = grid
    slots_data = data["slots"]
    if not 1 <= len(slots_data) <= MAX_SLOTS:
        raise fail("slots", f"a template needs 1 to {MAX_SLOTS} slots, got {len(slots_data)}.")
    taken: dict[tuple[int, int], int] = {}
    slots: list[Slot] = []
    for i, cell in enumerate(slots_data, start=1):
        if (not isinstance(cell, list) or len(cell) != 4 or not all(isinstance(v, int) and not isinstance(v, bool) for v in cell)
                or cell[0] < 0 or cell[1] < 0 or cell[2] < 1 or cell[3] < 1):
            raise fail("slots", f"slot {i} must be [column, row, width, height] with whole numbers (width and height "
                       f"at least 1), got {cell!r}.")
        c, r, w, h = cell
        if c + w > cols or r + h > rows:
            raise fail("slots", f"slot {i} {cell} reaches outside the {cols} x {rows} grid.")
        for cc in range(c, c + w):
            for rr in range(r, r + h):
                if (cc, rr) in taken:
                    raise fail("slots", f"slot {i} {cell} overlaps slot {taken[(cc, rr)]} at cell [{cc}, {rr}].")
                taken[(cc, rr)] = i
        slots.append(Slot(c / cols, r / rows, w / cols, h / rows))
    return Template(template_id, data["name"], data.get("description", ""), tuple(sorted(slots, key=_reading_key)))


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {k.value: k.start_mark.line + 1 for k, _ in node.value if isinstance(k, yaml.ScalarNode)}


def _reading_key(slot: Slot) -> tuple[float, float]:
    """Top to bottom, then left to right (rows share a top edge)."""
    return round(slot.y, 6), round(slot.x, 6)


# ---------------------------------------------------------------- auto layout


def auto_pages(panels: Sequence[Panel]) -> list[tuple[Slot, ...]]:
    """Slots for each page, filled in rows by shot type: wide shots take a row, close-ups a third of one."""
    rows: list[list[float]] = []
    row_shots: list[list[str]] = []
    for panel in panels:
        want = AUTO_WIDTH.get(panel.shot, 0.5)
        if rows and sum(rows[-1]) + want <= AUTO_ROW_OVERFILL + EPS and sum(rows[-1]) < 1 - EPS:
            rows[-1].append(want)
            row_shots[-1].append(panel.shot)
        else:
            rows.append([want])
            row_shots.append([panel.shot])
    # Rows holding a full-figure shot get more height; rows of wide shots a little less.
    heights = [1.3 if "full" in shots else 0.9 if all(AUTO_WIDTH.get(s, 0.5) >= 1 for s in shots) else 1.0 for shots in row_shots]
    pages: list[list[int]] = [[]]
    used = 0.0
    count = 0
    for i, height in enumerate(heights):
        if pages[-1] and (used + height > AUTO_PAGE_ROWS + EPS or count + len(rows[i]) > AUTO_MAX_PER_PAGE):
            pages.append([])
            used, count = 0.0, 0
        pages[-1].append(i)
        used += height
        count += len(rows[i])
    out: list[tuple[Slot, ...]] = []
    for page_rows in pages:
        total = max(sum(heights[i] for i in page_rows), AUTO_MIN_PAGE_ROWS)
        y = 0.0
        slots: list[Slot] = []
        for i in page_rows:
            h = heights[i] / total
            widths = rows[i]
            x = 0.0
            for j, w in enumerate(widths):
                # The last slot of a row ends exactly at 1 so rounding never leaves a sliver.
                slot_w = 1.0 - x if j == len(widths) - 1 else w / sum(widths)
                slots.append(Slot(x, y, slot_w, h))
                x += slot_w
            y += h
        out.append(tuple(slots))
    return out


# ---------------------------------------------------------------- pages


def page_spec(project: Project, size: str | None = None, reading: str | None = None,
              margin_mm: float = DEFAULT_MARGIN_MM, gutter_mm: float = DEFAULT_GUTTER_MM) -> PageSpec:
    """The PageSpec from the project's page settings, with any of them overridden."""
    reading = reading or project.page.reading
    if reading not in READING_ORDERS:
        raise LayoutError(f"Reading order {reading!r} must be one of: {', '.join(READING_ORDERS)}.")
    spec = PageSpec(parse_page_size(size or project.page.size), margin_mm, gutter_mm, reading)
    if margin_mm < 0 or gutter_mm < 0:
        raise LayoutError(f"Margins and gutters must not be negative, got margin {margin_mm} mm, gutter {gutter_mm} mm.")
    live = spec.live
    if live.w < 72 or live.h < 72:
        raise LayoutError(
            f"A {margin_mm:g} mm margin leaves too little of a {spec.size.name} page ({live.w:.0f} x {live.h:.0f} pt); "
            "use a smaller margin or a larger page."
        )
    return spec


def layout_pages(panels: Sequence[Panel], template: str, spec: PageSpec) -> list[PageLayout]:
    """Place panels on pages; a story longer than the template continues on new pages of the same template."""
    if not panels:
        return []
    if template == AUTO:
        page_slots = auto_pages(panels)
    else:
        slots = load_template(template).slots
        page_slots = [slots] * math.ceil(len(panels) / len(slots))
        if len(page_slots) > 1:
            log.info("%d panels on a %d-panel template: continuing on %d pages.", len(panels), len(slots), len(page_slots))
    live, gutter = spec.live, spec.gutter_pt
    pages: list[PageLayout] = []
    next_panel = 0
    for page_number, slots in enumerate(page_slots, start=1):
        placed: list[PlacedPanel] = []
        for slot in slots:
            if next_panel >= len(panels):
                break
            if spec.reading == "rtl":
                slot = slot.mirrored()
            rect = slot_rect(slot, live, gutter)
            if rect.w < 24 or rect.h < 24:
                raise LayoutError(
                    f"Panel {panels[next_panel].id!r} gets a slot of only {rect.w:.0f} x {rect.h:.0f} pt; "
                    "use smaller gutters or margins, a larger page or a template with fewer panels."
                )
            placed.append(PlacedPanel(panels[next_panel].id, next_panel + 1, rect))
            next_panel += 1
        pages.append(PageLayout(page_number, spec.size.width_pt, spec.size.height_pt, tuple(placed)))
    return pages


def slot_rect(slot: Slot, live: Rect, gutter_pt: float) -> Rect:
    """A slot's rectangle in points: the live area's share, with half a gutter cut from each inner edge."""
    x0, x1 = live.x + slot.x * live.w, live.x + (slot.x + slot.w) * live.w
    y0, y1 = live.y + slot.y * live.h, live.y + (slot.y + slot.h) * live.h
    half = gutter_pt / 2
    if slot.x > EPS:
        x0 += half
    if slot.x + slot.w < 1 - EPS:
        x1 -= half
    if slot.y > EPS:
        y0 += half
    if slot.y + slot.h < 1 - EPS:
        y1 -= half
    return Rect(x0, y0, x1 - x0, y1 - y0)


def slot_render_size(aspect: float, pixels: int = RENDER_PIXELS, multiple: int = RENDER_MULTIPLE) -> tuple[int, int]:
    """The render size (width, height) for a slot of `aspect` = width / height: multiples of 64, about `pixels`."""
    if not aspect > 0 or not math.isfinite(aspect):
        raise ValueError(f"aspect must be a positive number, got {aspect}")
    aspect = min(max(aspect, MIN_RENDER_ASPECT), MAX_RENDER_ASPECT)
    best: tuple[float, int, int] | None = None
    ideal_h = math.sqrt(pixels / aspect)
    for h in range(max(multiple, int(ideal_h / multiple - 2) * multiple), int(ideal_h / multiple + 3) * multiple, multiple):
        for w in {max(multiple, math.floor(h * aspect / multiple) * multiple), math.ceil(h * aspect / multiple) * multiple}:
            # aspect error first (it becomes cropped art); then distance from the pixel budget
            score = abs(math.log((w / h) / aspect)) + 0.25 * abs(math.log(w * h / pixels))
            if best is None or score < best[0]:
                best = (score, w, h)
    assert best is not None
    return best[1], best[2]


def render_sizes(pages: Sequence[PageLayout]) -> dict[str, tuple[int, int]]:
    """The render size of every placed panel, from its slot's aspect ratio."""
    return {p.panel_id: slot_render_size(p.rect.aspect) for page in pages for p in page.panels}


def project_layout(project: Project, template: str | None = None, size: str | None = None, reading: str | None = None,
                   margin_mm: float = DEFAULT_MARGIN_MM, gutter_mm: float = DEFAULT_GUTTER_MM) -> list[PageLayout]:
    """The project's pages from its page settings (size, template, reading), any of them overridden."""
    spec = page_spec(project, size, reading, margin_mm, gutter_mm)
    return layout_pages(project.panels, template or project.page.template, spec)
