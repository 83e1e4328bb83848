"""Paper sizes by name (`a4`, `letter`, `comic`, `b5`, `a5`, `b6`, `tankobon`) or as `WxHmm`, in PDF points (1/72 inch)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from storyboard.errors import StoryboardError

PT_PER_MM = 72 / 25.4
PT_PER_INCH = 72.0

# name: (width_pt, height_pt, help). Named sizes are whole points, as print shops and PDF tools quote them.
PAGE_SIZES: dict[str, tuple[float, float, str]] = {
    "a4": (595.0, 842.0, "ISO A4, 210 x 297 mm"),
    "letter": (612.0, 792.0, "US Letter, 8.5 x 11 in"),
    "comic": (477.0, 738.0, "US comic book trim, 6.625 x 10.25 in"),
    "b5": (499.0, 709.0, "ISO B5, 176 x 250 mm (the size of manga magazines)"),
    "a5": (420.0, 595.0, "ISO A5, 148 x 210 mm"),
    "b6": (354.0, 499.0, "ISO B6, 125 x 176 mm"),
    "tankobon": (363.0, 516.0, "manga tankobon, JIS B6, 128 x 182 mm"),
}
# What printers ask of each size (issue 14): the bleed beyond the trim for art that runs off the page, and the
# safe margin inside the trim that keeps lettering clear of the cut (the live area is the trim less this).
# US sizes: 1/8 in bleed and 1/4 in safe margin (the US comic's live area is then 6.125 x 9.75 in); ISO and
# JIS sizes (manga among them): 3 mm and 5 mm. A WxHmm size gets the ISO figures.
PRINT_MARGINS_MM: dict[str, tuple[float, float]] = {
    "letter": (3.175, 6.35),
    "comic": (3.175, 6.35),
}
ISO_PRINT_MARGINS_MM = (3.0, 5.0)
CUSTOM_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*x\s*(\d+(?:\.\d+)?)\s*mm\s*$", re.IGNORECASE)
MIN_SIDE_MM, MAX_SIDE_MM = 50.0, 1200.0


class PageSizeError(StoryboardError):
    """A page size that is not a known name nor a valid WxHmm."""


@dataclass(frozen=True)
class PageSize:
    """A trim size in points, portrait or landscape as given."""

    name: str
    width_pt: float
    height_pt: float


def parse_page_size(text: str) -> PageSize:
    """`a4`, `letter`, `comic`, `b5`, `a5`, `b6`, `tankobon` or e.g. `210x297mm`; PageSizeError says what is accepted."""
    key = str(text).strip().lower()
    if key in PAGE_SIZES:
        width, height, _ = PAGE_SIZES[key]
        return PageSize(key, width, height)
    match = CUSTOM_SIZE.match(key)
    if not match:
        raise PageSizeError(
            f"Unknown page size {text!r}; use one of {', '.join(PAGE_SIZES)} or a size in millimetres like 210x297mm."
        )
    width_mm, height_mm = float(match.group(1)), float(match.group(2))
    for side in (width_mm, height_mm):
        if not MIN_SIDE_MM <= side <= MAX_SIDE_MM:
            raise PageSizeError(
                f"Page size {text!r}: each side must be between {MIN_SIDE_MM:g} and {MAX_SIDE_MM:g} mm, got {side:g} mm."
            )
    return PageSize(f"{width_mm:g}x{height_mm:g}mm", width_mm * PT_PER_MM, height_mm * PT_PER_MM)


def print_margins_mm(size: PageSize) -> tuple[float, float]:
    """(bleed, safe margin) in mm that printers ask for `size`; see PRINT_MARGINS_MM."""
    return PRINT_MARGINS_MM.get(size.name, ISO_PRINT_MARGINS_MM)
