"""Print geometry (issue 14): the boxes of a PDF page, the live area, and lettering kept clear of the cut.

- The trim is the page size. With a bleed, the MediaBox grows by the bleed and a slug for crop marks, and
  every page carries a TrimBox and a BleedBox, as preflight tools read them (without a bleed both equal the
  MediaBox).
- The live area is the trim less a safe margin (`safe_mm`, by default what printers ask for the page size:
  storyboard.pagesizes.PRINT_MARGINS_MM). Lettering outside it may be cut; lettering in the bleed will be.
  `check_live_area` reports both by panel and balloon; `page_guides` gives the studio's page view the
  rectangles to draw its on-screen guide. The guide is never drawn into an export.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storyboard.layout import DEFAULT_GUTTER_MM, DEFAULT_MARGIN_MM, PageLayout, Rect, project_layout
from storyboard.lettering import LetteringIssue, PanelLettering
from storyboard.model import PageSettings, Project
from storyboard.pagesizes import PT_PER_MM, PageSize, parse_page_size, print_margins_mm

CROP_MARK_PT = 18.0  # length of a crop mark; marks sit in a slug this wide outside the bleed
CROP_MARK_OFFSET_PT = 3.0


@dataclass(frozen=True)
class PageBoxes:
    """A PDF page's size and boxes, in points; boxes are (x0, y0, x1, y1) from the media's bottom-left corner."""

    media: tuple[float, float]
    trim: tuple[float, float, float, float]
    bleed: tuple[float, float, float, float]

    @property
    def offset(self) -> float:
        """How far the trim sits inside the media: the bleed plus the slug for crop marks."""
        return self.trim[0]


def page_boxes(trim_w: float, trim_h: float, bleed_pt: float) -> PageBoxes:
    """The boxes of a page of this trim; a bleed adds itself and a slug with room for crop marks around it."""
    slug = bleed_pt + CROP_MARK_OFFSET_PT + CROP_MARK_PT if bleed_pt > 0 else 0.0
    width, height = trim_w + 2 * slug, trim_h + 2 * slug
    edge = slug - bleed_pt
    return PageBoxes((width, height), (slug, slug, width - slug, height - slug), (edge, edge, width - edge, height - edge))


def safe_margin_pt(size: PageSize, safe_mm: float | None = None) -> float:
    """The live area's margin inside the trim in points: `safe_mm`, or what printers ask for the size."""
    return (print_margins_mm(size)[1] if safe_mm is None else safe_mm) * PT_PER_MM


def live_area(size: PageSize, safe_mm: float | None = None) -> Rect:
    """The live area of a page of `size` in page points (top-left origin of the trim)."""
    return Rect(0.0, 0.0, size.width_pt, size.height_pt).inset(safe_margin_pt(size, safe_mm))


@dataclass(frozen=True)
class PageGuides:
    """A page's print guides in page points (origin at the trim's top-left corner, y down, as the layout)."""

    number: int
    trim: Rect
    bleed: Rect  # reaches outside the trim: negative x and y
    live: Rect  # keep lettering and faces inside


def page_guides(project: Project, page: PageSettings | None = None, bleed_mm: float | None = None,
                safe_mm: float | None = None, margin_mm: float = DEFAULT_MARGIN_MM,
                gutter_mm: float = DEFAULT_GUTTER_MM) -> list[PageGuides]:
    """Trim, bleed and live area of each comic page of the project, for a guide drawn on screen only.

    `page` overrides the project's page settings; `bleed_mm` and `safe_mm` default to what printers ask for
    the page size (storyboard.pagesizes.PRINT_MARGINS_MM)."""
    settings = page or project.page
    size = parse_page_size(settings.size)
    bleed_pt = (print_margins_mm(size)[0] if bleed_mm is None else bleed_mm) * PT_PER_MM
    layouts = project_layout(project, settings.template, settings.size, settings.reading, margin_mm, gutter_mm)
    trim = Rect(0.0, 0.0, size.width_pt, size.height_pt)
    live = live_area(size, safe_mm)
    return [PageGuides(layout.number, trim, trim.inset(-bleed_pt), live) for layout in layouts]


def check_live_area(pages: Sequence[PageLayout], lettering: Mapping[str, PanelLettering], safe_pt: float,
                    safe_mm: float) -> list[LetteringIssue]:
    """Captions and balloon bodies that reach into the bleed or out of the live area, by panel and balloon.

    `safe_pt` is the live area's margin inside the trim; `safe_mm` the same for messages."""
    issues: list[LetteringIssue] = []
    for page in pages:
        trim = Rect(0.0, 0.0, page.width_pt, page.height_pt)
        live = trim.inset(safe_pt)
        for placed in page.panels:
            letters = lettering[placed.panel_id]
            pieces = [("caption", c.text, c.rect) for c in letters.captions]
            # a balloon's body: its tail (or thought bubbles) points at the speaker and may reach further
            pieces += [(f"balloon {b.number}", b.text, b.body) for b in letters.balloons]
            for what, block, box in pieces:
                text = " ".join(block.lines)
                if not trim.contains(box):
                    past = max(trim.x - box.x, trim.y - box.y, box.right - trim.right, box.bottom - trim.bottom)
                    issues.append(LetteringIssue(placed.panel_id, what, text,
                                                 f"reaches {past / PT_PER_MM:.1f} mm into the bleed on page {page.number}, "
                                                 "past the trim: the cut will take it off. Give the page a margin of at "
                                                 f"least {safe_mm:g} mm (--margin-mm) or move it into the panel."))
                elif not live.contains(box):
                    gap = min(box.x - trim.x, box.y - trim.y, trim.right - box.right, trim.bottom - box.bottom)
                    issues.append(LetteringIssue(placed.panel_id, what, text,
                                                 f"comes {max(gap, 0.0) / PT_PER_MM:.1f} mm from the trim on page "
                                                 f"{page.number}, outside the live area ({safe_mm:g} mm inside the trim), so "
                                                 f"the cut may clip it. Give the page a margin of at least {safe_mm:g} mm "
                                                 "(--margin-mm) or move it further into the panel."))
    return issues
