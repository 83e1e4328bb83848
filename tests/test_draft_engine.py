"""The draft engine: real storyboard thumbnails, deterministic per seed, behind the engine interface."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import POSE_P2
from storyboard.engines import CharacterRef, RenderContext, RenderRequest, get_engine
from storyboard.engines.draft import DraftEngine
from storyboard.errors import EngineUnavailable, RenderCancelled
from storyboard.poses import pose_from_json

MIA = CharacterRef(id="mia", name="Mia", color="#e4572e", reference=Path("missing.png"))
LEO = CharacterRef(id="leo", name="Leo", color="#2e86ab", reference=Path("missing.png"))


def request(**changes) -> RenderRequest:
    base = dict(panel_id="p1", prompt="Mia runs for the bus", styled_prompt="x", characters=(MIA,), shot="full",
                seed=7, width=768, height=512)
    base.update(changes)
    return RenderRequest(**base)


def render(req: RenderRequest) -> np.ndarray:
    result = DraftEngine().render(req, RenderContext())
    assert result.image.size == (req.width, req.height)
    return np.asarray(result.image)


def colour_mask(pixels: np.ndarray, rgb: tuple[int, int, int], tolerance: int = 12) -> np.ndarray:
    return (np.abs(pixels.astype(int) - np.array(rgb)).max(axis=2) <= tolerance)


def test_same_seed_same_image_other_seed_other_image() -> None:
    a, b, c = render(request()), render(request()), render(request(seed=8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("shot", ["establishing", "wide", "full", "medium", "close-up", "extreme-close-up", "over-the-shoulder"])
@pytest.mark.parametrize("cast", [(), (MIA,), (MIA, LEO)])
def test_each_character_is_drawn_in_their_colour(shot: str, cast: tuple) -> None:
    pixels = render(request(shot=shot, characters=cast))
    for member in (MIA, LEO):
        rgb = tuple(int(member.color[i : i + 2], 16) for i in (1, 3, 5))
        drawn = colour_mask(pixels, rgb).sum()
        assert (drawn > 50) == (member in cast), f"{member.name} in {shot}: {drawn} pixels"


def test_two_characters_stand_apart_in_skeleton_order() -> None:
    pixels = render(request(characters=(MIA, LEO), shot="full"))
    xs_mia = np.nonzero(colour_mask(pixels, (0xE4, 0x57, 0x2E)))[1]
    xs_leo = np.nonzero(colour_mask(pixels, (0x2E, 0x86, 0xAB)))[1]
    assert np.median(xs_mia) < np.median(xs_leo)


def test_figures_follow_the_panel_pose() -> None:
    pose = pose_from_json(POSE_P2)
    # the pose canvas is square; render at the same size so coordinates map one to one
    pixels = render(request(characters=(MIA, LEO), pose=pose, width=1024, height=1024, shot="medium"))
    for person, member in zip(pose.people, (MIA, LEO)):
        rgb = tuple(int(member.color[i : i + 2], 16) for i in (1, 3, 5))
        mask = colour_mask(pixels, rgb, tolerance=30)  # joints are drawn a shade lighter
        for name in ("right_wrist", "left_ankle", "right_knee"):
            x, y = (round(v) for v in person.point(name))
            assert mask[y - 6 : y + 7, x - 6 : x + 7].any(), f"{member.name}'s {name} is not drawn at {x},{y}"


def test_a_pose_with_too_few_people_warns_and_stages_the_rest() -> None:
    one = pose_from_json({**POSE_P2, "people": POSE_P2["people"][:1]})
    result = DraftEngine().render(request(characters=(MIA, LEO), pose=one, width=1024, height=1024), RenderContext())
    assert any("1 skeleton(s) for 2 character(s)" in w for w in result.metadata["warnings"])
    assert colour_mask(np.asarray(result.image), (0x2E, 0x86, 0xAB)).sum() > 50


def test_progress_is_reported_and_cancel_stops_the_render() -> None:
    steps: list[tuple[int, int]] = []
    DraftEngine().render(request(), RenderContext(on_progress=lambda s, t: steps.append((s, t))))
    assert steps[-1][0] == steps[-1][1] and len(steps) == steps[-1][1]
    cancel = threading.Event()

    def cancel_after_first(step: int, total: int) -> None:
        cancel.set()

    with pytest.raises(RenderCancelled):
        DraftEngine().render(request(), RenderContext(on_progress=cancel_after_first, cancel_event=cancel))


def test_metadata_describes_the_render() -> None:
    result = DraftEngine().render(request(seed=42), RenderContext())
    assert result.metadata["engine"] == "draft" and result.metadata["seed"] == 42
    assert result.metadata["width"] == 768 and result.metadata["height"] == 512


def test_request_sizes_are_checked() -> None:
    with pytest.raises(ValueError, match="multiples of 8"):
        request(width=770)


def test_get_engine() -> None:
    assert get_engine("draft").name == "draft"
    assert get_engine("auto").name in ("draft", "storymaker")
    with pytest.raises(EngineUnavailable, match="Unknown engine 'magic'"):
        get_engine("magic")
