"""Lettering: a panel's caption and balloons laid out over its art as vector shapes with real text.

Everything is geometry in page points (top-left origin, y down), computed once and then drawn by both the PDF
and the PNG painters of the export, so the two outputs (and the studio's page view) match. A balloon or caption
placed by hand (story.yaml `at`, `size`, `tail`; `caption_at`, `caption_size`: fractions of the panel) goes
exactly there, its text refitted to its size; the rest is placed automatically around it (storyboard.placement),
off the characters' faces and heads (storyboard.staging) and the draft art's name tags. Text wraps and shrinks
between MAX_SIZE_PT and MIN_SIZE_PT; what still cannot fit is reported as a LetteringIssue, never cut.

The pieces live in typesetting (fonts, text), balloons (shapes), staging (heads) and placement (the search);
their names are importable from here as before.
"""

from __future__ import annotations

import dataclasses
import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from storyboard.balloons import (
    BODY_REACH,
    Balloon,
    Caption,
    Head,
    LetteringIssue,
    PanelLettering,
    build_balloon,
)
from storyboard.layout import Rect
from storyboard.model import Balloon as BalloonSpec
from storyboard.model import Panel, Project
from storyboard.placement import (
    PANEL_PAD_PT,
    KeepOut,
    Option,
    balloon_options,
    caption_corners,
    fallback_option,
    fits_panel,
    place_balloons,
    shape_cost,
)
from storyboard.staging import image_to_page, panel_pose, panel_staging, speaker_heads
from storyboard.typesetting import (
    CAPTION_MAX_PT,
    CAPTION_PAD_PT,
    MIN_SIZE_PT,
    TEXT_PAD_PT,
    Font,
    LetteringError,
    TextBlock,
    fit_box,
    fit_ellipse,
    font_chain,
    pick_font,
    sizes_down,
    smallest,
    wrap,
)

# what other modules import from here (the module is lettering's front: its parts live in the modules above)
__all__ = ["LetteringError", "font_chain", "image_to_page", "letter_panel", "letter_slot", "speaker_heads"]

log = logging.getLogger(__name__)

INK = (0.0, 0.0, 0.0)
PAPER = (1.0, 1.0, 1.0)
CAPTION_FILL = (1.0, 0.97, 0.80)


def letter_slot(root: Path | str, project: Project, panel: Panel, rect: Rect, image_size: tuple[int, int],
                reading: str = "ltr") -> PanelLettering:
    """The lettering of `panel` in its page slot over art of `image_size`, as the export draws it: tails aim at
    the characters' heads and automatic lettering keeps off them and the draft art's name tags."""
    staging = panel_staging(panel, rect, image_size, panel_pose(Path(root), panel), {c.id: c.name for c in project.cast})
    return letter_panel(panel, rect, staging.heads, reading, staging.keep_out())


def letter_panel(panel: Panel, rect: Rect, heads: Mapping[str, Head], reading: str = "ltr",
                 avoid: Sequence[Rect] = ()) -> PanelLettering:
    """Caption and balloons of one panel, placed in `rect`: by hand where they say so, else near their speakers,
    never overlapping each other, off the `heads` (all characters', by cast id) and the `avoid` rectangles."""
    keep = KeepOut(tuple(heads[c] for c in panel.characters if c in heads), tuple(avoid))
    corners: list[Rect | None] = [None]
    caption: tuple[TextBlock, tuple[float, float], LetteringIssue | None] | None = None
    if panel.caption.strip():
        caption = _caption_setting(panel, rect)
        if panel.caption_at is None:
            corners = list(caption_corners(caption[1], rect, keep, reading))
    best: PanelLettering | None = None
    for corner in corners:
        attempt = _letter(panel, rect, heads, reading, keep, caption, corner)
        if best is None or len(attempt.issues) < len(best.issues):
            best = attempt
        if not best.issues:
            break
    assert best is not None
    return best


def _letter(panel: Panel, rect: Rect, heads: Mapping[str, Head], reading: str, keep: KeepOut,
            caption: tuple[TextBlock, tuple[float, float], LetteringIssue | None] | None, corner: Rect | None) -> PanelLettering:
    issues: list[LetteringIssue] = []
    taken: list[Rect] = []
    captions: list[Caption] = []
    if caption is not None:
        block, (w, h), problem = caption
        if panel.caption_at is not None:
            cx, cy = rect.x + panel.caption_at[0] * rect.w, rect.y + panel.caption_at[1] * rect.h
            box = Rect(cx - w / 2, cy - h / 2, w, h)
        else:
            assert corner is not None
            box = corner
        captions.append(Caption(box, block, by_hand=panel.caption_at is not None or panel.caption_size is not None))
        taken.append(box)
        if problem is not None:
            issues.append(problem)
    fixed: dict[int, Balloon] = {}
    automatic: list[tuple[int, BalloonSpec, list[Option]]] = []
    for number, spec in enumerate(panel.balloons, start=1):
        what = f"Panel {panel.id!r} balloon {number}"
        if spec.size is not None:
            option, problem = _sized_option(spec, rect, what)
            options = [option]
            if problem:
                issues.append(LetteringIssue(panel.id, f"balloon {number}", spec.text, problem))
        else:
            options = balloon_options(spec.text, spec.kind, spec.kind == "shout", rect, what)
        if spec.at is not None:
            fixed[number] = _hand_placed(panel, number, spec, options, rect, heads)
        else:
            automatic.append((number, spec, options))
    taken += [b.body for b in fixed.values()]
    placed, problems = place_balloons(panel.id, automatic, rect, taken, heads, panel.characters, keep, reading, fixed)
    issues += problems
    by_number = {**fixed, **{b.number: b for b in placed}}
    balloons = []
    for number, spec in enumerate(panel.balloons, start=1):
        balloons.append(dataclasses.replace(by_number[number], by_hand=spec.at is not None or spec.size is not None,
                                            tail_by_hand=spec.tail is not None))
    return PanelLettering(panel.id, tuple(captions), tuple(balloons), tuple(issues), rect)


def _hand_placed(panel: Panel, number: int, spec: BalloonSpec, options: Sequence[Option], rect: Rect,
                 heads: Mapping[str, Head]) -> Balloon:
    """A balloon whose centre was placed by hand: its size by hand too, or the best-looking setting of its text."""
    assert spec.at is not None
    area = rect.inset(PANEL_PAD_PT)
    fitting = [o for o in options if fits_panel(o, area)]
    option = min(fitting, key=lambda o: shape_cost(o, area)) if fitting and spec.size is None else (
        options[0] if spec.size is not None else fallback_option(spec, options))
    center = (rect.x + spec.at[0] * rect.w, rect.y + spec.at[1] * rect.h)
    target = heads.get(spec.speaker) if spec.speaker in panel.characters else None
    tip = None if spec.tail is None else (rect.x + spec.tail[0] * rect.w, rect.y + spec.tail[1] * rect.h)
    seed = zlib.crc32(f"{panel.id}:{number}".encode())
    return build_balloon(number, spec.kind, spec.speaker, option.text, center, option.radii, target, rect, seed, tip)


def _sized_option(spec: BalloonSpec, rect: Rect, what: str) -> tuple[Option, str | None]:
    """A balloon of the size set by hand, its text as large as fits inside (a problem when not even the smallest)."""
    assert spec.size is not None
    reach = BODY_REACH[spec.kind]
    w, h = spec.size[0] * rect.w, spec.size[1] * rect.h
    a, b = w / 2 / reach, h / 2 / reach
    font = pick_font(spec.text, bold=spec.kind == "shout", what=what)
    block = fit_ellipse(spec.text, font, a, b)
    if block is not None:
        return Option(block, (a, b), reach), None
    return Option(smallest(spec.text, font, 2 * a - 2 * TEXT_PAD_PT), (a, b), reach), (
        f"does not fit in its {w:.0f} x {h:.0f} pt balloon even at {MIN_SIZE_PT} pt; it is drawn anyway and runs past "
        "the outline. Make the balloon larger on the page view, reset it to automatic, or shorten the text.")


def _caption_setting(panel: Panel, rect: Rect) -> tuple[TextBlock, tuple[float, float], LetteringIssue | None]:
    """The caption's text block, its box size and a problem when it does not fit."""
    what = f"Panel {panel.id!r} caption"
    font = pick_font(panel.caption, what=what)
    if panel.caption_size is not None:
        w, h = panel.caption_size[0] * rect.w, panel.caption_size[1] * rect.h
        block = fit_box(panel.caption, font, w - 2 * CAPTION_PAD_PT, h - 2 * CAPTION_PAD_PT, CAPTION_MAX_PT)
        if block is not None:
            return block, (w, h), None
        return smallest(panel.caption, font, w - 2 * CAPTION_PAD_PT), (w, h), LetteringIssue(
            panel.id, "caption", panel.caption,
            f"does not fit in its {w:.0f} x {h:.0f} pt box even at {MIN_SIZE_PT} pt; it is drawn anyway and runs past "
            "the box. Make the box larger on the page view, reset it to automatic, or shorten the text.")
    block, fits = _caption_block(panel.caption, font, rect)
    size = (block.width + 2 * CAPTION_PAD_PT, block.height + 2 * CAPTION_PAD_PT)
    if fits:
        return block, size, None
    return block, size, LetteringIssue(panel.id, "caption", panel.caption,
                                       f"does not fit in {rect.w:.0f} x {rect.h:.0f} pt even at {MIN_SIZE_PT} pt; "
                                       "shorten it or give the panel a larger slot.")


def _caption_block(text: str, font: Font, panel: Rect) -> tuple[TextBlock, bool]:
    """The caption text wrapped to at most 90% of the panel width; False if it is still too tall."""
    limit_h = 0.45 * panel.h
    for size in sizes_down(CAPTION_MAX_PT):
        for share in (0.6, 0.75, 0.9):
            block = wrap(text, font, size, panel.w * share - 2 * CAPTION_PAD_PT - 2 * PANEL_PAD_PT)
            if block is not None and block.height + 2 * CAPTION_PAD_PT <= limit_h and len(block.lines) <= 3 + (share > 0.7):
                return block, True
    return smallest(text, font, panel.w - 2 * CAPTION_PAD_PT - 2 * PANEL_PAD_PT), False
