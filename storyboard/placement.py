"""Automatic placement of balloons and captions: a small beam search over spots in the panel that keeps balloons
near their speakers, high in the panel, in reading order, never overlapping each other, and off the art that
matters (faces first, then whole heads, then the draft art's name tags: KeepOut).

Geometry in page points (top-left origin, y down); storyboard.lettering puts hand-placed lettering first and
calls this for the rest.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from storyboard.balloons import BODY_REACH, Balloon, Head, LetteringIssue, Point, build_balloon, text_radii
from storyboard.layout import Rect
from storyboard.model import Balloon as BalloonSpec
from storyboard.typesetting import MAX_SIZE_PT, MIN_SIZE_PT, TextBlock, pick_font, sizes_down, text_width, wrap

PANEL_PAD_PT = 4.0  # lettering keeps this far inside the panel border
BALLOON_GAP_PT = 3.0  # between balloons, and between a balloon and a caption
MAX_BALLOON_SHARE = 0.45  # a balloon bigger than this share of its panel buries the art: reported
BEAM_WIDTH = 5  # placements kept per balloon while searching a panel's layout
# What hiding the art costs a spot, per share hidden: a face most, then the rest of a head, then a name tag.
FACE_COST, HEAD_COST, TAG_COST = 14.0, 6.0, 8.0


# ---------------------------------------------------------------- what lettering keeps off


def face_rect(head: Head) -> Rect:
    """The part of a head that is the face (eyes, nose, mouth, chin): lettering may rest on hair, never here."""
    x, y, r = head
    return Rect(x - 0.75 * r, y - 0.5 * r, 1.5 * r, 1.3 * r)


def overlap_area(a: Rect, b: Rect) -> float:
    w = min(a.right, b.right) - max(a.x, b.x)
    h = min(a.bottom, b.bottom) - max(a.y, b.y)
    return w * h if w > 0 and h > 0 else 0.0


def circle_share(box: Rect, head: Head, steps: int = 8) -> float:
    """How much of `box` lies inside the head's circle, 0 to 1: the chord inside the box's rows, summed over
    `steps` columns (exact in y, midpoint rule in x; the spot search asks this tens of thousands of times)."""
    x, y, r = head
    left, right = max(box.x, x - r), min(box.right, x + r)
    if right <= left or box.bottom <= y - r or box.y >= y + r:
        return 0.0
    width = (right - left) / steps
    covered = 0.0
    for i in range(steps):
        dx = left + width * (i + 0.5) - x
        half = math.sqrt(max(0.0, r * r - dx * dx))
        covered += max(0.0, min(box.bottom, y + half) - max(box.y, y - half))
    return covered * width / max(box.w * box.h, 1e-9)


@dataclass(frozen=True)
class KeepOut:
    """The heads (circles) and other rectangles (name tags) automatic lettering keeps off."""

    heads: tuple[Head, ...] = ()
    rects: tuple[Rect, ...] = ()

    def cost(self, box: Rect, heads: bool = True) -> float:
        """What placing `box` here hides, weighted: 0 when it hides nothing (with heads=False, hair is free)."""
        total = 0.0
        area = max(box.w * box.h, 1e-6)
        for head in self.heads:
            face = face_rect(head)
            total += FACE_COST * overlap_area(box, face) / min(area, face.w * face.h)
            share = circle_share(box, head) if heads else 0.0
            if share:  # the share of the smaller of the two: a balloon over a small head hides all of it
                total += HEAD_COST * min(1.0, share * area / min(area, math.pi * head[2] ** 2))
        for rect in self.rects:
            total += TAG_COST * overlap_area(box, rect) / max(min(area, rect.w * rect.h), 1e-6)
        return total


# ---------------------------------------------------------------- ways to set a balloon's text


@dataclass(frozen=True)
class Option:
    """One way to set a balloon: its text block and the ellipse around it."""

    text: TextBlock
    radii: tuple[float, float]
    reach: float

    @property
    def size(self) -> tuple[float, float]:
        return 2 * self.radii[0] * self.reach, 2 * self.radii[1] * self.reach


def balloon_options(text: str, kind: str, bold: bool, panel: Rect, what: str) -> list[Option]:
    """Ways to set `text`: each font size, several wrap widths; widest-looking first within a size."""
    font = pick_font(text, bold=bold, what=what)
    options = []
    for size in sizes_down(MAX_SIZE_PT):
        seen: set[tuple[str, ...]] = set()
        for share in (0.34, 0.48, 0.64, 0.82):
            block = wrap(text, font, size, panel.w * share / 1.5)
            if block is None or block.lines in seen:
                continue
            seen.add(block.lines)
            ratio = min(max(block.width / max(block.height, 1.0), 1.15), 2.3)
            options.append(Option(block, text_radii(block, ratio), BODY_REACH[kind]))
    return options


def fits_panel(option: Option, area: Rect) -> bool:
    w, h = option.size
    return w <= area.w and h <= area.h * 0.8 and w * h <= MAX_BALLOON_SHARE * area.w * area.h


def shape_cost(option: Option, area: Rect) -> float:
    """Smaller text, odd proportions and big balloons cost: compact balloons at full size hide less art."""
    w, h = option.size
    cost = (MAX_SIZE_PT - option.text.size) * 0.5 + 0.15 * abs(math.log(option.radii[0] / option.radii[1] / 1.7))
    return cost + 1.5 * w * h / (area.w * area.h)


def fallback_option(spec: BalloonSpec, options: Sequence[Option]) -> Option:
    """The smallest setting (a word too wide for the panel: the text on one line), for text that fits nowhere."""
    if options:
        return options[-1]
    font = pick_font(spec.text, bold=spec.kind == "shout")
    block = TextBlock((spec.text,), font, MIN_SIZE_PT, (text_width(spec.text, font, MIN_SIZE_PT),))
    return Option(block, text_radii(block, 2.0), BODY_REACH[spec.kind])


# ---------------------------------------------------------------- balloons


Beam = tuple[float, dict[int, Balloon], list[LetteringIssue]]


def place_balloons(panel_id: str, specs: Sequence[tuple[int, BalloonSpec, list[Option]]], rect: Rect,
                   taken: Sequence[Rect], heads: Mapping[str, Head], speakers: Sequence[str], keep: KeepOut,
                   reading: str, fixed: Mapping[int, Balloon]) -> tuple[list[Balloon], list[LetteringIssue]]:
    """Balloons (number, spec, options to set it) placed automatically around what is `taken` and the `fixed` ones.

    A small beam search: the best spot for the first balloon may crowd out the second."""
    area = rect.inset(PANEL_PAD_PT)
    all_heads = tuple(heads[c] for c in speakers if c in heads)
    beams: list[Beam] = [(0.0, {}, [])]
    for number, spec, options in specs:
        target = heads.get(spec.speaker) if spec.speaker in speakers else None
        tip = None if spec.tail is None else (rect.x + spec.tail[0] * rect.w, rect.y + spec.tail[1] * rect.h)
        aim = (tip[0], tip[1], 0.0) if tip is not None else target
        seed = zlib.crc32(f"{panel_id}:{number}".encode())
        grown: list[Beam] = []
        for total, placed, problems in beams:
            others = {**fixed, **placed}
            occupied = list(taken) + [b.body for b in placed.values()]
            previous = others.get(number - 1)
            choices = _spots(options, area, occupied, aim, keep, previous, reading)
            for score, option, center in choices:
                balloon = build_balloon(number, spec.kind, spec.speaker, option.text, center, option.radii, target, rect,
                                        seed, tip)
                tangles = _tangles(balloon, list(others.values()), all_heads)
                grown.append((total + score + 8.0 * tangles, {**placed, number: balloon}, problems))
            if not choices:
                option, center = _fallback(options, spec, area, occupied)
                balloon = build_balloon(number, spec.kind, spec.speaker, option.text, center, option.radii, target, rect,
                                        seed, tip)
                issue = LetteringIssue(panel_id, f"balloon {number}", spec.text,
                                       f"does not fit beside the other lettering in {rect.w:.0f} x {rect.h:.0f} pt even at "
                                       f"{MIN_SIZE_PT} pt; it is drawn anyway and may overlap. Shorten it, split it over "
                                       "two balloons or panels, place it by hand on the page view, or use a template "
                                       "with larger slots.")
                grown.append((total + 100.0, {**placed, number: balloon}, problems + [issue]))
        grown.sort(key=lambda state: (len(state[2]), state[0]))
        beams = grown[:BEAM_WIDTH]
    _, balloons, issues = beams[0]
    return list(balloons.values()), issues


def _spots(options: Sequence[Option], area: Rect, taken: Sequence[Rect], target: Head | None, keep: KeepOut,
           previous: Balloon | None, reading: str) -> list[tuple[float, Option, Point]]:
    """The best few (score, option, centre) for a balloon: near its speaker, high in the panel, in reading order,
    off faces, heads and name tags."""
    best: list[tuple[float, Option, Point]] = []  # sorted, at most BEAM_WIDTH, spots at least a few points apart
    direction = 1 if reading == "ltr" else -1
    tx = target[0] if target is not None else (area.x + area.w * (0.3 if reading == "ltr" else 0.7))
    for option in options:
        if not fits_panel(option, area):
            continue
        w, h = option.size
        shape = shape_cost(option, area)
        if len(best) == BEAM_WIDTH and shape >= best[-1][0]:
            continue
        xs = [area.x + w / 2 + (area.w - w) * i / 8 for i in range(9)]
        ys = [area.y + h / 2 + (area.h - h) * j / 9 for j in range(10)]
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
                score += keep.cost(Rect(cx - w / 2, top, w, h))
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


def _keep(best: list[tuple[float, Option, Point]], candidate: tuple[float, Option, Point]) -> None:
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


def _fallback(options: Sequence[Option], spec: BalloonSpec, area: Rect, taken: Sequence[Rect]) -> tuple[Option, Point]:
    """Where a balloon goes when it fits nowhere: smallest setting, below what is there; reported by the caller."""
    option = fallback_option(spec, options)
    w, h = option.size
    below = max((r.bottom for r in taken), default=area.y - BALLOON_GAP_PT) + BALLOON_GAP_PT
    cx = min(max(area.center[0], area.x + w / 2), max(area.x + w / 2, area.right - w / 2))
    cy = min(below, area.bottom - h) + h / 2 if h < area.h else area.y + h / 2
    return option, (cx, cy)


# ---------------------------------------------------------------- captions


def caption_corners(size: tuple[float, float], rect: Rect, keep: KeepOut, reading: str) -> list[Rect]:
    """Where an automatic caption box of `size` may go, best first: the reading order's first corner at the top,
    unless that hides a face or a name tag and another corner does not (a caption may rest on hair)."""
    area = rect.inset(PANEL_PAD_PT)
    w, h = size
    start_x, end_x = (area.x, area.right - w) if reading == "ltr" else (area.right - w, area.x)
    corners = [Rect(start_x, area.y, w, h), Rect(end_x, area.y, w, h),
               Rect(start_x, area.bottom - h, w, h), Rect(end_x, area.bottom - h, w, h)]
    return [corners[i] for i in sorted(range(4), key=lambda i: (round(keep.cost(corners[i], heads=False), 1), i))]
