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


# ---- hostile pose files (issue 11) ----------------------------------------------------------------

import math  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import threading  # noqa: E402

from storyboard.poses import MAX_PEOPLE, MAX_POSE_BYTES  # noqa: E402


def _read_with_timeout(path: Path, seconds: float = 5.0) -> BaseException | Pose:
    """read_pose in a thread: a regression that blocks fails the test instead of hanging it."""
    result: list[BaseException | Pose] = []

    def target() -> None:
        try:
            result.append(read_pose(path))
        except BaseException as exc:  # handed to the test, which checks its type
            result.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"read_pose({path}) blocked for {seconds} s"
    return result[0]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_is_refused_without_being_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.json")
    outcome = _read_with_timeout(tmp_path / "p.json")
    assert isinstance(outcome, PoseError) and "named pipe (FIFO)" in str(outcome), outcome
    assert "draw the pose again" in str(outcome)


@pytest.mark.parametrize("kind", ["folder", "device"])
def test_folders_and_devices_are_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "p.json"
    if kind == "folder":
        path.mkdir()
    else:
        path = Path("/dev/zero")
        if not path.exists():
            pytest.skip("no /dev/zero here")
    outcome = _read_with_timeout(path)
    assert isinstance(outcome, PoseError) and f"is a {kind}" in str(outcome), outcome


def test_an_oversize_pose_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text(json.dumps(POSE_P2) + " " * MAX_POSE_BYTES)
    with pytest.raises(PoseError, match=r"MB; pose files larger than 2 MB are not read"):
        read_pose(tmp_path / "p.json")
    with pytest.raises(PoseError, match="not read"):
        pose_from_json(json.dumps(POSE_P2) + " " * MAX_POSE_BYTES, "the editor's pose")


def _hostile(**changes) -> dict:
    data = json.loads(json.dumps(POSE_P2))
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_hostile(canvas_width=0.4), r"canvas_width is 0.4 pixels; a pose canvas is 1 to 16384"),
        (_hostile(canvas_height=1e6), r"canvas_height is 1000000.0 pixels"),
        (_hostile(canvas_width=float("inf")), "canvas_width must be a positive number"),
        (_hostile(people=[POSE_P2["people"][0]] * (MAX_PEOPLE + 1)), f"{MAX_PEOPLE + 1} people in one pose"),
        (_hostile(people=[{**POSE_P2["people"][0], "face_keypoints_2d": [1.0] * 3000}]), "holds 1000 points"),
        ({"people": [{"pose_keypoints_2d": [5.0, 1e6, 1.0] * 18}]}, "no canvas size"),
    ],
)
def test_impossible_canvases_and_counts_are_refused(data: dict, message: str) -> None:
    with pytest.raises(PoseError, match=message):
        pose_from_json(data, "pose.json")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_non_finite_coordinates_are_refused(tmp_path: Path, literal: str) -> None:
    text = json.dumps(POSE_P2).replace("300", literal, 1)
    (tmp_path / "p.json").write_text(text)
    with pytest.raises(PoseError, match="finite: no NaN or Infinity"):
        read_pose(tmp_path / "p.json")


def test_non_finite_hand_points_are_treated_as_missing() -> None:
    data = _hostile()
    data["people"][0]["hand_left_keypoints_2d"] = [float("nan")] * 63
    assert dict(pose_from_json(data).people[0].extra) == {}


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(PoseError, match="nests too deeply"):
        read_pose(tmp_path / "p.json")


def test_far_points_are_brought_within_a_canvas_size_of_the_canvas() -> None:
    """Issue 11: a neck at y = 1e6 on a 2 px canvas made one draft panel take 40-220 s."""
    data = _hostile(canvas_width=2, canvas_height=2)
    data["people"][0]["pose_keypoints_2d"][4] = 1e6  # the neck's y
    data["people"][0]["hand_right_keypoints_2d"] = [1.0, 1e9, 1.0] * 21
    person = pose_from_json(data).people[0]
    assert person.point("neck") == (4.0, 4.0)  # x 300 and y 1e6, each kept within 2 canvas widths
    assert dict(person.extra)["hand_right_keypoints_2d"][:3] == (1.0, 4.0, 1.0)
    box = pose_from_json(data).bbox()
    assert box is not None and -2 <= box[0] and box[2] <= 4 and box[3] <= 4


def test_reasonable_poses_are_read_exactly_as_written() -> None:
    rng = random.Random(11)
    kps = [v for _ in range(18) for v in (rng.uniform(0, 2048), rng.uniform(0, 1024), 1.0)]
    pose = pose_from_json({"canvas_width": 1024, "canvas_height": 512, "people": [{"pose_keypoints_2d": kps}]})
    assert [c for p in pose.people[0].points for c in p] == [v for j, v in enumerate(kps) if j % 3 != 2]


def test_drawing_a_pose_scaled_far_off_the_panel_stays_bounded() -> None:
    """The draft engine and the pose map clamp what they draw, whatever a pose held in memory says."""
    from storyboard.engines import CharacterRef, RenderRequest
    from storyboard.engines.draft import DraftEngine
    from storyboard.posemap import render_pose_map

    pose = _p2().scaled(1e9, origin=(0.0, 0.0))
    request = RenderRequest("p2", "p", "p", characters=(CharacterRef("mia", "Mia", "#e4572e", Path("x")),),
                            pose=pose, width=256, height=128)
    staged = DraftEngine()._staging(request, random.Random(0), [])
    x0, y0, x1, y1 = staged.bbox()
    assert -256 <= x0 and x1 <= 512 and -128 <= y0 and y1 <= 256
    assert render_pose_map(pose, 64, 64).shape == (64, 64, 3)  # OpenCV's int32 pixels no longer overflow


def test_a_pose_canvas_is_at_least_one_pixel() -> None:
    with pytest.raises(PoseError, match="at least 1 x 1"):
        Pose(0, 10)
    assert math.isclose(pose_from_json(_hostile(canvas_width=0.6, canvas_height=1.4)).width, 1)


def test_every_sample_pose_names_the_panels_characters_in_order() -> None:
    """Issue 12 item 4: the pose editor showed "Person 1/2" on the sample's skeletons instead of Mia and Leo."""
    from conftest import SAMPLE
    from storyboard.storyfile import load_project

    project = load_project(SAMPLE)
    posed = [panel for panel in project.panels if panel.pose]
    assert posed and any(len(panel.characters) == 2 for panel in posed)
    for panel in posed:
        pose = read_pose(SAMPLE / panel.pose)
        assert [person.character for person in pose.people] == list(panel.characters), panel.id
