"""A style's look in draft art: textures under the set, colours of figures, finishing over the art.

The look is data (`storyboard.presets.DraftLook`, the `draft:` mapping of a style preset); this module turns
it into pixels. Sizes are given per 1024 px of the panel's shorter side, so thumbnails and pages agree.
"""

from __future__ import annotations

import colorsys
import math
import random

from PIL import Image, ImageDraw, ImageEnhance, ImageFilter, ImageOps

from storyboard.errors import PresetError
from storyboard.presets import DraftLook, load_style

PLAIN = DraftLook()
RGB = tuple[int, int, int]


def look_for(style_id: str, warnings: list[str]) -> DraftLook:
    """The draft look of a style preset; the plain look for no style or one that is not a preset here."""
    if not style_id:
        return PLAIN
    try:
        return load_style(style_id).draft
    except PresetError:
        warnings.append(f"style {style_id!r} is not a preset here; the plain draft look is used")
        return PLAIN


def hex_rgb(color: str) -> RGB:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16)


def unit(size: tuple[int, int]) -> float:
    """Pixels per look unit: look sizes are per 1024 px of the shorter side."""
    return min(size) / 1024


def figure_rgb(color: str, look: DraftLook) -> RGB:
    """A character's colour in this look: their own, a grey that is theirs in every panel, or ink."""
    if look.palette == "cast":
        return hex_rgb(color)
    if look.palette == "mono":
        return hex_rgb(look.ink)
    hue = colorsys.rgb_to_hls(*(c / 255 for c in hex_rgb(color)))[0]
    level = 40 + (round(hue * 5) % 5) * 28
    return level, level, level


def block_px(look: DraftLook, size: tuple[int, int]) -> int:
    """The side of one pixel-art block at this panel size (0: no blocks)."""
    return max(2, round(look.pixel * unit(size))) if look.pixel else 0


def screentone_px(size: tuple[int, int]) -> int:
    """The spacing of screentone dots at this panel size."""
    return max(6, round(min(size) / 64))


# ---------------------------------------------------------------- under the set


def texture(image: Image.Image, look: DraftLook, horizon: float, rng: random.Random) -> None:
    """Draw the look's texture onto the empty panel (in place), before the set's lines and the figures."""
    painters = {"screentone": _screentone, "wash": _wash, "shadows": _shadows, "hatching": _hatching}
    if look.texture in painters:
        painters[look.texture](image, look, horizon, rng)


def _screentone(image: Image.Image, look: DraftLook, horizon: float, rng: random.Random) -> None:
    """Manga tone: a regular dot grid, dense at the top of the sky, fading to the horizon; a light tone below."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    step = screentone_px(image.size)
    ink = hex_rgb(look.ink)
    for row, y in enumerate(range(step // 2, h, step)):
        depth = 1 - y / horizon if y < horizon else 0.15
        radius = step * (0.12 + 0.24 * max(0.0, depth))
        for x in range(step // 2 + (step // 2 if row % 2 else 0), w, step):
            draw.ellipse([x - radius, y - radius, x + radius, y + radius], fill=ink)


def _wash(image: Image.Image, look: DraftLook, horizon: float, rng: random.Random) -> None:
    """Watercolour: soft overlapping washes (sky, ground, a few blooms), blurred into the paper."""
    w, h = image.size
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    draw.rectangle([-w * 0.1, -h * 0.1, w * 1.1, horizon], fill=(150, 190, 220, 90))
    draw.rectangle([-w * 0.1, horizon, w * 1.1, h * 1.1], fill=(200, 170, 120, 80))
    blooms = ((120, 170, 140), (225, 150, 130), (230, 200, 120), (160, 150, 210))
    for _ in range(rng.randrange(4, 8)):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(0.1, 0.3) * min(w, h)
        draw.ellipse([cx - r, cy - r * 0.7, cx + r, cy + r * 0.7], fill=(*rng.choice(blooms), 70))
    layer = layer.filter(ImageFilter.GaussianBlur(0.04 * min(w, h)))
    image.paste(layer.convert("RGB"), mask=layer.getchannel("A"))


def _shadows(image: Image.Image, look: DraftLook, horizon: float, rng: random.Random) -> None:
    """Noir: a dark set cut by hard light through blinds, and a pool of light on the ground."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    ink, paper = hex_rgb(look.ink), hex_rgb(look.paper)
    draw.rectangle([0, 0, w, h], fill=ink)
    slant = rng.uniform(0.25, 0.5) * h
    band = h * 0.07
    start = rng.uniform(-0.1, 0.2) * w
    for i in range(5):  # light through venetian blinds, falling diagonally across the wall
        x0 = start + i * band * 1.9
        draw.polygon([(x0, 0), (x0 + w * 0.55, slant), (x0 + w * 0.55, slant + band), (x0, band)], fill=paper)
    cx = rng.uniform(0.3, 0.7) * w
    draw.ellipse([cx - 0.35 * w, horizon - 0.05 * h, cx + 0.35 * w, horizon + 0.3 * h], fill=paper)


def _hatching(image: Image.Image, look: DraftLook, horizon: float, rng: random.Random) -> None:
    """Pencil: clusters of short diagonal hatch strokes, most of them on the ground."""
    w, h = image.size
    draw = ImageDraw.Draw(image)
    pencil = hex_rgb(look.pencil)
    line = max(1, round(min(w, h) / 500))
    gap = max(3.0, min(w, h) / 120)
    for _ in range(rng.randrange(10, 18)):
        gx = rng.uniform(0, w)
        gy = rng.uniform(horizon, h) if rng.random() < 0.7 else rng.uniform(0, h)
        length = rng.uniform(0.03, 0.07) * min(w, h)
        for k in range(rng.randrange(4, 9)):
            x = gx + k * gap
            draw.line([(x, gy + length), (x + length * 0.7, gy)], fill=pencil, width=line)


# ---------------------------------------------------------------- over the art


def finish(image: Image.Image, look: DraftLook) -> Image.Image:
    """Soften, saturate, pixelate and reduce colours, turn to greys and set contrast, as the look says."""
    if look.soften:
        image = image.filter(ImageFilter.GaussianBlur(look.soften * unit(image.size)))
    if look.saturation != 1 and look.palette == "cast":
        image = ImageEnhance.Color(image).enhance(look.saturation)
    if look.pixel:
        image = pixelate(image, block_px(look, image.size), look.colors, hex_rgb(look.paper))
    elif look.colors:
        image = image.quantize(look.colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    if look.palette != "cast":
        image = greys(image)
    if look.contrast != 1:
        lut = [min(255, max(0, round((v - 128) * look.contrast + 128))) for v in range(256)]
        image = image.point(lut * 3)
    return image


def pixelate(image: Image.Image, block: int, colors: int, pad: RGB) -> Image.Image:
    """Blocks of `block` px from the top-left corner, each the average of its pixels; optionally `colors` colours."""
    w, h = image.size
    cols, rows = math.ceil(w / block), math.ceil(h / block)
    canvas = Image.new("RGB", (cols * block, rows * block), pad)
    canvas.paste(image, (0, 0))
    small = canvas.reduce(block)
    if colors:
        small = small.quantize(colors, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).convert("RGB")
    return small.resize(canvas.size, Image.Resampling.NEAREST).crop((0, 0, w, h))


def greys(image: Image.Image) -> Image.Image:
    return ImageOps.grayscale(image).convert("RGB")


def grade(image: Image.Image, look: DraftLook) -> Image.Image:
    """Camera grading: darkened corners and letterbox bars (over the art, under tags and labels)."""
    w, h = image.size
    if look.vignette:
        falloff = Image.radial_gradient("L").resize(image.size, Image.Resampling.BILINEAR)
        mask = falloff.point([round(max(0, v - 110) / 145 * 255 * look.vignette) for v in range(256)])
        image = Image.composite(Image.new("RGB", image.size, hex_rgb(look.ink)), image, mask)
    if look.letterbox:
        draw = ImageDraw.Draw(image)
        bar = round(look.letterbox * h)
        draw.rectangle([0, 0, w, bar - 1], fill=hex_rgb(look.ink))
        draw.rectangle([0, h - bar, w, h], fill=hex_rgb(look.ink))
    return image
