"""OpenPose JSON in and out: pixel and normalised coordinates, missing points, extra arrays."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import POSE_P2
from storyboard.errors import PoseError
from storyboard.poses import N_KEYPOINTS, pose_from_json, pose_to_json, read_pose, write_pose


def test_pixel_pose_round_trips(tmp_path: Path) -> None:
    pose = pose_from_json(POSE_P2)
    assert (pose.width, pose.height, len(pose.people)) == (1024, 1024, 2)
    assert pose.people[0].point("neck") == (300.0, 300.0)
    write_pose(tmp_path / "p.json", pose)
    assert read_pose(tmp_path / "p.json") == pose


def test_normalised_coordinates_and_missing_points() -> None:
    kps = []
    for i in range(N_KEYPOINTS):
        kps += [0.5, 0.25, 1.0] if i != 3 else [0, 0, 0]
    kps[-3:] = [-1, -1, -1]
    pose = pose_from_json({"canvas_width": 800, "canvas_height": 400, "people": [{"pose_keypoints_2d": kps}]})
    person = pose.people[0]
    assert person.point("nose") == (400.0, 100.0)
    assert person.point("right_elbow") is None and person.point("left_ear") is None
    assert pose_to_json(pose)["people"][0]["pose_keypoints_2d"][9:12] == [0.0, 0.0, 0.0]


def test_hand_and_face_arrays_are_kept() -> None:
    data = json.loads(json.dumps(POSE_P2))
    data["people"][0]["hand_left_keypoints_2d"] = [1.0, 2.0, 0.5] * 21
    pose = pose_from_json(data)
    assert pose_to_json(pose)["people"][0]["hand_left_keypoints_2d"] == [1.0, 2.0, 0.5] * 21


def test_scaled_to_keeps_proportions() -> None:
    pose = pose_from_json(POSE_P2).scaled_to(2048, 1024)  # square into wide: scale 1, centred
    assert pose.people[0].point("neck") == (812.0, 300.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"people": "x"}, "not OpenPose JSON"),
        ({"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": [1, 2, 3]}]}, "must list 18 points"),
        ({"canvas_width": -4, "canvas_height": 10, "people": []}, "canvas_width must be a positive"),
        ({"people": [{"pose_keypoints_2d": [0.5] * 54}]}, "normalised coordinates need canvas_width"),
        ({"canvas_width": 10, "canvas_height": 10, "people": [{"pose_keypoints_2d": ["a"] * 54}]}, "only numbers"),
    ],
)
def test_malformed_poses_are_refused(data: dict, message: str) -> None:
    with pytest.raises(PoseError, match=message):
        pose_from_json(data, "pose.json")


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PoseError, match="does not exist"):
        read_pose(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(PoseError, match="not valid JSON"):
        read_pose(tmp_path / "bad.json")
