"""The pose library: ready-made OpenPose skeletons in `assets/poses/`, each with a name and tags.

A library file is ordinary OpenPose JSON with two extra top-level keys, `name` and `tags`, which other
OpenPose tools ignore. The file's stem is the pose's id.
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import PoseError
from storyboard.poses import Pose, pose_from_json, pose_to_json

LIBRARY_DIR = Path(__file__).resolve().parent.parent / "assets" / "poses"


@dataclass(frozen=True)
class LibraryPose:
    """One library entry: id (the file stem), display name, tags and the pose itself."""

    id: str
    name: str
    tags: tuple[str, ...]
    pose: Pose

    @property
    def people(self) -> int:
        return len(self.pose.people)

    def to_json(self) -> dict:
        """OpenPose JSON with the name and tags, as stored in the library."""
        return {"name": self.name, "tags": list(self.tags), **pose_to_json(self.pose)}


def read_library_pose(path: Path) -> LibraryPose:
    """Load one library file; PoseError names the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PoseError(f"Library pose {path} does not exist.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoseError(f"{path}: not valid JSON ({exc}); fix or remove the file.") from None
    pose = pose_from_json(data, str(path))
    name, tags = data.get("name"), data.get("tags", [])
    if not isinstance(name, str) or not name.strip():
        raise PoseError(f"{path}: a library pose needs a 'name' (a short text such as \"Waving\").")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise PoseError(f"{path}: 'tags' must be a list of words, e.g. [\"single\", \"greeting\"].")
    return LibraryPose(path.stem, name.strip(), tuple(tags), pose)


@functools.cache
def _load_dir(folder: str) -> dict[str, LibraryPose]:
    return {p.stem: read_library_pose(p) for p in sorted(Path(folder).glob("*.json"))}


def list_library(folder: Path = LIBRARY_DIR, people: int | None = None, tag: str | None = None) -> list[LibraryPose]:
    """Library poses sorted by name, optionally only those with `people` skeletons or a tag."""
    entries = _load_dir(str(Path(folder).resolve())).values()
    return sorted(
        (e for e in entries if (people is None or e.people == people) and (tag is None or tag in e.tags)),
        key=lambda e: e.name.lower(),
    )


def library_pose(pose_id: str, folder: Path = LIBRARY_DIR) -> LibraryPose:
    """One library pose by id; PoseError lists the ids when it is unknown."""
    entries = _load_dir(str(Path(folder).resolve()))
    try:
        return entries[pose_id]
    except KeyError:
        raise PoseError(f"There is no library pose {pose_id!r}; the library has: {', '.join(sorted(entries))}.") from None
