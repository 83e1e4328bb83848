"""Pose maps: a Pose drawn as the OpenPose ControlNet conditioning image.

Drawn the way the ControlNet annotators draw (controlnet_aux `open_pose.util.draw_bodypose`), because
that is what the ControlNets were trained on: a black canvas; per person, each limb a filled ellipse
(half-width `stick_width`, axes and angle truncated to whole numbers) in 0.6 x its OpenPose colour,
then each joint a filled disc of radius `joint_radius` in its full colour. Coordinates are normalised to
the pose's canvas and multiplied by the map's size, then truncated, as the reference does.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from storyboard.errors import PoseError
from storyboard.poses import COLORS, FACE_KEY, HAND_KEYS, LIMBS, Pose

HAND_EDGES = tuple((0, i + 1) if i % 4 == 0 else (i, i + 1) for i in range(20))
LIMB_SHADE = 0.6  # limbs are drawn at 60% of their colour, joints at full colour
MAX_MAP_PIXELS = 8192 * 8192


@dataclass(frozen=True)
class MapStyle:
    """How thick a pose map is drawn; `per_1024` scales both with the map's longer side."""

    name: str
    stick_width: int
    joint_radius: int
    per_1024: bool = False
    help: str = ""

    def sizes(self, width: int, height: int) -> tuple[int, int]:
        """(stick half-width, joint radius) in pixels for a map of this size."""
        if not self.per_1024:
            return self.stick_width, self.joint_radius
        k = max(width, height) / 1024
        return max(4, round(self.stick_width * k)), max(4, round(self.joint_radius * k))


MAP_STYLES: dict[str, MapStyle] = {
    style.name: style
    for style in (
        MapStyle("openpose", 4, 4, help="the annotators' lines (thibaud and most OpenPose ControlNets)"),
        MapStyle("thick", 10, 10, per_1024=True, help="lines about 2.5x thicker, scaled with the image (xinsir)"),
    )
}


def map_style(name: str) -> MapStyle:
    """A map style by name; PoseError lists the styles when the name is unknown."""
    try:
        return MAP_STYLES[name]
    except KeyError:
        raise PoseError(f"There is no pose map style {name!r}; choose one of: {', '.join(MAP_STYLES)}.") from None


def render_pose_map(
    pose: Pose,
    width: int | None = None,
    height: int | None = None,
    style: str | MapStyle = "openpose",
    hands: bool = False,
    face: bool = False,
) -> np.ndarray:
    """The pose drawn as an RGB uint8 array (height x width x 3) on black, as ControlNets expect.

    The map defaults to the pose's canvas size. A map of another aspect ratio gets the pose letterboxed
    (scaled uniformly and centred, never stretched).
    """
    import cv2

    # 1. Check inputs
    width = pose.width if width is None else width
    height = pose.height if height is None else height
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise PoseError(f"A pose map needs a positive whole-pixel size, got {width!r} x {height!r}.")
    if width * height > MAX_MAP_PIXELS:
        raise PoseError(f"A pose map of {width} x {height} pixels is too large; ask for at most 8192 x 8192.")
    style = map_style(style) if isinstance(style, str) else style
    stick, radius = style.sizes(width, height)

    # 2. Same aspect ratio: normalise to the pose canvas; else letterbox onto a canvas of the map's size
    if abs(width / height - pose.width / pose.height) > 1e-3 * (pose.width / pose.height):
        pose = pose.scaled_to(width, height)
    pose = pose.clamped()  # points at most a canvas size off it: bounded drawing cost, and OpenCV's int32 pixels
    cw, ch = float(pose.width), float(pose.height)
    canvas = np.zeros((height, width, 3), dtype=np.uint8)

    def to_map(point: tuple[float, float]) -> tuple[float, float]:
        return point[0] / cw * float(width), point[1] / ch * float(height)

    # 3. Draw person by person: limbs, then joints, then hands and face
    for person in pose.people:
        for (a, b), color in zip(LIMBS, COLORS):
            pa, pb = person.points[a], person.points[b]
            if pa is None or pb is None:
                continue
            (xa, ya), (xb, yb) = to_map(pa), to_map(pb)
            half_length = math.hypot(xa - xb, ya - yb) / 2
            angle = math.degrees(math.atan2(ya - yb, xa - xb))
            center = (int((xa + xb) / 2), int((ya + yb) / 2))
            outline = cv2.ellipse2Poly(center, (int(half_length), stick), int(angle), 0, 360, 1)
            cv2.fillConvexPoly(canvas, outline, [int(c * LIMB_SHADE) for c in color])
        for point, color in zip(person.points, COLORS):
            if point is not None:
                x, y = to_map(point)
                cv2.circle(canvas, (int(x), int(y)), radius, color, thickness=-1)
        extra = dict(person.extra)
        if hands:
            for key in HAND_KEYS:
                if key in extra:
                    _draw_hand(canvas, _triples(extra[key], to_map))
        if face and FACE_KEY in extra:
            for x, y in _triples(extra[FACE_KEY], to_map):
                if x is not None:
                    cv2.circle(canvas, (int(x), int(y)), 3, (255, 255, 255), thickness=-1)
    return canvas


def _triples(values: tuple[float, ...], to_map) -> list[tuple[float | None, float | None]]:
    """Map points of a flat x, y, confidence array; missing points (or ones at the very edge) become None."""
    out: list[tuple[float | None, float | None]] = []
    for j in range(0, len(values) - 2, 3):
        x, y, conf = values[j : j + 3]
        mx, my = to_map((x, y))
        out.append((mx, my) if conf > 0 and int(mx) > 0 and int(my) > 0 else (None, None))
    return out


def _draw_hand(canvas: np.ndarray, points: list[tuple[float | None, float | None]]) -> None:
    """A hand as the annotators draw it: 20 bones in a rainbow, 2 px wide, and blue joints."""
    import cv2

    if len(points) != 21:
        return
    for i, (a, b) in enumerate(HAND_EDGES):
        (xa, ya), (xb, yb) = points[a], points[b]
        if xa is not None and xb is not None:
            rgb = [c * 255 for c in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0)]
            cv2.line(canvas, (int(xa), int(ya)), (int(xb), int(yb)), rgb, thickness=2)
    for x, y in points:
        if x is not None:
            cv2.circle(canvas, (int(x), int(y)), 4, (0, 0, 255), thickness=-1)


def write_pose_map(path: Path, pose: Pose, **options) -> Path:
    """Render a pose map and save it as PNG (atomically); returns the path."""
    import io

    from PIL import Image

    from storyboard.storyfile import atomic_write

    image = Image.fromarray(render_pose_map(pose, **options), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    path = Path(path)
    try:
        atomic_write(path, buffer.getvalue())
    except OSError as exc:
        raise PoseError(f"Could not write the pose map {path}: {exc.strerror or exc}; check the folder exists and is writable.") from exc
    return path
