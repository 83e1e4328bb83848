"""The draft engine: storyboard thumbnails with no model weights.

Each character is a stick figure in their colour with a name tag (from the panel's pose, else a default
staging for the shot type), and the shot is framed and labelled, in the look of the request's style
(storyboard.engines.draftlook). The prompt is drawn as a note strip only when the request's options ask for
it (`prompt_strip`): comic pages show art without it; the storyboard sheet prints the prompt beside the frame.
"""

from __future__ import annotations

import functools
import random
import textwrap
import time
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from storyboard.engines.base import RenderContext, RenderRequest, RenderResult
from storyboard.engines.draftlook import figure_rgb, finish, grade, greys, hex_rgb, look_for, texture
from storyboard.poses import KEYPOINTS, LIMBS, Person, Pose
from storyboard.presets import DraftLook

PAPER = (248, 246, 240)
INK = (40, 40, 46)
PENCIL = (196, 192, 184)
FONT_DIR = Path(__file__).resolve().parents[2] / "assets" / "fonts"

# A standing figure, front view, in figure units: x from the body's centre, y from the top of the
# head (0) to the soles (1). Image-left is the person's right, as OpenPose draws a person facing us.
STANDING: dict[str, tuple[float, float]] = {
    "nose": (0.0, 0.075), "neck": (0.0, 0.17),
    "right_shoulder": (-0.1, 0.185), "right_elbow": (-0.13, 0.33), "right_wrist": (-0.14, 0.47),
    "left_shoulder": (0.1, 0.185), "left_elbow": (0.13, 0.33), "left_wrist": (0.14, 0.47),
    "right_hip": (-0.06, 0.5), "right_knee": (-0.07, 0.73), "right_ankle": (-0.07, 0.95),
    "left_hip": (0.06, 0.5), "left_knee": (0.07, 0.73), "left_ankle": (0.07, 0.95),
    "right_eye": (-0.025, 0.06), "left_eye": (0.025, 0.06), "right_ear": (-0.05, 0.07), "left_ear": (0.05, 0.07),
}
# Arm variants a seed picks from, so two drafts of one panel with other seeds differ: (elbow, wrist) per side.
GESTURES: tuple[dict[str, tuple[float, float]], ...] = (
    {},
    {"left_elbow": (0.2, 0.27), "left_wrist": (0.27, 0.16)},  # waving
    {"right_elbow": (-0.17, 0.31), "right_wrist": (-0.27, 0.27)},  # pointing
    {"right_elbow": (-0.13, 0.33), "right_wrist": (0.02, 0.3), "left_elbow": (0.13, 0.33), "left_wrist": (-0.02, 0.31)},  # arms crossed
    {"left_elbow": (0.16, 0.33), "left_wrist": (0.05, 0.45)},  # hand on hip
)
# Shot framing: figure height and where the top of the head sits, as fractions of the panel height.
FRAMING: dict[str, tuple[float, float]] = {
    "establishing": (0.16, 0.68),
    "wide": (0.36, 0.52),
    "full": (0.8, 0.1),
    "medium": (1.7, 0.1),
    "close-up": (3.4, 0.12),
    "extreme-close-up": (7.5, -0.15),
    "over-the-shoulder": (1.6, 0.14),
}
SHOT_LABELS = {
    "establishing": "EST", "wide": "WS", "full": "FS", "medium": "MS",
    "close-up": "CU", "extreme-close-up": "ECU", "over-the-shoulder": "OTS",
}


@functools.cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The app's lettering font if shipped, else Pillow's built-in scalable font."""
    names = ("ComicNeue-Bold.ttf", "DejaVuSans-Bold.ttf") if bold else ("ComicNeue-Regular.ttf", "DejaVuSans.ttf")
    for name in names:
        path = FONT_DIR / name
        if path.is_file():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


def _tint(rgb: tuple[int, int, int], amount: float) -> tuple[int, int, int]:
    return tuple(round(c + (255 - c) * amount) for c in rgb)  # type: ignore[return-value]


def default_person(cx: float, top: float, height: float, gesture: int, facing: int = 0) -> Person:
    """A standing figure of `height` px whose head top is at `top`, centred on `cx`; facing -1 left, 1 right."""
    points = dict(STANDING)
    points.update(GESTURES[gesture % len(GESTURES)])
    if facing:  # three-quarter view: nose and eyes shift towards where they look, the far ear disappears
        for name in ("nose", "right_eye", "left_eye"):
            x, y = points[name]
            points[name] = (x + 0.025 * facing, y)
    out = []
    for name in KEYPOINTS:
        if facing and name == ("left_ear" if facing < 0 else "right_ear"):
            out.append(None)
            continue
        x, y = points[name]
        out.append((cx + x * height, top + y * height))
    return Person(tuple(out))


def default_staging(request: RenderRequest, rng: random.Random) -> Pose:
    """People placed for the shot type when the panel has no pose: one centred, two facing each other, three or
    four in a row across the panel."""
    return stage_people(request.width, request.height, len(request.characters), request.shot, rng)


class Unjittered:
    """Stands in for the random stream of `stage_people`: no jitter, first gesture (where figures stand on average)."""

    @staticmethod
    def uniform(low: float, high: float) -> float:
        return (low + high) / 2

    @staticmethod
    def randrange(stop: int) -> int:
        return 0


STAGING_JITTER = 0.02  # how far (a share of the width) a default-staged figure may stand from its place
CROWD_REACH = 0.36  # three or four figures stand within this share of the width either side of the middle
EXTRA_OTS_XS = (0.88, 0.42)  # over the shoulder: where a third and a fourth character stand (shares of the width)


def stage_people(w: int, h: int, n: int, shot: str, rng: random.Random | Unjittered) -> Pose:
    """`n` people placed for the shot type on a `w` x `h` canvas (see default_staging)."""
    if n == 0:
        return Pose(w, h, ())
    fig_frac, top_frac = FRAMING.get(shot, FRAMING["medium"])
    fig_h = fig_frac * h
    if shot == "over-the-shoulder" and n >= 2:
        # the first character, back to camera, fills the left foreground; the second faces us, past them
        back = default_person(0.17 * w, 0.5 * h, 2.6 * h, 0)
        back = Person(tuple(None if name in ("nose", "right_eye", "left_eye") else p for name, p in zip(KEYPOINTS, back.points)))
        facing = default_person(0.66 * w, top_frac * h, fig_h * 0.85, rng.randrange(len(GESTURES)), -1)
        # a third and fourth character stand in the background, right of the one facing us, then between the two
        return Pose(w, h, (back, facing) + tuple(
            default_person(x * w, top_frac * h, fig_h, rng.randrange(len(GESTURES))) for x in EXTRA_OTS_XS[: n - 2]))
    if n == 1:
        xs, facings = [0.5], [0]
    else:
        if fig_frac > 2.5:  # close shots of two: smaller heads, one on each side
            fig_h *= 0.6
        # keep the two figures about a body width apart, whatever the framing
        spread = min(0.3, max(0.16, 0.19 * fig_h / w))
        xs = [0.5 - spread, 0.5 + spread]
        facings = [1, -1]
        if n > 2:  # three or four in a row, evenly apart across the panel, small enough not to overlap
            gap = min(2 * spread, 2 * CROWD_REACH / (n - 1))
            fig_h = min(fig_h, gap * w / 0.32)  # a figure with its arms out is about 0.3 of its height wide
            xs = [0.5 + (i - (n - 1) / 2) * gap for i in range(n)]
            facings = [1] + [0] * (n - 2) + [-1]
    people = []
    for i, (x, facing) in enumerate(zip(xs, facings)):
        jitter = rng.uniform(-STAGING_JITTER, STAGING_JITTER) * w
        people.append(default_person(x * w + jitter, top_frac * h, fig_h, rng.randrange(len(GESTURES)), facing))
    return Pose(w, h, tuple(people))


def line_px(person: Person, width: int, height: int, line_weight: float = 1.0) -> int:
    """The stroke width of a figure's limbs, in pixels."""
    tall = max(person.height(), 1.0)
    px = max(3, round(min(tall * 0.03, min(width, height) * 0.022)))
    return max(2, round(px * line_weight))


def head_circle(person: Person, line: float) -> tuple[float, float, float] | None:
    """Where a figure's head is drawn: centre x, y and radius in pixels (None without a head or neck)."""
    head = person.head()
    if head is None:
        return None
    neck = person.point("neck")
    radius = abs(head[1] - neck[1]) * 0.85 if neck is not None else max(person.height(), 1.0) * 0.07
    radius = max(radius, line * 2.0)
    cx = head[0]
    ears = [p for p in (person.point("right_ear"), person.point("left_ear")) if p is not None]
    if len(ears) == 2:
        cx = (ears[0][0] + ears[1][0]) / 2
    return cx, head[1] - radius * 0.15, radius


NameTag = tuple[tuple[float, float, float, float], tuple[float, float], ImageFont.FreeTypeFont | ImageFont.ImageFont, float]


def name_tag(person: Person, name: str, width: int, height: int) -> NameTag | None:
    """Where a figure's name tag is drawn: its box (x0, y0, x1, y1), the text's bbox offset, the font and padding."""
    head = person.head() or person.point("neck")
    if head is None or person.bbox() is None:
        return None
    size = max(12, round(min(width, height) * 0.035))
    f = font(size, bold=True)
    left, top, right, bottom = f.getbbox(name)
    tw, th = right - left, bottom - top
    pad = size * 0.35
    radius = max(person.height() * 0.09, size)
    x = min(max(head[0] - tw / 2 - pad, 4), width - tw - 2 * pad - 4)
    y = min(max(head[1] - radius * 1.3 - th - 2 * pad, 4), height - th - 2 * pad - 4)
    return (x, y, x + tw + 2 * pad, y + th + 2 * pad), (left, top), f, pad


class DraftEngine:
    """Renders storyboard thumbnails with Pillow; deterministic for a seed."""

    name = "draft"
    version = "3"  # bump when drawings change: takes of older versions become stale

    def describe(self) -> str:
        return "Draft mode: storyboard thumbnails (no model weights or GPU needed)"

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        started = time.perf_counter()
        rng = random.Random(request.seed)
        sketch = random.Random(request.seed + 1)  # pencil jitter: its own stream, so sketchy styles stage figures alike
        warnings: list[str] = []
        steps = 4
        look = look_for(request.style, warnings)
        image = Image.new("RGB", (request.width, request.height), hex_rgb(look.paper))
        draw = ImageDraw.Draw(image)

        # 1. The set: the look's texture, then pencil lines
        context.check_cancelled()
        horizon = self._horizon(request, rng)
        texture(image, look, horizon, rng)
        self._background(draw, request, rng, horizon, look)
        context.progress(1, steps)

        # 2. Figures, then the look's finish and grade over the art, then name tags
        context.check_cancelled()
        pose = self._staging(request, rng, warnings)
        if request.shot == "over-the-shoulder" and len(pose.people) < 2:
            self._foreground_shoulder(draw, request, look)  # an anonymous shoulder frames a lone character
        for i, person in enumerate(pose.people):
            character = request.characters[i] if i < len(request.characters) else None
            self._figure(draw, person, character.color if character else "#9a9a9a", request, look, sketch)
        image = grade(finish(image, look), look)
        draw = ImageDraw.Draw(image)
        for i, person in enumerate(pose.people[: len(request.characters)]):
            self._name_tag(draw, person, request.characters[i].name, figure_rgb(request.characters[i].color, look), request)
        context.progress(2, steps)

        # 3. Frame and shot label
        context.check_cancelled()
        self._frame(draw, request)
        context.progress(3, steps)

        # 4. The prompt strip, only when asked for (storyboard thumbnails; never on comic pages by default)
        context.check_cancelled()
        if dict(request.options).get("prompt_strip"):
            self._note(draw, request)
        if look.palette != "cast":
            image = greys(image)
        context.progress(4, steps)
        return RenderResult(
            image=image,
            metadata={
                "engine": self.name,
                "engine_version": self.version,
                "seed": request.seed,
                "width": request.width,
                "height": request.height,
                "seconds": round(time.perf_counter() - started, 4),
                "warnings": warnings,
            },
        )

    def _staging(self, request: RenderRequest, rng: random.Random, warnings: list[str]) -> Pose:
        default = default_staging(request, rng)
        if request.pose is None:
            return default
        # clamped: a point far off the panel (a pose scaled up in memory) must not make a figure cost minutes
        pose = request.pose.scaled_to(request.width, request.height).clamped()
        people = list(pose.people)
        n = len(request.characters)
        if len(people) < n:
            warnings.append(
                f"the pose has {len(people)} skeleton(s) for {n} character(s); the rest are placed by default"
            )
            people += list(default.people[len(people) : n])
        return Pose(pose.width, pose.height, tuple(people))

    def _horizon(self, request: RenderRequest, rng: random.Random) -> float:
        """Where the ground meets the sky, in pixels from the top: from the framing, or by the seed in close shots."""
        fig_frac, top_frac = FRAMING.get(request.shot, FRAMING["medium"])
        return request.height * (min(0.85, top_frac + fig_frac * 0.95) if fig_frac < 1 else rng.uniform(0.55, 0.7))

    def _background(self, draw: ImageDraw.ImageDraw, request: RenderRequest, rng: random.Random, horizon: float,
                    look: DraftLook) -> None:
        """A light pencil suggestion of the set: horizon, a few blocks; its details depend on the seed."""
        w, h = request.width, request.height
        fig_frac = FRAMING.get(request.shot, FRAMING["medium"])[0]
        line = max(1, round(min(w, h) / 400))
        pencil = hex_rgb(look.pencil)
        if fig_frac < 1:
            draw.line([(0, horizon), (w, horizon)], fill=pencil, width=line * 2)
        x = rng.uniform(-0.05, 0.05) * w
        while x < w:
            bw = rng.uniform(0.08, 0.22) * w
            bh = rng.uniform(0.15, 0.45) * h * (1.0 if fig_frac < 1 else 1.6)
            if rng.random() < 0.7:
                draw.rectangle([x, horizon - bh, x + bw, horizon], outline=pencil, width=line)
                for _ in range(rng.randrange(0, 4)):
                    wx = x + rng.uniform(0.1, 0.7) * bw
                    wy = horizon - bh + rng.uniform(0.1, 0.7) * bh
                    draw.rectangle([wx, wy, wx + bw * 0.15, wy + bh * 0.1], outline=pencil, width=line)
            x += bw + rng.uniform(0.0, 0.08) * w
        for _ in range(rng.randrange(3, 7)):  # hatching strokes on the ground
            gx, gy = rng.uniform(0, w), rng.uniform(horizon, h)
            draw.line([(gx, gy), (gx + rng.uniform(0.03, 0.08) * w, gy)], fill=pencil, width=line)

    def _figure(self, draw: ImageDraw.ImageDraw, person: Person, color: str, request: RenderRequest, look: DraftLook,
                sketch: random.Random) -> None:
        rgb = figure_rgb(color, look)
        mono = look.palette == "mono"
        width = line_px(person, request.width, request.height, look.line_weight)
        limbs = [(person.points[a], person.points[b]) for a, b in LIMBS[:12]]  # the head is drawn as a circle below
        limbs = [(pa, pb) for pa, pb in limbs if pa is not None and pb is not None]
        edge = max(2, round(width * 0.45)) if look.outline else 0
        if edge:  # an outline (a rim of light for mono silhouettes) under the limbs
            for pa, pb in limbs:
                draw.line([pa, pb], fill=hex_rgb(look.paper if mono else look.ink), width=width + 2 * edge, joint="curve")
        for pa, pb in limbs:
            if look.strokes == 1:
                draw.line([pa, pb], fill=rgb, width=width, joint="curve")
                continue
            jitter = max(1.5, width * 1.2)  # sketchy: several loose strokes per limb
            for _ in range(look.strokes):
                ends = [(x + sketch.uniform(-jitter, jitter), y + sketch.uniform(-jitter, jitter)) for x, y in (pa, pb)]
                draw.line(ends, fill=rgb, width=max(1, round(width * 0.7)))
        for i, p in enumerate(person.points[:14]):
            if p is not None and i != 0 and look.strokes == 1:
                r = width * 0.7
                draw.ellipse([p[0] - r, p[1] - r, p[0] + r, p[1] + r], fill=_tint(rgb, 0.1))
        neck = person.point("neck")
        circle = head_circle(person, width)
        if circle is None:
            return
        cx, cy, radius = circle
        if neck is not None:
            draw.line([neck, (cx, cy + radius * 0.9)], fill=rgb, width=width)
        seen_from_behind = all(person.point(n) is None for n in ("nose", "right_eye", "left_eye"))
        fill = _tint(rgb, 0.35) if seen_from_behind else _tint(rgb, 0.78)  # the back of a head reads as hair
        if mono:
            fill = rgb  # a silhouette
        if edge:
            r = radius + edge
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=hex_rgb(look.paper if mono else look.ink))
        if look.strokes == 1:
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill, outline=rgb, width=width)
        else:
            draw.ellipse([cx - radius, cy - radius, cx + radius, cy + radius], fill=fill)
            for _ in range(look.strokes):
                dx, dy, dr = (sketch.uniform(-0.08, 0.08) * radius for _ in range(3))
                draw.ellipse([cx + dx - radius - dr, cy + dy - radius - dr, cx + dx + radius + dr, cy + dy + radius + dr],
                             outline=rgb, width=max(1, round(width * 0.7)))
        features = hex_rgb(look.paper) if mono else INK
        for name in ("right_eye", "left_eye"):
            eye = person.point(name)
            if eye is not None:
                r = max(1.5, radius * 0.09)
                draw.ellipse([eye[0] - r, eye[1] - r, eye[0] + r, eye[1] + r], fill=features)
        nose = person.point("nose")
        if nose is not None:  # the nose tick shows where the face looks
            draw.line([(nose[0], nose[1] + radius * 0.05), (nose[0] + (nose[0] - cx) * 0.4, nose[1] + radius * 0.25)], fill=features, width=max(1, width // 2))

    def _name_tag(self, draw: ImageDraw.ImageDraw, person: Person, name: str, rgb: tuple[int, int, int],
                  request: RenderRequest) -> None:
        tag = name_tag(person, name, request.width, request.height)
        if tag is None:
            return
        (x, y, x1, y1), (left, top), f, pad = tag
        draw.rounded_rectangle([x, y, x1, y1], radius=pad, fill=rgb, outline=INK, width=1)
        draw.text((x + pad - left, y + pad - top), name, font=f, fill=(255, 255, 255))

    def _foreground_shoulder(self, draw: ImageDraw.ImageDraw, request: RenderRequest, look: DraftLook) -> None:
        w, h = request.width, request.height
        shade = figure_rgb("#5c5c64", look)
        draw.ellipse([-0.25 * w, 0.45 * h, 0.35 * w, 1.6 * h], fill=shade)
        draw.ellipse([-0.05 * w, 0.2 * h, 0.22 * w, 0.62 * h], fill=shade)

    def _frame(self, draw: ImageDraw.ImageDraw, request: RenderRequest) -> None:
        """Title-safe guide, border and the shot label in the top-left corner."""
        w, h = request.width, request.height
        line = max(1, round(min(w, h) / 300))
        inset_x, inset_y = w * 0.05, h * 0.05
        dash = max(6, round(min(w, h) / 60))
        for x0 in range(round(inset_x), round(w - inset_x), dash * 2):
            x1 = min(x0 + dash, w - inset_x)
            draw.line([(x0, inset_y), (x1, inset_y)], fill=PENCIL, width=line)
            draw.line([(x0, h - inset_y), (x1, h - inset_y)], fill=PENCIL, width=line)
        for y0 in range(round(inset_y), round(h - inset_y), dash * 2):
            y1 = min(y0 + dash, h - inset_y)
            draw.line([(inset_x, y0), (inset_x, y1)], fill=PENCIL, width=line)
            draw.line([(w - inset_x, y0), (w - inset_x, y1)], fill=PENCIL, width=line)
        draw.rectangle([0, 0, w - 1, h - 1], outline=INK, width=line * 3)
        size = max(12, round(min(w, h) * 0.04))
        f = font(size, bold=True)
        label = f"{request.panel_id.upper()}  {SHOT_LABELS.get(request.shot, request.shot.upper())}"
        left, top, right, bottom = draw.textbbox((0, 0), label, font=f)
        pad = size * 0.4
        draw.rectangle([line * 3, line * 3, line * 3 + right - left + 2 * pad, line * 3 + bottom - top + 2 * pad], fill=INK)
        draw.text((line * 3 + pad - left, line * 3 + pad - top), label, font=f, fill=PAPER)

    def _note(self, draw: ImageDraw.ImageDraw, request: RenderRequest) -> None:
        """The prompt as a small note along the bottom edge (at most three lines)."""
        if not request.prompt.strip():
            return
        w, h = request.width, request.height
        size = max(11, round(min(w, h) * 0.028))
        f = font(size)
        chars_per_line = max(12, int(w * 0.9 / (size * 0.52)))
        lines = textwrap.wrap(request.prompt.strip(), chars_per_line)
        if len(lines) > 3:
            lines = lines[:3]
            lines[2] = lines[2][: max(0, chars_per_line - 1)].rstrip() + "…"
        line_h = size * 1.25
        pad = size * 0.5
        box_h = line_h * len(lines) + 2 * pad
        top = h - box_h - size * 0.4
        draw.rounded_rectangle([w * 0.03, top, w * 0.97, top + box_h], radius=size * 0.4, fill=(255, 253, 231), outline=PENCIL, width=1)
        for i, text in enumerate(lines):
            draw.text((w * 0.03 + pad, top + pad + i * line_h), text, font=f, fill=INK)
