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


# ---- operations (issue 5) -----------------------------------------------------------------------

from storyboard.poses import KEYPOINTS, Pose, pose_from_photo  # noqa: E402


def _p2() -> Pose:
    return pose_from_json(POSE_P2).with_characters(["mia", "leo"])


def test_mirror_flips_the_canvas_and_swaps_left_and_right() -> None:
    pose = _p2()
    mirrored = pose.mirrored()
    mia = mirrored.people[0]
    # Mia's right shoulder was at x=250 (image left, facing us); mirrored, her right side is the old left one.
    assert mia.point("right_shoulder") == (1024 - 350.0, 300.0)
    assert mia.point("left_shoulder") == (1024 - 250.0, 300.0)
    assert mia.point("right_eye") == (1024 - 310.0, 185.0)
    assert mia.character == "mia"
    assert mia.point("right_shoulder")[0] < mia.point("left_shoulder")[0]  # still facing us: right on image-left
    assert mirrored.mirrored() == pose


def test_mirror_one_person_about_their_centre_keeps_the_other() -> None:
    pose = _p2()
    out = pose.mirrored(person=1)
    assert out.people[0] == pose.people[0]
    assert out.people[1].center() == pytest.approx(pose.people[1].center())
    # Leo spans x 620..780 (centre 700): his old left wrist (780, 520) becomes his right wrist at 620.
    assert out.people[1].point("right_wrist") == (620.0, 520.0)
    assert out.people[1].point("right_elbow") == (630.0, 420.0)


def test_mirror_swaps_hands_and_flips_their_points() -> None:
    data = json.loads(json.dumps(POSE_P2))
    data["people"][0]["hand_left_keypoints_2d"] = [400.0, 500.0, 0.9] + [0.0, 0.0, 0.0] * 20
    person = pose_from_json(data).mirrored().people[0]
    extra = dict(person.extra)
    assert "hand_left_keypoints_2d" not in extra
    assert extra["hand_right_keypoints_2d"][:3] == (624.0, 500.0, 0.9)
    assert extra["hand_right_keypoints_2d"][3:6] == (0.0, 0.0, 0.0)  # a missing point stays missing


def test_move_and_scale() -> None:
    pose = _p2()
    moved = pose.moved(10, -5, person=0)
    assert moved.people[0].point("neck") == (310.0, 295.0)
    assert moved.people[1] == pose.people[1]
    assert pose.moved(3, 4).people[1].point("neck") == (703.0, 304.0)
    bigger = pose.scaled(2.0, origin=(300.0, 930.0), person=0)  # about Mia's feet
    assert bigger.people[0].point("neck") == (300.0, 930.0 - 2 * 630.0)
    assert pose.scaled(1.5).bbox() == pytest.approx(_scaled_box(pose.bbox(), 1.5))
    with pytest.raises(PoseError, match="positive"):
        pose.scaled(0)
    with pytest.raises(PoseError, match="no person 2"):
        pose.moved(1, 1, person=2)


def _scaled_box(box, k):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return (cx + (box[0] - cx) * k, cy + (box[1] - cy) * k, cx + (box[2] - cx) * k, cy + (box[3] - cy) * k)


@pytest.mark.parametrize("size", [(1344, 768), (768, 1344), (1024, 1024), (512, 512), (2048, 512)])
def test_fit_into_another_aspect_ratio_keeps_proportions_and_stays_inside(size: tuple[int, int]) -> None:
    pose = _p2()
    fitted = pose.fitted_to(*size)
    assert (fitted.width, fitted.height) == size
    x0, y0, x1, y1 = fitted.bbox()
    assert x0 >= 0 and y0 >= 0 and x1 <= size[0] and y1 <= size[1]
    ox0, oy0, ox1, oy1 = pose.bbox()
    assert (x1 - x0) / (y1 - y0) == pytest.approx((ox1 - ox0) / (oy1 - oy0))  # undistorted
    assert [p.character for p in fitted.people] == ["mia", "leo"]
    # Mia stays to the left of Leo, each keeps their own height ratio
    assert fitted.people[0].point("neck")[0] < fitted.people[1].point("neck")[0]


def test_fit_keeps_the_shot_size_relative_to_the_panel_height() -> None:
    fitted = _p2().fitted_to(1344, 768)
    assert fitted.people[0].height() / 768 == pytest.approx(745 / 1024)


def test_swap_which_person_is_which_cast_member() -> None:
    pose = _p2()
    swapped = pose.swapped(0, 1)
    assert [p.character for p in swapped.people] == ["leo", "mia"]
    assert [p.points for p in swapped.people] == [p.points for p in pose.people]
    assert swapped.person_for("mia").point("neck") == (700.0, 300.0)
    with pytest.raises(PoseError, match="3 cast members"):
        pose.with_characters(["a", "b", "c"])


def test_add_remove_and_hide_points() -> None:
    pose = _p2()
    one = pose.without_person(0)
    assert [p.character for p in one.people] == ["leo"]
    assert one.with_person(pose.people[0]).people[1] == pose.people[0]
    assert pose.people[0].without_point("left_wrist").point("left_wrist") is None
    assert len(KEYPOINTS) == 18


def test_normalised_output_round_trips() -> None:
    pose = _p2()
    data = pose_to_json(pose, normalised=True)
    assert all(0 <= v <= 1 for v in data["people"][0]["pose_keypoints_2d"])
    back = pose_from_json(data)
    for a, b in zip(back.people[0].points, pose.people[0].points):
        assert a == pytest.approx(b, abs=0.01)


def test_normalised_hand_arrays_become_pixels_with_the_body() -> None:
    kps = [0.5, 0.5, 1.0] * N_KEYPOINTS
    data = {"canvas_width": 200, "canvas_height": 100,
            "people": [{"pose_keypoints_2d": kps, "face_keypoints_2d": [0.25, 0.5, 1.0, 0, 0, 0]}]}
    person = pose_from_json(data).people[0]
    assert dict(person.extra)["face_keypoints_2d"] == (50.0, 50.0, 1.0, 0.0, 0.0, 0.0)


def test_unknown_top_level_keys_and_json_text_are_accepted() -> None:
    data = {"name": "Waving", "tags": ["single"], "version": 1.3, **POSE_P2}
    assert pose_from_json(data) == pose_from_json(POSE_P2)
    assert pose_from_json(json.dumps(POSE_P2)) == pose_from_json(POSE_P2)
    with pytest.raises(PoseError, match="not valid JSON"):
        pose_from_json("{oops", "editor")


def test_pose_from_photo_without_weights_says_how_to_get_them(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("STORYBOARD_POSE_ANNOTATOR", raising=False)
    with pytest.raises(PoseError, match=r"body_pose_model\.pth.*lllyasviel/Annotators.*STORYBOARD_POSE_ANNOTATOR"):
        pose_from_photo(tmp_path / "photo.png")
    monkeypatch.setenv("STORYBOARD_POSE_ANNOTATOR", str(tmp_path))  # a folder without the file
    with pytest.raises(PoseError, match="do not exist"):
        pose_from_photo(tmp_path / "photo.png")


def test_pose_from_photo_with_a_corrupt_weights_file(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "body_pose_model.pth").write_bytes(b"not a checkpoint")
    Image.new("RGB", (64, 64)).save(tmp_path / "photo.png")
    with pytest.raises(PoseError, match="is not the OpenPose body model"):
        pose_from_photo(tmp_path / "photo.png", annotator=tmp_path)
