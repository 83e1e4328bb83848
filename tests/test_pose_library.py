"""The pose library in assets/poses (issue 5): enough poses, named and tagged, loadable, plausible, drawable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from storyboard.errors import PoseError
from storyboard.poselibrary import LIBRARY_DIR, library_pose, list_library, read_library_pose
from storyboard.posemap import render_pose_map
from storyboard.poses import pose_from_json, pose_to_json, read_pose, write_pose

FILES = sorted(LIBRARY_DIR.glob("*.json"))
SINGLE_REQUIRED = ["standing", "walking", "running", "sitting", "waving", "pointing", "arms-crossed", "thinking",
                   "jumping", "crouching", "lying", "back-view", "kneeling", "hands-on-hips", "reaching-up", "bowing"]
PAIR_REQUIRED = ["talking", "handshake", "hug", "walking-together", "arguing", "carrying"]


def test_the_library_has_the_poses_the_issue_asks_for() -> None:
    singles = {e.id for e in list_library(people=1)}
    pairs = {e.id for e in list_library(people=2)}
    assert set(SINGLE_REQUIRED) <= singles and len(singles) >= 16
    assert set(PAIR_REQUIRED) <= pairs and len(pairs) >= 6
    assert {e.id for e in list_library(tag="greeting")} >= {"waving", "handshake", "bowing"}


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_pose_loads_round_trips_and_renders(path: Path, tmp_path: Path) -> None:
    entry = read_library_pose(path)
    assert entry.name and entry.tags and ("single" in entry.tags) == (entry.people == 1)
    assert read_pose(path) == entry.pose  # plain OpenPose readers ignore name and tags
    write_pose(tmp_path / "p.json", entry.pose)
    assert read_pose(tmp_path / "p.json") == entry.pose
    assert pose_from_json(entry.to_json()) == entry.pose
    img = render_pose_map(entry.pose)
    assert img.shape == (entry.pose.height, entry.pose.width, 3)
    assert img.any(axis=2).sum() > 0.01 * entry.pose.width * entry.pose.height


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_each_pose_is_anatomically_plausible(path: Path) -> None:
    entry = read_library_pose(path)
    for person in entry.pose.people:
        box = person.bbox()
        assert box[0] >= 0 and box[1] >= 0 and box[2] <= entry.pose.width and box[3] <= entry.pose.height
        neck, nose = person.point("neck"), person.point("nose")
        for name in ("neck", "right_shoulder", "left_shoulder", "right_hip", "left_hip", "right_knee", "left_knee"):
            assert person.point(name) is not None, name
        if entry.id == "back-view":
            # seen from behind: no face, and the right shoulder is on the image's right
            assert nose is None and person.point("right_eye") is None and person.point("left_eye") is None
            assert person.point("right_shoulder")[0] > person.point("left_shoulder")[0]
            continue
        assert nose is not None
        # facing us or three-quarter: the person's right is on the image's left
        assert person.point("right_shoulder")[0] <= person.point("left_shoulder")[0] + 1
        assert person.point("right_hip")[0] <= person.point("left_hip")[0] + 1
        if entry.id != "lying":
            # upright: head above neck above hips (image y grows downward), feet lowest
            hips_y = (person.point("right_hip")[1] + person.point("left_hip")[1]) / 2
            assert neck[1] < hips_y
            if entry.id != "bowing":  # a deep bow drops the head below the neck
                assert nose[1] < neck[1]
            if "low" not in entry.tags and entry.id not in ("sitting", "carrying"):
                ankles = [p[1] for p in (person.point("right_ankle"), person.point("left_ankle")) if p]
                assert min(ankles) > hips_y
        # limb lengths in proportion to the figure: no stretched or collapsed bones
        scale = _distance(neck, ((person.point("right_hip")[0] + person.point("left_hip")[0]) / 2, (person.point("right_hip")[1] + person.point("left_hip")[1]) / 2))
        for a, b in (("right_shoulder", "right_elbow"), ("left_shoulder", "left_elbow"), ("right_hip", "right_knee"), ("left_hip", "left_knee")):
            if person.point(a) and person.point(b):
                assert 0.2 * scale < _distance(person.point(a), person.point(b)) < 1.1 * scale, (a, b)


def _distance(p: tuple[float, float], q: tuple[float, float]) -> float:
    return ((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2) ** 0.5


def test_two_person_poses_have_two_separate_people() -> None:
    for entry in list_library(people=2):
        a, b = (p.center() for p in entry.pose.people)
        assert a != b, entry.id


def test_unknown_id_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(PoseError, match="no library pose 'moonwalk'.*waving"):
        library_pose("moonwalk")
    good = json.loads((LIBRARY_DIR / "waving.json").read_text())
    (tmp_path / "noname.json").write_text(json.dumps({**good, "name": ""}))
    with pytest.raises(PoseError, match="needs a 'name'"):
        read_library_pose(tmp_path / "noname.json")
    (tmp_path / "badtags.json").write_text(json.dumps({**good, "tags": "single"}))
    with pytest.raises(PoseError, match="'tags' must be a list"):
        read_library_pose(tmp_path / "badtags.json")
    assert [e.id for e in list_library(tmp_path / "empty")] == []


def test_library_entries_keep_their_name_and_tags_in_json() -> None:
    entry = library_pose("handshake")
    data = entry.to_json()
    assert data["name"] == "Handshake" and "greeting" in data["tags"]
    assert pose_to_json(pose_from_json(data)) == pose_to_json(entry.pose)
