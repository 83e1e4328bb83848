"""OpenPose body poses: the exchange JSON (`people[].pose_keypoints_2d`, 18 points) as frozen data."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from storyboard.errors import PoseError

KEYPOINTS = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
N_KEYPOINTS = len(KEYPOINTS)
# Limbs as 0-based keypoint index pairs, in the OpenPose drawing order.
LIMBS = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10),
    (1, 11), (11, 12), (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
# OpenPose colours (RGB), one per limb and per joint index.
COLORS = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
    (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
    (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)

Point = tuple[float, float] | None  # canvas pixels; None when the point is missing


@dataclass(frozen=True)
class Person:
    """One skeleton: 18 body points (None where missing) and the cast member it stands for."""

    points: tuple[Point, ...]
    character: str | None = None
    extra: tuple[tuple[str, tuple[float, ...]], ...] = ()  # hand/face arrays kept as they came

    def __post_init__(self) -> None:
        if len(self.points) != N_KEYPOINTS:
            raise PoseError(f"a person needs {N_KEYPOINTS} body points, got {len(self.points)}")

    def point(self, name: str) -> Point:
        return self.points[KEYPOINTS.index(name)]

    def head(self) -> Point:
        """The middle of the head (nose, else eyes/ears, else above the neck)."""
        for name in ("nose", "right_eye", "left_eye", "right_ear", "left_ear"):
            if (p := self.point(name)) is not None:
                return p
        neck = self.point("neck")
        return None if neck is None else (neck[0], neck[1] - 0.1 * self.height())

    def bbox(self) -> tuple[float, float, float, float] | None:
        pts = [p for p in self.points if p is not None]
        if not pts:
            return None
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return min(xs), min(ys), max(xs), max(ys)

    def height(self) -> float:
        box = self.bbox()
        return 0.0 if box is None else box[3] - box[1]


@dataclass(frozen=True)
class Pose:
    """A canvas size in pixels and the people on it, in skeleton order."""

    width: int
    height: int
    people: tuple[Person, ...] = field(default_factory=tuple)

    def scaled_to(self, width: int, height: int) -> Pose:
        """The same pose on a canvas of another size, scaled uniformly and centred (no distortion)."""
        s = min(width / self.width, height / self.height)
        dx, dy = (width - self.width * s) / 2, (height - self.height * s) / 2

        def move(p: Point) -> Point:
            return None if p is None else (p[0] * s + dx, p[1] * s + dy)

        people = tuple(Person(tuple(move(p) for p in person.points), person.character, person.extra) for person in self.people)
        return Pose(width, height, people)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def pose_from_json(data: Any, source: str = "pose") -> Pose:
    """Build a Pose from OpenPose JSON data (pixel or normalised coordinates; missing = 0,0,0 or -1)."""
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # some tools write a list with one frame
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PoseError(f"{source}: not OpenPose JSON; expected an object with a 'people' list.")
    width, height = data.get("canvas_width"), data.get("canvas_height")
    for key, value in (("canvas_width", width), ("canvas_height", height)):
        if value is not None and (not _number(value) or value <= 0):
            raise PoseError(f"{source}: {key} must be a positive number, got {value!r}.")
    raw_people: list[tuple[list[float], dict]] = []
    for i, person in enumerate(data["people"]):
        if not isinstance(person, dict):
            raise PoseError(f"{source}: people[{i}] must be an object with 'pose_keypoints_2d'.")
        kps = person.get("pose_keypoints_2d")
        if not isinstance(kps, list) or len(kps) not in (N_KEYPOINTS * 3, N_KEYPOINTS * 2):
            raise PoseError(
                f"{source}: people[{i}].pose_keypoints_2d must list {N_KEYPOINTS} points as x, y, confidence "
                f"({N_KEYPOINTS * 3} numbers), got {len(kps) if isinstance(kps, list) else type(kps).__name__}."
            )
        if not all(_number(v) for v in kps):
            raise PoseError(f"{source}: people[{i}].pose_keypoints_2d must hold only numbers.")
        raw_people.append((kps, person))
    values = [v for kps, _ in raw_people for j, v in enumerate(kps) if (len(kps) == 54 and j % 3 != 2) or len(kps) == 36]
    normalised = bool(values) and all(-1 <= v <= 1 for v in values)
    if width is None or height is None:
        if normalised:
            raise PoseError(f"{source}: normalised coordinates need canvas_width and canvas_height.")
        box = max(values) if values else 512
        width, height = width or box, height or box
    people = []
    for kps, person in raw_people:
        step = 3 if len(kps) == N_KEYPOINTS * 3 else 2
        points: list[Point] = []
        for j in range(N_KEYPOINTS):
            x, y = kps[j * step], kps[j * step + 1]
            conf = kps[j * step + 2] if step == 3 else 1.0
            if conf <= 0 or x < 0 or y < 0:
                points.append(None)
            else:
                points.append((x * width, y * height) if normalised else (float(x), float(y)))
        extra = tuple(
            (key, tuple(float(v) for v in person[key]))
            for key in ("hand_left_keypoints_2d", "hand_right_keypoints_2d", "face_keypoints_2d")
            if isinstance(person.get(key), list) and person[key] and all(_number(v) for v in person[key])
        )
        character = person.get("character") if isinstance(person.get("character"), str) else None
        people.append(Person(tuple(points), character, extra))
    return Pose(int(round(width)), int(round(height)), tuple(people))


def pose_to_json(pose: Pose) -> dict[str, Any]:
    """OpenPose JSON in canvas pixels; missing points written as 0, 0, 0."""
    people = []
    for person in pose.people:
        kps: list[float] = []
        for p in person.points:
            kps += [0.0, 0.0, 0.0] if p is None else [round(p[0], 2), round(p[1], 2), 1.0]
        entry: dict[str, Any] = {"pose_keypoints_2d": kps}
        entry.update({k: list(v) for k, v in person.extra})
        if person.character:
            entry["character"] = person.character
        people.append(entry)
    return {"canvas_width": pose.width, "canvas_height": pose.height, "people": people}


def read_pose(path: Path) -> Pose:
    """Load an OpenPose JSON file; PoseError names the file and what is wrong."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoseError(f"Pose file {path} does not exist; draw the pose again or remove 'pose:' from the panel.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseError(f"{path}: not valid JSON ({exc}); export the pose again from the editor.") from None
    return pose_from_json(data, str(path))


def write_pose(path: Path, pose: Pose) -> None:
    """Write OpenPose JSON atomically."""
    from storyboard.storyfile import atomic_write

    atomic_write(Path(path), json.dumps(pose_to_json(pose), indent=1).encode("utf-8"))
