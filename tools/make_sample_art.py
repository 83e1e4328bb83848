#!/usr/bin/env python3
"""Draw the cast reference art of the "Rainy Monday" sample project.

Mia and Leo are original characters made for this project (no real people). Each is drawn as a
cel-shaded, front-facing character-sheet reference on a plain light background, together with a
mask derived from the drawing itself: every character is painted on its own transparent layer and
the mask is that layer's alpha, thresholded. Drawing happens at SUPERSAMPLE times the final size
and is reduced with LANCZOS, which gives the outlines their anti-aliasing.

Only Pillow and numpy; no randomness, no network: the same inputs give the same PNGs.

    python tools/make_sample_art.py            # writes into assets/samples/rainy-monday/
    python tools/make_sample_art.py --out DIR  # somewhere else
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 768, 1024
SUPERSAMPLE = 3
INK = "#2b2127"
BACKGROUND = "#f4f0e8"
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "assets" / "samples" / "rainy-monday"


# ---------------------------------------------------------------- geometry helpers


def rgb(color: str) -> np.ndarray:
    color = color.lstrip("#")
    return np.array([int(color[i : i + 2], 16) for i in (0, 2, 4)], np.float32) / 255.0


def spline(points, closed: bool = True, steps: int = 12) -> list[tuple[float, float]]:
    """A Catmull-Rom curve through `points` (repeat a point to get a corner)."""
    p = [tuple(map(float, q)) for q in points]
    n = len(p)
    out: list[tuple[float, float]] = []
    for i in range(n if closed else n - 1):
        p0 = p[(i - 1) % n] if closed else p[max(i - 1, 0)]
        p1, p2 = p[i], p[(i + 1) % n]
        p3 = p[(i + 2) % n] if closed else p[min(i + 2, n - 1)]
        if p1 == p2:
            continue
        if p0 == p1:  # a corner: leave it straight, do not overshoot
            p0 = (2 * p1[0] - p2[0], 2 * p1[1] - p2[1])
        if p3 == p2:
            p3 = (2 * p2[0] - p1[0], 2 * p2[1] - p1[1])
        for k in range(steps):
            t = k / steps
            t2, t3 = t * t, t * t * t
            out.append(
                tuple(
                    0.5
                    * (
                        2 * p1[j]
                        + (p2[j] - p0[j]) * t
                        + (2 * p0[j] - 5 * p1[j] + 4 * p2[j] - p3[j]) * t2
                        + (3 * p1[j] - p0[j] - 3 * p2[j] + p3[j]) * t3
                    )
                    for j in (0, 1)
                )
            )
    if not closed:
        out.append(p[-1])
    return out


def mirror(points, cx: float = W / 2):
    return [(2 * cx - x, y) for x, y in points]


def arc(cx, cy, rx, ry, a0, a1, n: int = 24):
    """Points on an ellipse from angle a0 to a1 (degrees, screen coordinates: 90 points down)."""
    return [
        (cx + rx * math.cos(math.radians(a0 + (a1 - a0) * i / n)), cy + ry * math.sin(math.radians(a0 + (a1 - a0) * i / n)))
        for i in range(n + 1)
    ]


class Ell:
    def __init__(self, cx, cy, rx, ry=None):
        self.cx, self.cy, self.rx, self.ry = cx, cy, rx, rx if ry is None else ry

    def draw(self, d: ImageDraw.ImageDraw, k: int, grow: float = 0) -> None:
        rx, ry = self.rx + grow, self.ry + grow
        d.ellipse([(self.cx - rx) * k, (self.cy - ry) * k, (self.cx + rx) * k, (self.cy + ry) * k], fill=255)


class Poly:
    def __init__(self, points, smooth: bool = True):
        self.points = spline(points) if smooth else [tuple(map(float, q)) for q in points]

    def draw(self, d: ImageDraw.ImageDraw, k: int, grow: float = 0) -> None:
        pts = [(x * k, y * k) for x, y in self.points]
        d.polygon(pts, fill=255)
        if grow > 0:
            w = max(1, round(2 * grow * k))
            d.line(pts + [pts[0]], fill=255, width=w, joint="curve")
            for x, y in pts:
                d.ellipse([x - grow * k, y - grow * k, x + grow * k, y + grow * k], fill=255)


class Stroke:
    """A thick open line with round caps and joints."""

    def __init__(self, points, width: float, smooth: bool = True, taper: bool = False):
        self.points = spline(points, closed=False) if smooth and len(points) > 2 else [tuple(map(float, q)) for q in points]
        self.width, self.taper = width, taper

    def draw(self, d: ImageDraw.ImageDraw, k: int, grow: float = 0) -> None:
        pts = [(x * k, y * k) for x, y in self.points]
        n = len(pts)
        if not self.taper:
            w = (self.width + 2 * grow) * k
            d.line(pts, fill=255, width=max(1, round(w)), joint="curve")
            for x, y in (pts[0], pts[-1]):
                d.ellipse([x - w / 2, y - w / 2, x + w / 2, y + w / 2], fill=255)
            return
        for i in range(n - 1):  # thin at both ends, full width in the middle
            t = (i + 0.5) / (n - 1)
            w = ((self.width * math.sin(math.pi * t) ** 0.6) + 2 * grow) * k
            (x0, y0), (x1, y1) = pts[i], pts[i + 1]
            d.line([(x0, y0), (x1, y1)], fill=255, width=max(1, round(w)))
            d.ellipse([x1 - w / 2, y1 - w / 2, x1 + w / 2, y1 + w / 2], fill=255)


class RRect:
    def __init__(self, x0, y0, x1, y1, r):
        self.box, self.r = (x0, y0, x1, y1), r

    def draw(self, d: ImageDraw.ImageDraw, k: int, grow: float = 0) -> None:
        x0, y0, x1, y1 = self.box
        d.rounded_rectangle(
            [(x0 - grow) * k, (y0 - grow) * k, (x1 + grow) * k, (y1 + grow) * k], radius=(self.r + grow) * k, fill=255
        )


def head_outline(cx, cy, rx, ry, jaw: float, chin: float = 0.0, n: int = 90):
    """An egg-shaped head: the lower half narrows towards the chin by `jaw`."""
    pts = []
    for i in range(n):
        t = 2 * math.pi * i / n
        s = math.sin(t)
        narrow = 1 - jaw * max(0.0, s) ** 2.2
        y = cy + ry * s * (1 - chin * max(0.0, s) ** 6)
        pts.append((cx + rx * math.cos(t) * narrow, y))
    return pts


# ---------------------------------------------------------------- painting


class Layer:
    """A transparent supersampled layer that parts are painted onto, back to front."""

    def __init__(self, k: int = SUPERSAMPLE):
        self.k = k
        self.rgb = np.zeros((H * k, W * k, 3), np.float32)
        self.alpha = np.zeros((H * k, W * k), np.float32)

    def mask(self, shapes, grow: float = 0) -> np.ndarray:
        im = Image.new("L", (W * self.k, H * self.k), 0)
        d = ImageDraw.Draw(im)
        for shape in shapes if isinstance(shapes, (list, tuple)) else [shapes]:
            shape.draw(d, self.k, grow)
        return np.asarray(im) > 127

    def fill(self, m: np.ndarray, color: str, opacity: float = 1.0) -> None:
        c = rgb(color)
        if m.dtype == bool:
            if opacity >= 1:
                self.rgb[m] = c
                self.alpha[m] = 1.0
            else:
                self.rgb[m] = self.rgb[m] * (1 - opacity) + c * opacity
                self.alpha[m] = self.alpha[m] + (1 - self.alpha[m]) * opacity
        else:  # a soft mask 0..1, only used over opaque paint
            a = (m * opacity)[..., None]
            self.rgb[:] = self.rgb * (1 - a) + c * a

    def shift(self, m: np.ndarray, dx: float, dy: float) -> np.ndarray:
        """out[y, x] = m[y + dy, x + dx] (zero outside)."""
        dx, dy = round(dx * self.k), round(dy * self.k)
        out = np.zeros_like(m)
        h, w = m.shape
        out[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)] = m[
            max(0, dy) : h - max(0, -dy), max(0, dx) : w - max(0, -dx)
        ]
        return out

    def part(self, shapes, color, shade=None, light=(9, 7), line=INK, lw: float = 3.2, clip=None, cast=None,
             line_clip=None):
        """Paint a filled shape with an outline and a cel shadow on the side away from the light.

        cast=(onto_mask, color, (dx, dy)) first paints the shadow this part throws onto another part.
        """
        m = self.mask(shapes)
        if clip is not None:
            m &= clip
        if cast is not None:
            onto, cast_color, (dx, dy) = cast
            self.fill(self.shift(m, -dx, -dy) & onto & ~m, cast_color)
        if lw and clip is None:
            ring = self.mask(shapes, grow=lw) & ~m
            if line_clip is not None:
                ring &= line_clip
            self.fill(ring, line)
        self.fill(m, color)
        if shade:
            self.fill(m & ~self.shift(m, light[0], light[1]), shade)
        return m

    def line(self, points, width, color=INK, smooth=True, taper=False, clip=None):
        m = self.mask(Stroke(points, width, smooth=smooth, taper=taper))
        if clip is not None:
            m &= clip
        self.fill(m, color)
        return m

    def soft(self, shapes, color, blur: float, opacity: float, clip=None):
        im = Image.fromarray((self.mask(shapes) * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(blur * self.k))
        m = np.asarray(im, np.float32) / 255.0
        if clip is not None:
            m = m * clip
        self.fill(m, color, opacity)

    def image(self) -> Image.Image:
        """The layer at final size, RGBA."""
        a = self.alpha[..., None]
        premul = np.concatenate([self.rgb * a, a], axis=2)
        big = Image.fromarray(np.clip(premul * 255 + 0.5, 0, 255).astype(np.uint8), "RGBA")
        small = np.asarray(big.resize((W, H), Image.LANCZOS), np.float32) / 255.0
        alpha = small[..., 3:4]
        color = np.where(alpha > 1e-4, small[..., :3] / np.maximum(alpha, 1e-4), 0)
        out = np.concatenate([np.clip(color, 0, 1), alpha], axis=2)
        return Image.fromarray((out * 255 + 0.5).astype(np.uint8), "RGBA")


# ---------------------------------------------------------------- shared face parts


def draw_eye(L: Layer, x, y, side: int, iris: str, rx=23, ry=27, lashes=False, lid=INK):
    """side: -1 for the eye on the image's left, +1 on the right."""
    white = L.part(Ell(x, y, rx, ry), "#ffffff", line=INK, lw=0)
    L.fill(white & ~L.shift(white, 0, 5), "#dfe3ea")  # lower rim shade
    L.fill(white & L.shift(white, 0, -9) & ~L.shift(white, 0, -1), "#d6d9e2")  # upper lid shadow
    ir = L.part(Ell(x, y + 3, rx * 0.72, ry * 0.66), iris, line=INK, lw=1.6, clip=white)
    L.fill(ir & L.mask(Ell(x, y + 3, rx * 0.72, ry * 0.66), grow=0) & ~L.shift(ir, 0, -6), "#000000", 0.25)
    L.part(Ell(x, y + 4, rx * 0.36, ry * 0.34), "#1c1418", lw=0, clip=white)
    L.part(Ell(x - 6, y - 5, 6.5, 7), "#ffffff", lw=0, clip=white)
    L.part(Ell(x + 6, y + 11, 3, 3), "#ffffff", lw=0, clip=white)
    # upper lid line, heavier towards the outer corner
    top = arc(x, y + 2, rx + 2, ry + 1, 196, 344, 20)
    L.line(top, 4.6, lid)
    L.line(arc(x, y - 1, rx + 1, ry + 2, 60, 120, 10), 1.8, "#b98f7a")  # soft lower lid
    if lashes:
        ox = x + side * (rx + 1)
        L.line([(ox - side * 3, y - 10), (ox + side * 7, y - 16), (ox + side * 12, y - 18)], 3.2, lid, taper=True)
        L.line([(ox - side * 8, y - 19), (ox + side * 1, y - 27), (ox + side * 5, y - 30)], 2.8, lid, taper=True)


# ---------------------------------------------------------------- Mia


def draw_mia() -> Layer:
    L = Layer()
    cx = W / 2
    skin, skin_sh = "#f7cfb0", "#e5a888"
    hair, hair_sh, hair_hi = "#d9532c", "#a93a1e", "#f28552"
    coat, coat_sh, coat_dk = "#4ea35f", "#367a45", "#2b623a"
    trousers, trousers_sh = "#33384d", "#232737"
    boot, boot_sh = "#7a4a2e", "#5a3420"

    # hood folded down behind the shoulders
    L.part(Poly([(292, 378), (320, 352), (384, 344), (448, 352), (476, 378), (384, 392)]), coat_sh, line=INK)
    # hair, back part (a short bob, tucked behind the ears)
    hair_back = L.part(
        Poly([(384, 92), (452, 102), (498, 140), (514, 200), (514, 262), (500, 312), (474, 318), (384, 300),
              (294, 318), (268, 312), (254, 262), (254, 200), (270, 140), (316, 102)]),
        hair, hair_sh, light=(-10, 8),
    )
    L.fill(hair_back & L.shift(hair_back, 0, -18) & ~L.shift(hair_back, 0, -40), hair_sh)
    # neck
    neck = L.part(Poly([(356, 300), (412, 300), (414, 372), (354, 372)], smooth=False), skin, skin_sh, light=(10, 0))

    # legs and boots
    for side in (-1, 1):
        leg = [(322, 690), (382, 690), (379, 902), (334, 902)]
        leg = leg if side < 0 else mirror(leg)
        m = L.part(Poly(leg, smooth=False), trousers, trousers_sh, light=(9, 0))
        crease = [(352, 760), (356, 840), (357, 895)]
        L.line(crease if side < 0 else mirror(crease), 2.0, "#4b5169", clip=m)
    for side in (-1, 1):
        bx = cx + side * 29
        L.part(Ell(bx + side * 4, 986, 45, 17), "#3b2a22", line=INK)
        shaft = L.part(RRect(bx - 31, 864, bx + 31, 976, 12), boot, boot_sh, light=(side * 9, 0))
        toe = L.part(Ell(bx + side * 4, 970, 40, 21), boot, boot_sh, light=(side * 6, 6))
        L.part(RRect(bx - 33, 860, bx + 33, 884, 8), "#9a6240", boot_sh, light=(0, 6))  # cuff
        L.part(Ell(bx - side * 8 + 4, 962, 11, 5), "#a8704c", lw=0, clip=toe)  # shine
        L.line([(bx - 8, 902), (bx - 8, 948)], 3, "#a8704c", clip=shaft)

    # coat body
    body_pts = [(352, 354), (304, 368), (282, 392), (280, 452), (272, 590), (252, 724), (252, 724), (318, 734),
                (384, 738), (450, 734), (516, 724), (516, 724), (496, 590), (488, 452), (486, 392), (464, 368),
                (416, 354), (384, 372)]
    body = L.part(Poly(body_pts), coat, coat_sh, light=(14, 6))
    # belt, placket, buttons, pockets
    belt = L.mask(Poly([(262, 512), (506, 512), (506, 540), (262, 540)], smooth=False)) & body
    L.fill(belt, coat_sh)
    L.line([(262, 512), (506, 512)], 2.2, INK, clip=body)
    L.line([(262, 540), (506, 540)], 2.2, INK, clip=body)
    L.part(RRect(364, 508, 404, 544, 6), "#e9c46a", "#c9a04a", light=(4, 4), lw=2.4)
    L.part(RRect(374, 516, 394, 536, 3), coat_sh, lw=1.8)
    L.line([(392, 376), (394, 508)], 2.4, INK, smooth=False)
    L.line([(394, 544), (398, 736)], 2.4, INK, smooth=False)
    for by in (420, 470, 590, 660):
        L.part(Ell(410, by, 7.5, 7.5), "#f1d36b", "#c7a34a", light=(3, 3), lw=2.2)
    for side in (-1, 1):
        flap = [(300, 596), (356, 596), (354, 618), (302, 618)]
        flap = flap if side < 0 else mirror(flap)
        L.part(Poly(flap, smooth=False), coat, coat_sh, light=(0, 5), lw=2.2)
    L.line([(300, 704), (330, 716)], 2.0, coat_dk, clip=body)
    L.line([(468, 716), (500, 700)], 2.0, coat_dk, clip=body)

    # hands (under the sleeves)
    for side in (-1, 1):
        hx = cx + side * 126
        L.part(Ell(hx, 702, 21, 27), skin, skin_sh, light=(side * 7, 6))
        L.part(Ell(hx - side * 17, 692, 8.5, 15), skin, skin_sh, light=(side * 4, 4))
        for f in (-6, 3):
            L.line([(hx + side * f, 714), (hx + side * f, 726)], 1.6, "#b07a60")
    # sleeves
    for side in (-1, 1):
        sleeve = [(306, 366), (276, 388), (258, 450), (246, 560), (234, 668), (234, 668), (286, 678), (286, 678),
                  (292, 580), (302, 480), (318, 420)]
        sleeve = sleeve if side < 0 else mirror(sleeve)
        m = L.part(Poly(sleeve), coat, coat_sh, light=(side * 10, 0))
        band = [(220, 642), (310, 652), (310, 700), (220, 700)]
        cuff = L.mask(Poly(band if side < 0 else mirror(band), smooth=False)) & m
        L.fill(cuff, coat_sh)
        L.line([(220, 642), (310, 652)] if side < 0 else mirror([(220, 642), (310, 652)]), 2.2, INK, clip=m)
        fold = [(278, 470), (284, 500), (280, 530)]
        L.line(fold if side < 0 else mirror(fold), 2.0, coat_dk, clip=m)

    # collar
    for side in (-1, 1):
        flap = [(354, 350), (388, 380), (372, 430), (366, 430), (328, 382)]
        flap = flap if side < 0 else mirror(flap)
        L.part(Poly(flap), coat, coat_sh, light=(side * 4, 6), lw=2.8)

    # ears, head, face
    for side in (-1, 1):
        ex = cx + side * 101
        L.part(Ell(ex, 250, 17, 26), skin, skin_sh, light=(side * 6, 4))
        L.line(arc(ex, 252, 8, 14, 250 if side < 0 else -70, 110 if side < 0 else 70, 10), 2.2, "#c98a6a")
    head = L.part(Poly(head_outline(cx, 226, 104, 122, jaw=0.26, chin=0.1), smooth=False), skin)
    L.fill(head & ~L.shift(head, 10, 4), skin_sh)  # cel shade on the far cheek
    L.fill(neck & L.shift(head, 0, -14) & ~head, "#cf8f70")  # chin shadow on the neck
    L.soft([Ell(cx - 66, 298, 21, 12), Ell(cx + 66, 298, 21, 12)], "#f08a8a", 4, 0.55, clip=head)
    for fx, fy in ((cx - 74, 286), (cx - 62, 292), (cx - 80, 296), (cx + 74, 286), (cx + 62, 292), (cx + 80, 296)):
        L.part(Ell(fx, fy, 2.2, 2.2), "#c77c5a", lw=0)

    for side in (-1, 1):
        draw_eye(L, cx + side * 44, 248, side, "#3b8b5c", lashes=True)
        brow = [(cx + side * 22, 206), (cx + side * 42, 196), (cx + side * 66, 200)]
        L.line(brow, 6.5, "#9c3a20", taper=True)
    # nose
    L.line([(cx + 2, 270), (cx - 3, 292), (cx + 8, 296)], 3.0, "#b9795c")
    # mouth: open smile
    mouth = L.part(Poly([(cx - 28, 316), (cx, 320), (cx + 28, 316), (cx + 16, 334), (cx, 338), (cx - 16, 334)]),
                   "#8e2f35", line=INK, lw=2.6)
    L.part(Ell(cx, 340, 16, 10), "#e0707a", lw=0, clip=mouth)
    L.part(Poly([(cx - 24, 316), (cx + 24, 316), (cx + 20, 322), (cx - 20, 322)]), "#ffffff", lw=0, clip=mouth)
    for side in (-1, 1):
        L.line([(cx + side * 26, 314), (cx + side * 32, 310)], 2.4, INK)

    # hair, front part (side-swept fringe), throwing a shadow onto the forehead
    front = [(272, 228), (262, 178), (276, 132), (318, 100), (384, 86), (452, 96), (494, 128), (510, 180),
             (502, 232), (490, 200), (480, 168), (458, 150), (440, 176), (414, 152), (392, 168), (372, 150),
             (340, 170), (318, 160), (298, 184), (286, 230)]
    fringe = L.part(Poly(front), hair, hair_sh, light=(-8, 9), cast=(head, skin_sh, (4, 9)))
    for strand in ([(330, 112), (372, 104), (420, 112)], [(300, 140), (322, 122)], [(450, 118), (482, 150)],
                   [(420, 132), (436, 160)]):
        L.line(strand, 4.5, hair_hi, taper=True, clip=fringe)
    for strand in ([(360, 128), (350, 156)], [(404, 126), (400, 150)], [(286, 176), (284, 210)],
                   [(492, 180), (496, 214)]):
        L.line(strand, 2.4, hair_sh, taper=True, clip=fringe)
    return L


# ---------------------------------------------------------------- Leo


def draw_leo() -> Layer:
    L = Layer()
    cx = W / 2
    skin, skin_sh, skin_dk = "#9a6240", "#7a4a2e", "#5e3720"
    hair, hair_sh, hair_hi = "#2a1c18", "#1a110e", "#4f3a30"
    sweater, sweater_sh, sweater_dk = "#e0a526", "#b9821a", "#9a6a12"
    jeans, jeans_sh, jeans_hi = "#3f61a0", "#2d4878", "#7d9ad0"
    shoe, shoe_sh = "#f6f4ef", "#d5d1c8"

    # hair back mass (curly), behind the head
    curls = [Ell(384, 170, 118, 100)]
    for i in range(15):
        a = math.radians(170 + 200 * i / 14)
        curls.append(Ell(384 + 122 * math.cos(a), 182 + 112 * math.sin(a), 30, 30))
    hair_back = L.part(curls, hair, hair_sh, light=(-9, 8))
    # neck
    neck = L.part(Poly([(350, 296), (418, 296), (420, 376), (348, 376)], smooth=False), skin, skin_sh, light=(12, 0))

    # legs: jeans and sneakers
    for side in (-1, 1):
        leg = [(290, 676), (382, 676), (378, 930), (318, 930)]
        leg = leg if side < 0 else mirror(leg)
        m = L.part(Poly(leg, smooth=False), jeans, jeans_sh, light=(side * 11, 0))
        seam = [(300, 700), (314, 820), (322, 900)]
        L.line(seam if side < 0 else mirror(seam), 2.0, jeans_hi, clip=m)
        L.line([(350, 800), (354, 820)] if side < 0 else mirror([(350, 800), (354, 820)]), 1.8, jeans_sh, clip=m)
        roll = [(314, 896), (384, 896), (384, 930), (314, 930)]
        L.part(Poly(roll if side < 0 else mirror(roll), smooth=False), "#5b7dbb", jeans_sh, light=(0, 7), lw=2.6,
               clip=None)
    for side in (-1, 1):
        sx = cx + side * 38
        L.part(RRect(sx - 50 + side * 4, 968, sx + 50 + side * 4, 1006, 16), "#9aa0a8", line=INK)
        upper = L.part(Poly([(sx - 36, 930), (sx + 36, 930), (sx + 46 + side * 4, 976), (sx - 46 + side * 4, 976)]),
                       shoe, shoe_sh, light=(side * 8, 6))
        L.part(Ell(sx + side * 4, 978, 38, 14), "#e7e3dc", shoe_sh, light=(0, 5), lw=2.4)  # toe cap
        L.part(RRect(sx - 48 + side * 4, 984, sx + 48 + side * 4, 998, 6), "#ffffff", lw=2.2)  # sole stripe
        L.line([(sx - 40 + side * 4, 962), (sx + side * 10, 950), (sx + 42 + side * 4, 958)], 5, "#2e86ab", clip=upper)
        for ly in (938, 948):
            L.line([(sx - 12, ly), (sx + 12, ly)], 2.2, "#8a8a8a", smooth=False, clip=upper)

    # sweater
    body_pts = [(346, 356), (290, 368), (256, 392), (246, 452), (254, 560), (252, 694), (252, 694), (384, 702),
                (516, 694), (516, 694), (514, 560), (522, 452), (512, 392), (478, 368), (422, 356), (384, 366)]
    body = L.part(Poly(body_pts), sweater, sweater_sh, light=(15, 6))
    hem = L.mask(Poly([(240, 660), (528, 660), (528, 720), (240, 720)], smooth=False)) & body
    L.fill(hem, sweater_sh)
    L.line([(252, 660), (516, 660)], 2.2, INK, smooth=False, clip=body)
    for x in range(262, 512, 12):
        L.line([(x, 664), (x, 696)], 1.6, sweater_dk, smooth=False, clip=hem)
    for x0 in (316, 452):  # cable knit
        pts = [(x0 + 7 * math.sin(i * 0.9), 420 + i * 14) for i in range(17)]
        L.line(pts, 2.2, sweater_sh, clip=body)
        L.line([(x0 - 14, 420), (x0 - 14, 650)], 1.6, sweater_sh, smooth=False, clip=body)
        L.line([(x0 + 14, 420), (x0 + 14, 650)], 1.6, sweater_sh, smooth=False, clip=body)
    # hands, then sleeves with ribbed cuffs
    for side in (-1, 1):
        hx = cx + side * 150
        L.part(Ell(hx, 690, 24, 30), skin, skin_sh, light=(side * 8, 6))
        L.part(Ell(hx - side * 20, 680, 9.5, 16), skin, skin_sh, light=(side * 4, 4))
        for f in (-7, 4):
            L.line([(hx + side * f, 702), (hx + side * f, 716)], 1.8, skin_dk)
    for side in (-1, 1):
        sleeve = [(294, 368), (254, 394), (234, 470), (220, 580), (206, 656), (206, 656), (266, 668), (266, 668),
                  (274, 580), (284, 480), (302, 424)]
        sleeve = sleeve if side < 0 else mirror(sleeve)
        m = L.part(Poly(sleeve), sweater, sweater_sh, light=(side * 11, 0))
        band = [(190, 620), (290, 630), (290, 690), (190, 690)]
        cuff = L.mask(Poly(band if side < 0 else mirror(band), smooth=False)) & m
        L.fill(cuff, sweater_sh)
        L.line([(190, 620), (290, 630)] if side < 0 else mirror([(190, 620), (290, 630)]), 2.2, INK, clip=m)
        for x in range(214, 270, 9):
            xx = x if side < 0 else W - x
            L.line([(xx - 2, 632), (xx - 4, 666)], 1.5, sweater_dk, smooth=False, clip=cuff)
        fold = [(256, 450), (262, 490), (256, 520)]
        L.line(fold if side < 0 else mirror(fold), 2.0, sweater_dk, clip=m)
        elbow = [(240, 540), (260, 548)]
        L.line(elbow if side < 0 else mirror(elbow), 2.0, sweater_dk, clip=m)
    # crew neck with a white shirt collar
    rib = L.part(Stroke(arc(cx, 350, 46, 26, 10, 170, 24), 13), sweater_sh, lw=2.6)
    for i in range(1, 16):
        a = math.radians(10 + 160 * i / 16)
        x0, y0 = cx + 40 * math.cos(a), 350 + 20 * math.sin(a)
        x1, y1 = cx + 52 * math.cos(a), 350 + 32 * math.sin(a)
        L.line([(x0, y0), (x1, y1)], 1.5, sweater_dk, smooth=False, clip=rib)

    # ears, head, face
    for side in (-1, 1):
        ex = cx + side * 106
        L.part(Ell(ex, 240, 18, 27), skin, skin_sh, light=(side * 6, 4))
        L.line(arc(ex, 242, 8, 14, 250 if side < 0 else -70, 110 if side < 0 else 70, 10), 2.4, skin_dk)
    head = L.part(Poly(head_outline(cx, 216, 108, 126, jaw=0.18, chin=0.05), smooth=False), skin)
    L.fill(head & ~L.shift(head, 11, 4), skin_sh)
    L.fill(neck & L.shift(head, 0, -16) & ~head, skin_dk)
    L.soft([Ell(cx - 70, 286, 20, 10), Ell(cx + 70, 286, 20, 10)], "#b5503d", 5, 0.35, clip=head)

    for side in (-1, 1):
        draw_eye(L, cx + side * 46, 240, side, "#5a3620", rx=20, ry=23)
        brow = [(cx + side * 20, 186), (cx + side * 44, 176), (cx + side * 72, 182)]
        L.line(brow, 9, hair, taper=True)
    # glasses: lens tint, reflections, frames, bridge and temples
    lenses = L.mask([Ell(cx - 46, 240, 37), Ell(cx + 46, 240, 37)])
    L.fill(lenses, "#cfe6f2", 0.14)
    for side in (-1, 1):
        gx = cx + side * 46
        L.line(arc(gx, 240, 29, 29, 200, 245, 8), 3.5, "#ffffff", clip=lenses)
    for side in (-1, 1):
        gx = cx + side * 46
        L.line(arc(gx, 240, 38, 38, 0, 360, 48), 6.5, "#2a2225")
        L.line([(gx + side * 38, 234), (cx + side * 98, 230)], 5, "#2a2225", smooth=False)
    L.line(arc(cx, 238, 12, 8, 200, 340, 10), 5, "#2a2225")
    # nose
    nose = L.part(Poly([(cx - 4, 256), (cx + 6, 256), (cx + 14, 278), (cx + 20, 288), (cx, 296), (cx - 20, 288),
                        (cx - 14, 278)]), skin, lw=0)
    L.fill(nose & ~L.shift(nose, 6, 3), skin_sh)
    L.line([(cx - 19, 282), (cx - 14, 292), (cx - 4, 293)], 3.0, skin_dk)
    L.line([(cx + 19, 282), (cx + 14, 292), (cx + 4, 293)], 3.0, skin_dk)
    # mouth: wide warm smile
    mouth = L.part(Poly([(cx - 34, 306), (cx, 310), (cx + 34, 306), (cx + 20, 326), (cx, 330), (cx - 20, 326)]),
                   "#5a1f22", line=INK, lw=2.6)
    L.part(Poly([(cx - 30, 306), (cx + 30, 306), (cx + 25, 314), (cx - 25, 314)]), "#ffffff", lw=0, clip=mouth)
    L.part(Ell(cx, 332, 16, 9), "#c05a5e", lw=0, clip=mouth)
    for side in (-1, 1):
        L.line([(cx + side * 32, 304), (cx + side * 39, 299)], 2.6, INK)

    # curly fringe in front, throwing a shadow onto the forehead
    fringe_shapes = [Ell(384, 122, 106, 40)]
    for i, x in enumerate(range(290, 486, 24)):
        fringe_shapes.append(Ell(x, 146 + (6 if i % 2 else 0), 22, 20))
    for side in (-1, 1):
        fringe_shapes.append(Ell(cx + side * 100, 176, 20, 26))
    fringe = L.part(fringe_shapes, hair, hair_sh, light=(-7, 8), cast=(head, skin_sh, (3, 9)), line_clip=head)
    for i in range(13):  # curl highlights on the whole head of hair
        a = 190 + 160 * i / 12
        hx = 384 + 112 * math.cos(math.radians(a))
        hy = 176 + 100 * math.sin(math.radians(a))
        L.line(arc(hx, hy, 12, 10, 200, 330, 8), 3.2, hair_hi, clip=hair_back | fringe)
    for i, x in enumerate(range(302, 474, 28)):
        L.line(arc(x, 136 + (6 if i % 2 else 0), 11, 9, 200, 330, 8), 3.0, hair_hi, clip=fringe)
    return L


# ---------------------------------------------------------------- output


def on_background(layer: Image.Image, ground_y: int, ground_rx: int) -> Image.Image:
    bg = Image.new("RGBA", (W, H), BACKGROUND)
    shadow = Image.new("L", (W, H), 0)
    ImageDraw.Draw(shadow).ellipse([W / 2 - ground_rx, ground_y - 14, W / 2 + ground_rx, ground_y + 14], fill=70)
    shadow = shadow.filter(ImageFilter.GaussianBlur(8))
    bg = Image.composite(Image.new("RGBA", (W, H), "#c9c1b2"), bg, shadow)
    return Image.alpha_composite(bg, layer).convert("RGB")


def mask_of(layer: Image.Image) -> Image.Image:
    return layer.getchannel("A").point(lambda v: 255 if v >= 128 else 0).convert("L")


def thumbnail(mia: Image.Image, leo: Image.Image) -> Image.Image:
    tw, th = 512, 384
    k = 2
    sky = np.linspace(0, 1, th * k)[:, None, None]
    top, bottom = rgb("#b9d3e6"), rgb("#eef2f3")
    grad = (top * (1 - sky) + bottom * sky) * np.ones((1, tw * k, 1))
    thumb = Image.fromarray((grad * 255 + 0.5).astype(np.uint8), "RGB").convert("RGBA")
    d = ImageDraw.Draw(thumb)
    for i in range(70):  # rain streaks on a fixed lattice
        x = (i * 97) % (tw * k)
        y = (i * 53) % (th * k - 80)
        d.line([(x, y), (x - 10, y + 44)], fill=(255, 255, 255, 200), width=3)
    d.ellipse([60, 700, 980, 780], fill=(170, 185, 195, 255))
    crops = [img.crop(img.getchannel("A").getbbox()) for img in (mia, leo)]
    scale = (th * k - 60) / max(c.height for c in crops)  # one scale: Leo stays the taller
    for crop, x0 in zip(crops, (40, 500)):
        crop = crop.resize((round(crop.width * scale), round(crop.height * scale)), Image.LANCZOS)
        thumb.alpha_composite(crop, (x0 + (480 - crop.width) // 2, th * k - 20 - crop.height))
    return thumb.resize((tw, th), Image.LANCZOS).convert("RGB")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the sample project folder")
    args = parser.parse_args(argv)
    cast = args.out / "cast"
    cast.mkdir(parents=True, exist_ok=True)
    layers = {}
    for name, draw, ground, rx in (("mia", draw_mia, 990, 150), ("leo", draw_leo, 1002, 170)):
        layer = draw().image()
        layers[name] = layer
        on_background(layer, ground, rx).save(cast / f"{name}.png", optimize=True)
        mask_of(layer).save(cast / f"{name}_mask.png", optimize=True)
        print(f"wrote {cast / name}.png and {name}_mask.png")
    thumbnail(layers["mia"], layers["leo"]).save(args.out / "thumbnail.png", optimize=True)
    print(f"wrote {args.out / 'thumbnail.png'}")


if __name__ == "__main__":
    main()
