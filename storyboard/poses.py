"""OpenPose body poses: the exchange JSON (`people[].pose_keypoints_2d`, 18 points) as frozen data."""

from __future__ import annotations

import json
import logging
import math
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from storyboard.errors import PoseError

log = logging.getLogger(__name__)

# Limits on what a pose file may hold, so that reading and drawing it costs little whatever it says.
MAX_POSE_BYTES = 2 * 1024 * 1024  # a two-person pose with hands and face is about 10 KB
MAX_PEOPLE = 32  # a crowd photo's detections fit; a panel uses at most 4 (model.MAX_CHARACTERS_PER_PANEL)
MAX_EXTRA_POINTS = 256  # per hand/face array (OpenPose: 21 per hand, 70 for the face)
MAX_CANVAS = 16384  # pixels per side
# Points are kept within this many canvas sizes around the canvas (x from -1 w to 2 w), so that a point at
# y = 1e6 cannot make a drawing of the pose (draft figure, pose map, balloon tail) cost minutes.
CANVAS_REACH = 1.0

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

# Which body point a point becomes when left and right trade places (mirroring).
MIRROR_INDEX = tuple(
    KEYPOINTS.index(name.replace("right_", "\0").replace("left_", "right_").replace("\0", "left_")) for name in KEYPOINTS
)
HAND_KEYS = ("hand_left_keypoints_2d", "hand_right_keypoints_2d")
FACE_KEY = "face_keypoints_2d"
EXTRA_KEYS = (*HAND_KEYS, FACE_KEY)
# OpenPose's 70 face points (iBUG 68 + two pupils) after a left-right flip.
FACE_MIRROR_INDEX = (
    *range(16, -1, -1),  # jaw line, reversed
    26, 25, 24, 23, 22, 21, 20, 19, 18, 17,  # eyebrows swap
    27, 28, 29, 30,  # nose bridge stays
    35, 34, 33, 32, 31,  # nostrils, reversed
    45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40,  # eyes swap
    54, 53, 52, 51, 50, 49, 48, 59, 58, 57, 56, 55,  # outer lip, reversed
    64, 63, 62, 61, 60, 67, 66, 65,  # inner lip, reversed
    69, 68,  # pupils swap
)


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

    def center(self) -> tuple[float, float] | None:
        """The middle of the bounding box of the points present."""
        box = self.bbox()
        return None if box is None else ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)

    def mapped(self, fn: Callable[[float, float], tuple[float, float]]) -> Person:
        """This person with `fn` applied to every body point present and every hand/face point present."""
        points = tuple(None if p is None else fn(*p) for p in self.points)
        extra = tuple((key, _map_triples(values, fn)) for key, values in self.extra)
        return replace(self, points=points, extra=extra)

    def mirrored(self, axis_x: float) -> Person:
        """The mirror image about the vertical line x = axis_x: left and right body parts trade places."""
        flipped = self.mapped(lambda x, y: (2 * axis_x - x, y))
        points = tuple(flipped.points[MIRROR_INDEX[i]] for i in range(N_KEYPOINTS))
        extra = []
        for key, values in flipped.extra:
            if key in HAND_KEYS:
                key = HAND_KEYS[1 - HAND_KEYS.index(key)]
            elif key == FACE_KEY and len(values) == 3 * len(FACE_MIRROR_INDEX):
                values = tuple(v for j in FACE_MIRROR_INDEX for v in values[3 * j : 3 * j + 3])
            extra.append((key, values))
        return replace(flipped, points=points, extra=tuple(sorted(extra, key=lambda kv: EXTRA_KEYS.index(kv[0]) if kv[0] in EXTRA_KEYS else 99)))

    def without_point(self, name: str) -> Person:
        """This person with one body point marked missing."""
        points = list(self.points)
        points[KEYPOINTS.index(name)] = None
        return replace(self, points=tuple(points))


@dataclass(frozen=True)
class Pose:
    """A canvas size in pixels and the people on it, in skeleton order."""

    width: int
    height: int
    people: tuple[Person, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not (self.width >= 1 and self.height >= 1):
            raise PoseError(f"a pose canvas must be at least 1 x 1 pixels, got {self.width!r} x {self.height!r}")

    def scaled_to(self, width: int, height: int) -> Pose:
        """The same pose on a canvas of another size, scaled uniformly and centred (no distortion)."""
        s = min(width / self.width, height / self.height)
        dx, dy = (width - self.width * s) / 2, (height - self.height * s) / 2

        def move(p: Point) -> Point:
            return None if p is None else (p[0] * s + dx, p[1] * s + dy)

        people = tuple(Person(tuple(move(p) for p in person.points), person.character, person.extra) for person in self.people)
        return Pose(width, height, people)

    def bbox(self) -> tuple[float, float, float, float] | None:
        """The bounding box of every body point present, over all people."""
        boxes = [b for person in self.people if (b := person.bbox()) is not None]
        if not boxes:
            return None
        return min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)

    def _with_people(self, people: Sequence[Person]) -> Pose:
        return replace(self, people=tuple(people))

    def _apply(self, person: int | None, fn: Callable[[Person], Person]) -> Pose:
        if person is None:
            return self._with_people([fn(p) for p in self.people])
        self._check_index(person)
        return self._with_people([fn(p) if i == person else p for i, p in enumerate(self.people)])

    def _check_index(self, person: int) -> None:
        if not 0 <= person < len(self.people):
            raise PoseError(f"there is no person {person} in a pose of {len(self.people)} people")

    def mirrored(self, person: int | None = None) -> Pose:
        """Mirrored left to right: the whole canvas, or one person about their own centre."""
        if person is None:
            return self._apply(None, lambda p: p.mirrored(self.width / 2))
        self._check_index(person)
        center = self.people[person].center()
        return self if center is None else self._apply(person, lambda p: p.mirrored(center[0]))

    def moved(self, dx: float, dy: float, person: int | None = None) -> Pose:
        """Everyone (or one person) shifted by dx, dy canvas pixels."""
        return self._apply(person, lambda p: p.mapped(lambda x, y: (x + dx, y + dy)))

    def scaled(self, factor: float, origin: tuple[float, float] | None = None, person: int | None = None) -> Pose:
        """Everyone (or one person) scaled by `factor` about `origin` (default: their bounding box's centre)."""
        if not (_number(factor) and factor > 0):
            raise PoseError(f"a scale factor must be a positive number, got {factor!r}")
        if origin is None:
            box = self.bbox() if person is None else (self._check_index(person), self.people[person].bbox())[1]
            if box is None:
                return self
            origin = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        ox, oy = origin
        return self._apply(person, lambda p: p.mapped(lambda x, y: (ox + (x - ox) * factor, oy + (y - oy) * factor)))

    def fitted_to(self, width: int, height: int, margin: float = 0.04) -> Pose:
        """The pose on a panel of another size or aspect ratio, undistorted.

        People keep their size relative to the panel's height (a medium shot stays a medium shot) and their
        centre's relative place; if they would then leave the panel (less `margin` of its size on each side)
        they are shrunk and shifted until they fit.
        """
        if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
            raise PoseError(f"a panel size must be positive whole pixels, got {width!r} x {height!r}")
        box = self.bbox()
        if box is None:
            return Pose(width, height, self.people)
        x0, y0, x1, y1 = box
        cx, cy = (x0 + x1) / 2 / self.width * width, (y0 + y1) / 2 / self.height * height
        s = height / self.height
        mx, my = margin * width, margin * height
        room_w, room_h = width - 2 * mx, height - 2 * my
        if (x1 - x0) * s > room_w or (y1 - y0) * s > room_h:
            s = min(room_w / max(x1 - x0, 1e-9), room_h / max(y1 - y0, 1e-9))
        half_w, half_h = (x1 - x0) * s / 2, (y1 - y0) * s / 2
        cx = min(max(cx, mx + half_w), width - mx - half_w)
        cy = min(max(cy, my + half_h), height - my - half_h)
        ox, oy = (x0 + x1) / 2, (y0 + y1) / 2
        people = [p.mapped(lambda x, y: (cx + (x - ox) * s, cy + (y - oy) * s)) for p in self.people]
        return Pose(width, height, tuple(people))

    def clamped(self) -> Pose:
        """The pose with every point present moved into the allowed range around its canvas (CANVAS_REACH)."""
        low_x, high_x = -CANVAS_REACH * self.width, (1 + CANVAS_REACH) * self.width
        low_y, high_y = -CANVAS_REACH * self.height, (1 + CANVAS_REACH) * self.height
        return self._apply(None, lambda p: p.mapped(lambda x, y: (min(max(x, low_x), high_x), min(max(y, low_y), high_y))))

    def with_characters(self, characters: Sequence[str | None]) -> Pose:
        """The people, in order, standing for these cast ids (people beyond the list keep theirs)."""
        if len(characters) > len(self.people):
            raise PoseError(f"{len(characters)} cast members for a pose of {len(self.people)} people; add a skeleton first")
        return self._with_people([replace(p, character=characters[i]) if i < len(characters) else p for i, p in enumerate(self.people)])

    def swapped(self, a: int = 0, b: int = 1) -> Pose:
        """Persons a and b trade cast members: each skeleton stays where it is, the identities swap."""
        self._check_index(a)
        self._check_index(b)
        people = list(self.people)
        people[a], people[b] = replace(people[a], character=people[b].character), replace(people[b], character=people[a].character)
        return self._with_people(people)

    def with_person(self, person: Person) -> Pose:
        """The pose with one more person at the end."""
        return self._with_people([*self.people, person])

    def without_person(self, person: int) -> Pose:
        """The pose with one person removed."""
        self._check_index(person)
        return self._with_people([p for i, p in enumerate(self.people) if i != person])

    def person_for(self, character: str) -> Person | None:
        """The skeleton standing for a cast member, if any."""
        return next((p for p in self.people if p.character == character), None)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _present(x: float, y: float, conf: float) -> bool:
    return conf > 0 and x >= 0 and y >= 0


def _map_triples(values: tuple[float, ...], fn: Callable[[float, float], tuple[float, float]]) -> tuple[float, ...]:
    """Apply `fn` to each present x, y of a flat x, y, confidence array; missing points stay as they are."""
    if len(values) % 3:
        return values
    out: list[float] = []
    for j in range(0, len(values), 3):
        x, y, conf = values[j : j + 3]
        out += [*fn(x, y), conf] if _present(x, y, conf) else [x, y, conf]
    return tuple(out)


def pose_from_json(data: Any, source: str = "pose") -> Pose:
    """Build a Pose from OpenPose JSON data or text (pixel or normalised coordinates; missing = 0,0,0 or -1).

    Unknown keys (a library pose's name and tags, other tools' metadata) are ignored. The sizes are bounded
    (MAX_POSE_BYTES of text, MAX_PEOPLE, MAX_CANVAS, MAX_EXTRA_POINTS) and points far off the canvas are
    moved to the edge of the range kept around it (CANVAS_REACH), so that drawing a pose costs little.
    """
    if isinstance(data, (str, bytes)):
        if len(data) > MAX_POSE_BYTES:
            raise _too_large(source, len(data))
        data = _parse_json(data, source)
    if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
        data = data[0]  # some tools write a list with one frame
    if not isinstance(data, dict) or not isinstance(data.get("people"), list):
        raise PoseError(f"{source}: not OpenPose JSON; expected an object with a 'people' list.")
    if len(data["people"]) > MAX_PEOPLE:
        raise PoseError(f"{source}: {len(data['people'])} people in one pose; at most {MAX_PEOPLE} are read "
                        "(a panel uses at most 4). Keep the skeletons the panel needs and export the pose again.")
    width, height = data.get("canvas_width"), data.get("canvas_height")
    for key, value in (("canvas_width", width), ("canvas_height", height)):
        if value is not None and (not _number(value) or value <= 0):
            raise PoseError(f"{source}: {key} must be a positive number, got {value!r}.")
        if value is not None and not 1 <= round(value) <= MAX_CANVAS:
            raise PoseError(f"{source}: {key} is {value!r} pixels; a pose canvas is 1 to {MAX_CANVAS} pixels a side. "
                            "Export the pose again from the editor, or fix the canvas size in the file.")
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
            raise PoseError(f"{source}: people[{i}].pose_keypoints_2d must hold only numbers (finite: no NaN or "
                            "Infinity); write 0, 0, 0 for a missing point.")
        for key in EXTRA_KEYS:
            if isinstance(person.get(key), list) and len(person[key]) > 3 * MAX_EXTRA_POINTS:
                raise PoseError(f"{source}: people[{i}].{key} holds {len(person[key]) // 3} points; at most "
                                f"{MAX_EXTRA_POINTS} are read. Remove the array or export the pose again.")
        raw_people.append((kps, person))
    values = [v for kps, _ in raw_people for j, v in enumerate(kps) if (len(kps) == 54 and j % 3 != 2) or len(kps) == 36]
    normalised = bool(values) and all(-1 <= v <= 1 for v in values)
    if width is None or height is None:
        if normalised:
            raise PoseError(f"{source}: normalised coordinates need canvas_width and canvas_height.")
        box = max(values) if values else 512
        if box > MAX_CANVAS:
            raise PoseError(f"{source}: a point lies at {box:g} pixels and the file gives no canvas size; a pose canvas "
                            f"is at most {MAX_CANVAS} pixels a side. Add canvas_width and canvas_height, or export "
                            "the pose again from the editor.")
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
            (key, _to_pixels(tuple(float(v) for v in person[key]), width, height) if normalised else tuple(float(v) for v in person[key]))
            for key in EXTRA_KEYS
            if isinstance(person.get(key), list) and person[key] and all(_number(v) for v in person[key])
        )
        character = person.get("character") if isinstance(person.get("character"), str) else None
        people.append(Person(tuple(points), character, extra))
    pose = Pose(max(1, int(round(width))), max(1, int(round(height))), tuple(people))
    bounded = pose.clamped()
    if bounded != pose:
        log.warning("%s: some points lie more than %g canvas size(s) outside the %d x %d canvas; they were moved in "
                    "to that distance. Drag them back in the pose editor.", source, CANVAS_REACH, pose.width, pose.height)
    return bounded


def _parse_json(text: str | bytes, source: str) -> Any:
    try:
        return json.loads(text)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseError(f"{source}: not valid JSON ({exc}); export the pose again from the editor.") from None
    except RecursionError:
        raise PoseError(f"{source}: the JSON nests too deeply to be a pose; export the pose again from the editor.") from None


def _too_large(source: str, size: int) -> PoseError:
    return PoseError(f"{source} is {size / 1024 / 1024:.1f} MB; pose files larger than {MAX_POSE_BYTES // 1024 // 1024} MB "
                     "are not read (a two-person pose takes about 10 KB). Export the pose again from the editor.")


def _to_pixels(values: tuple[float, ...], width: float, height: float) -> tuple[float, ...]:
    return _map_triples(values, lambda x, y: (x * width, y * height))


def pose_to_json(pose: Pose, normalised: bool = False) -> dict[str, Any]:
    """OpenPose JSON in canvas pixels (or 0..1 when `normalised`); missing points written as 0, 0, 0."""
    sx, sy = (1 / pose.width, 1 / pose.height) if normalised else (1.0, 1.0)
    digits = 6 if normalised else 2
    people = []
    for person in pose.people:
        kps: list[float] = []
        for p in person.points:
            kps += [0.0, 0.0, 0.0] if p is None else [round(p[0] * sx, digits), round(p[1] * sy, digits), 1.0]
        entry: dict[str, Any] = {"pose_keypoints_2d": kps}
        for key, values in person.extra:
            if normalised:
                values = _map_triples(values, lambda x, y: (round(x * sx, digits), round(y * sy, digits)))
            entry[key] = list(values)
        if person.character:
            entry["character"] = person.character
        people.append(entry)
    return {"canvas_width": pose.width, "canvas_height": pose.height, "people": people}


def read_pose(path: Path) -> Pose:
    """Load an OpenPose JSON file; PoseError names the file and what is wrong.

    Only a regular file of at most MAX_POSE_BYTES is read: a FIFO, a device or a folder is refused without
    being opened for reading (opening a FIFO waits for a writer)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PoseError(f"Pose file {path} does not exist; draw the pose again or remove 'pose:' from the panel.") from None
    except OSError as exc:
        raise PoseError(f"Could not read the pose file {path}: {exc.strerror or exc}.") from None
    if not stat.S_ISREG(info.st_mode):
        raise _not_a_file(path, info.st_mode)
    if info.st_size > MAX_POSE_BYTES:
        raise _too_large(str(path), info.st_size)
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, opening it still returns at once
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise PoseError(f"Could not read the pose file {path}: {exc.strerror or exc}.") from None
    with os.fdopen(fd, "rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise _not_a_file(path, mode)
        raw = handle.read(MAX_POSE_BYTES + 1)
    if len(raw) > MAX_POSE_BYTES:
        raise _too_large(str(path), len(raw))
    return pose_from_json(_parse_json(raw, str(path)), str(path))


def _not_a_file(path: Path, mode: int) -> PoseError:
    kind = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "not a regular file")
    return PoseError(f"The pose file {path} is {kind}, not a JSON file; it was not read. Replace it with the pose's "
                     "JSON file, or draw the pose again.")


def write_pose(path: Path, pose: Pose) -> None:
    """Write OpenPose JSON atomically."""
    from storyboard.storyfile import atomic_write

    atomic_write(Path(path), json.dumps(pose_to_json(pose), indent=1).encode("utf-8"))


POSE_ANNOTATOR_ENV = "STORYBOARD_POSE_ANNOTATOR"
ANNOTATOR_FILE = "body_pose_model.pth"
ANNOTATOR_HELP = (
    f"Pose from a photo needs the OpenPose body annotator weights ({ANNOTATOR_FILE}, 200 MB, from the Hugging Face "
    f"repository lllyasviel/Annotators). Download that file, then set {POSE_ANNOTATOR_ENV} to the file or to its "
    "folder (or pass its path). Nothing is downloaded automatically; meanwhile, pose the skeleton by hand or start "
    "from the pose library."
)


def annotator_path(path: str | Path | None = None) -> Path:
    """The OpenPose body weights to use: `path`, else $STORYBOARD_POSE_ANNOTATOR; PoseError says how to get them."""
    import os

    given = path or os.environ.get(POSE_ANNOTATOR_ENV)
    if not given:
        raise PoseError(ANNOTATOR_HELP)
    candidate = Path(given).expanduser()
    if candidate.is_dir():
        candidate = candidate / ANNOTATOR_FILE
    if not candidate.is_file():
        raise PoseError(f"The pose annotator weights {candidate} do not exist. {ANNOTATOR_HELP}")
    return candidate


def pose_from_photo(image: Any, annotator: str | Path | None = None) -> Pose:
    """The body poses of the people in a photo (a PIL image or path), found with controlnet_aux's OpenPose."""
    # 1. Check inputs: the weights must be on disk (we never download them)
    weights = annotator_path(annotator)
    from PIL import Image, UnidentifiedImageError

    try:
        photo = image if isinstance(image, Image.Image) else Image.open(image)
        rgb = photo.convert("RGB")
    except (OSError, UnidentifiedImageError) as exc:
        raise PoseError(f"Could not read the photo {image}: {exc}. Use a PNG or JPEG image.") from None

    # 2. Load the body model with safe unpickling
    import numpy as np
    import torch
    from controlnet_aux.open_pose import OpenposeDetector
    from controlnet_aux.open_pose.body import Body, bodypose_model
    from controlnet_aux.open_pose.util import transfer

    body = Body.__new__(Body)
    body.model = bodypose_model()
    try:
        state = torch.load(weights, map_location="cpu", weights_only=True)
        body.model.load_state_dict(transfer(body.model, state))
    except Exception as exc:  # a corrupt or foreign file: any unpickling / key error means the same to the user
        raise PoseError(f"{weights} is not the OpenPose body model ({type(exc).__name__}: {exc}). {ANNOTATOR_HELP}") from None
    body.model.eval()
    if torch.cuda.is_available():
        body.to("cuda")

    # 3. Detect, and convert to canvas pixels
    width, height = rgb.size
    found = OpenposeDetector(body).detect_poses(np.asarray(rgb))
    people = tuple(
        Person(tuple(None if k is None else (float(k.x) * width, float(k.y) * height) for k in result.body.keypoints))
        for result in found
    )
    if not people:
        raise PoseError("No person was found in the photo; try a photo where the whole body is visible, or pose by hand.")
    return Pose(width, height, people)
