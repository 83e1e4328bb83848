"""Lettering shapes: caption boxes and balloon outlines (speech, thought, shout, whisper) with their tails or
thought bubbles, in page points (top-left origin, y down), and what a panel's lettering holds.

Drawn by both painters of storyboard.export from the same points, so the PDF and the PNG pages match.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

from storyboard.layout import Rect
from storyboard.typesetting import CAPTION_PAD_PT, TEXT_PAD_PT, TextBlock, ascent_descent

Point = tuple[float, float]
Head = tuple[float, float, float]  # centre x, y and radius of a speaker's head, in page points

@dataclass(frozen=True)
class Caption:
    """A caption box with left-aligned text."""

    rect: Rect
    text: TextBlock
    by_hand: bool = False  # placed or sized by hand (Panel.caption_at / caption_size)

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
    by_hand: bool = False  # placed or sized by hand (Balloon.at / size)
    tail_by_hand: bool = False  # its tail's tip placed by hand (Balloon.tail)

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
    rect: Rect | None = None  # the panel's rectangle the lettering was placed in


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
                  head: Head | None, panel: Rect, seed: int, tip: Point | None = None) -> Balloon:
    """The balloon's outline with a tail (or thought bubbles) towards the speaker's head, or out of the panel.

    `tip` (placed by hand) is where the tail ends, exactly, even a little outside the panel."""
    cx, cy = center
    target: Point | None = None if head is None else (head[0], head[1])
    stop = 0.0 if head is None else head[2] * 1.15
    if tip is not None:
        target, stop = tip, 0.0
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
        tip = tip or _tip_toward(start, target, panel, stop)
        bubbles = []
        for t, r in ((0.28, 0.16), (0.62, 0.11), (0.92, 0.07)):
            radius = max(1.6, r * min(b, 40.0))
            bubbles.append((start[0] + (tip[0] - start[0]) * t, start[1] + (tip[1] - start[1]) * t, radius))
        return Balloon(number, kind, speaker, body, center, outline, tip, tuple(bubbles), text, target)
    half = (0.16 if kind == "shout" else 0.2) * min(1.0, 1.6 * b / a) + 0.06
    gap = (phi - half, phi + half)
    tip = tip or _tip_toward(edge, target, panel, stop)
    base_left = _ellipse_point(cx, cy, a, b, gap[0])
    base_right = _ellipse_point(cx, cy, a, b, gap[1])
    outline = _outline(kind, cx, cy, a, b, seed, gap)
    outline += _tail(base_left, base_right, tip, curved=kind != "shout")
    return Balloon(number, kind, speaker, body, center, tuple(outline), tip, (), text, target)


def text_radii(block: TextBlock, ratio: float) -> tuple[float, float]:
    """The smallest ellipse radii (a, b) with a/b = ratio that hold every line of `block` with padding."""
    top = -block.height / 2
    ascent, descent = ascent_descent(block.font.name)
    b_needed = 0.0
    for i, width in enumerate(block.widths):
        y0 = top + i * block.leading
        y1 = y0 + (ascent + descent) * block.size
        half_w = width / 2 + TEXT_PAD_PT
        for y in (y0 - TEXT_PAD_PT * 0.6, y1 + TEXT_PAD_PT * 0.6):
            b_needed = max(b_needed, math.sqrt((half_w / ratio) ** 2 + y * y))
    b = max(b_needed, block.size * 1.1)
    return b * ratio, b

