"""Pose maps match controlnet_aux's reference OpenPose drawing pixel for pixel (issue 5); the pose-map CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import POSE_P2, REPO
from storyboard.cli import main
from storyboard.errors import PoseError
from storyboard.posemap import MAP_STYLES, render_pose_map, write_pose_map
from storyboard.poses import Pose, pose_from_json


def reference_map(pose: Pose, width: int, height: int) -> np.ndarray:
    """controlnet_aux's own drawing (draw_bodypose per person, as draw_poses does without hands/face)."""
    pytest.importorskip("controlnet_aux")
    from controlnet_aux.open_pose.body import Keypoint
    from controlnet_aux.open_pose.util import draw_bodypose

    canvas = np.zeros((height, width, 3), dtype=np.uint8)
    for person in pose.people:
        keypoints = [None if p is None else Keypoint(p[0] / pose.width, p[1] / pose.height) for p in person.points]
        canvas = draw_bodypose(canvas, keypoints)
    return canvas


def normalised(data: dict) -> dict:
    out = json.loads(json.dumps(data))
    for person in out["people"]:
        k = person["pose_keypoints_2d"]
        for j in range(0, len(k), 3):
            k[j] /= data["canvas_width"]
            k[j + 1] /= data["canvas_height"]
    return out


def with_missing_points(data: dict) -> dict:
    out = json.loads(json.dumps(data))
    out["people"][0]["pose_keypoints_2d"][3 * 4 : 3 * 4 + 3] = [0, 0, 0]  # a wrist
    out["people"][1]["pose_keypoints_2d"][3 * 16 : 3 * 16 + 3] = [-1, -1, -1]  # an ear
    return out


def differing_pixels(a: np.ndarray, b: np.ndarray) -> int:
    assert a.shape == b.shape and a.dtype == b.dtype == np.uint8
    return int((a != b).any(axis=2).sum())


@pytest.mark.parametrize("variant", [POSE_P2, normalised(POSE_P2), with_missing_points(POSE_P2)], ids=["pixels", "normalised", "missing"])
@pytest.mark.parametrize("size", [None, (512, 512), (768, 768)])
def test_map_matches_the_reference_renderer(variant: dict, size: tuple[int, int] | None) -> None:
    pose = pose_from_json(variant)
    width, height = size or (pose.width, pose.height)
    ours = render_pose_map(pose, *(size or ()))
    ref = reference_map(pose, width, height)
    # Both draw with the same integer geometry and no anti-aliasing, so the maps should be identical;
    # allow a handful of edge pixels in case an OpenCV build rasterises a polygon edge differently.
    assert differing_pixels(ours, ref) <= 0.0005 * width * height
    assert (ours != 0).any(axis=2).sum() > 0.02 * width * height  # something was drawn


def test_map_colours_and_background() -> None:
    pose = pose_from_json(POSE_P2)
    img = render_pose_map(pose)
    assert tuple(img[0, 0]) == (0, 0, 0)
    assert tuple(img[300, 300]) == (255, 85, 0)  # Mia's neck: joint colour 1 at full strength
    assert tuple(img[360, 240]) == (153, 102, 0)  # her right upper arm: limb colour 2 (255, 170, 0) x 0.6
    assert tuple(img[470, 225]) == (153, 153, 0)  # her right forearm: limb colour 3 (255, 255, 0) x 0.6


def test_thick_variant_draws_thicker_lines_scaled_with_the_image() -> None:
    pose = pose_from_json(POSE_P2)
    thin = (render_pose_map(pose) != 0).any(axis=2).sum()
    thick = (render_pose_map(pose, style="thick") != 0).any(axis=2).sum()
    assert thick > 2 * thin
    assert MAP_STYLES["thick"].sizes(2048, 1024) == (20, 20)
    assert MAP_STYLES["thick"].sizes(512, 512) == (5, 5)
    assert MAP_STYLES["openpose"].sizes(2048, 2048) == (4, 4)


def test_other_aspect_ratio_is_letterboxed_not_stretched() -> None:
    pose = pose_from_json(POSE_P2)
    img = render_pose_map(pose, 2048, 1024)  # square pose on a 2:1 map: scale 1, shifted right by 512
    assert tuple(img[300, 812]) == (255, 85, 0)
    assert not img[:, :500].any()


def test_hands_and_face_are_drawn_on_request() -> None:
    data = json.loads(json.dumps(POSE_P2))
    data["people"][0]["face_keypoints_2d"] = [300.0, 210.0, 1.0] + [0.0, 0.0, 0.0] * 69
    data["people"][0]["hand_right_keypoints_2d"] = [v for i in range(21) for v in (220.0 + i, 540.0 + 2 * i, 1.0)]
    pose = pose_from_json(data)
    plain, full = render_pose_map(pose), render_pose_map(pose, hands=True, face=True)
    assert tuple(full[210, 300]) == (255, 255, 255)
    assert (full != plain).any(axis=2).sum() > 100


@pytest.mark.parametrize(("size", "message"), [((0, 10), "positive whole-pixel"), ((10.5, 10), "positive whole-pixel"), ((9000, 9000), "too large")])
def test_bad_sizes_are_refused(size, message: str) -> None:
    with pytest.raises(PoseError, match=message):
        render_pose_map(pose_from_json(POSE_P2), *size)


def test_unknown_style() -> None:
    with pytest.raises(PoseError, match="choose one of: openpose, thick"):
        render_pose_map(pose_from_json(POSE_P2), style="hairline")


def test_write_pose_map(tmp_path: Path) -> None:
    out = write_pose_map(tmp_path / "maps" / "p2.png", pose_from_json(POSE_P2), width=512, height=512)
    assert np.array_equal(np.asarray(Image.open(out)), render_pose_map(pose_from_json(POSE_P2), 512, 512))


# ---- CLI --------------------------------------------------------------------------------------

@pytest.mark.parametrize("variant", [POSE_P2, normalised(POSE_P2)], ids=["pixels", "normalised"])
def test_cli_pose_map_matches_the_reference(tmp_path: Path, variant: dict) -> None:
    (tmp_path / "pose.json").write_text(json.dumps(variant))
    assert main(["pose-map", str(tmp_path / "pose.json"), "-o", str(tmp_path / "map.png"), "--width", "768", "--height", "768"]) == 0
    ours = np.asarray(Image.open(tmp_path / "map.png").convert("RGB"))
    assert differing_pixels(ours, reference_map(pose_from_json(variant), 768, 768)) <= 0.0005 * 768 * 768


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storyboard", *args], cwd=REPO, capture_output=True, text=True, timeout=120)


def test_cli_default_size_and_thick(tmp_path: Path) -> None:
    (tmp_path / "pose.json").write_text(json.dumps(POSE_P2))
    result = run("pose-map", str(tmp_path / "pose.json"), "-o", str(tmp_path / "map.png"), "--style", "thick")
    assert result.returncode == 0, result.stderr
    assert Image.open(tmp_path / "map.png").size == (1024, 1024)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{\"people\": [", "not valid JSON"),
        ("{\"canvas_width\": 10, \"canvas_height\": 10, \"people\": [{\"pose_keypoints_2d\": [1, 2]}]}", "must list 18 points"),
        ("[1, 2, 3]", "not OpenPose JSON"),
    ],
)
def test_cli_malformed_json_exits_2_with_a_clear_message(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "bad.json").write_text(content)
    result = run("pose-map", str(tmp_path / "bad.json"), "-o", str(tmp_path / "map.png"))
    assert result.returncode == 2
    assert message in result.stderr and "bad.json" in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "map.png").exists()


def test_cli_missing_file(tmp_path: Path) -> None:
    result = run("pose-map", str(tmp_path / "nope.json"), "-o", str(tmp_path / "map.png"))
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
