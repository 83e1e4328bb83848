"""The draft engine: real storyboard thumbnails, deterministic per seed, behind the engine interface."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import POSE_P2
from storyboard.engines import CharacterRef, RenderContext, RenderRequest, get_engine
from storyboard.engines.draft import DraftEngine
from storyboard.engines.draftlook import block_px, hex_rgb, screentone_px
from storyboard.errors import EngineUnavailable, RenderCancelled
from storyboard.poses import pose_from_json
from storyboard.presets import list_styles, load_style

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


# ---------------------------------------------------------------- issue 12 item 4: draft mode for storyboard artists

NOTE_PAPER = (255, 253, 231)  # the prompt strip's paper


@pytest.mark.parametrize("style", ["", "ink-comic", "noir"])
def test_the_prompt_strip_is_drawn_only_when_asked_for(style: str) -> None:
    """Comic pages must not carry a prompt note inside the art; storyboard thumbnails may ask for one."""
    plain = render(request(style=style))
    strip = render(request(style=style, options=(("prompt_strip", True),)))
    assert colour_mask(plain, NOTE_PAPER, tolerance=2).sum() == 0, "no note strip by default"
    changed = np.nonzero((plain != strip).any(axis=2))[0]
    assert changed.size > 500 and changed.min() > plain.shape[0] * 0.6, "the strip is a note along the bottom edge"


def saturation(pixels: np.ndarray) -> np.ndarray:
    rgb = pixels.astype(int)
    top = rgb.max(axis=2)
    return np.where(top > 0, (top - rgb.min(axis=2)) / np.maximum(top, 1), 0.0)


def styled(style: str, **changes) -> np.ndarray:
    base = dict(characters=(MIA, LEO), pose=pose_from_json(POSE_P2), width=1024, height=1024, shot="medium", style=style)
    base.update(changes)
    return render(request(**base))


@pytest.mark.parametrize("style", ["noir", "manga-screentone", "pencil-sketch", "cinematic-storyboard"])
def test_black_and_white_styles_have_no_colour(style: str) -> None:
    pixels = styled(style)
    assert saturation(pixels).max() < 0.02, f"{style}: draft art must be in greys"
    for member in (MIA, LEO):
        assert colour_mask(pixels, hex_rgb(member.color), tolerance=30).sum() == 0


def test_noir_is_high_contrast_black_and_white() -> None:
    grey = styled("noir")[..., 0]
    extremes = ((grey < 40) | (grey > 215)).mean()
    assert extremes > 0.9, f"only {extremes:.0%} of noir pixels are near black or white"
    assert (grey < 40).mean() > 0.3 and (grey > 215).mean() > 0.1, "heavy shadows and hard light, both"


def test_manga_has_a_screentone_dot_pattern() -> None:
    pixels = styled("manga-screentone", characters=(), pose=None, shot="wide", width=1344, height=768)
    step = screentone_px((1344, 768))
    sky = pixels[int(768 * 0.12) : int(768 * 0.3), int(1344 * 0.1) : int(1344 * 0.9), 0] < 128
    assert 0.05 < sky.mean() < 0.6, f"dots cover {sky.mean():.0%} of the sky"
    same = (sky == np.roll(sky, step, axis=1)).mean()
    half = (sky == np.roll(sky, step // 2, axis=1)).mean()
    assert same > 0.95 and half < same - 0.1, f"dots repeat every {step} px: {same:.2f} vs {half:.2f} at half a step"


def test_pixel_art_is_made_of_blocks_in_a_limited_palette() -> None:
    pixels = styled("pixel-art")
    block = block_px(load_style("pixel-art").draft, (1024, 1024))
    assert block >= 8
    inner = pixels[block * 10 : block * 40, block * 10 : block * 40].astype(int)  # inside the title-safe guide
    blocks = inner.reshape(30, block, 30, block, 3)
    flat = (blocks == blocks[:, :1, :, :1]).all(axis=(1, 3, 4))
    assert flat.mean() > 0.9, f"only {flat.mean():.0%} of blocks are one colour"
    colours = {tuple(c) for c in blocks[:, 0, :, 0][flat]}
    assert len(colours) <= 16


def test_cinematic_is_letterboxed_and_watercolour_is_soft() -> None:
    cinematic = styled("cinematic-storyboard")
    bar = round(load_style("cinematic-storyboard").draft.letterbox * 1024)
    assert cinematic[4:bar - 2, 400:-4].mean() < 30 and cinematic[-bar + 2 : -4, 4:-4].mean() < 30
    assert cinematic[bar + 20 : -bar - 20].mean() > 80, "the picture shows between the bars"

    def edges(pixels: np.ndarray) -> float:
        grey = pixels.astype(float).mean(axis=2)[100:-100, 100:-100]
        return float(np.abs(np.diff(grey, axis=0)).mean() + np.abs(np.diff(grey, axis=1)).mean())

    plain, wash = styled(""), styled("watercolor-storybook")
    assert edges(wash) < 0.8 * edges(plain), "watercolour edges are soft"
    assert (saturation(wash[100:-100, 100:-100]) > 0.08).mean() > 0.3, "washes of colour cover the paper"


def test_every_shipped_style_has_its_own_look_and_colour_styles_keep_the_cast_colours() -> None:
    looks = {style_id: styled(style_id) for style_id in list_styles()}
    ids = list(looks)
    for i, a in enumerate(ids):
        for b in ids[i + 1 :]:
            assert (looks[a] != looks[b]).any(axis=2).mean() > 0.05, f"{a} and {b} look the same in draft mode"
    for style_id, pixels in looks.items():
        if load_style(style_id).draft.palette == "cast":
            for member in (MIA, LEO):
                assert colour_mask(pixels, hex_rgb(member.color), tolerance=60).sum() > 200, f"{member.name} in {style_id}"


def test_an_unknown_style_draws_the_plain_look_with_a_warning() -> None:
    result = DraftEngine().render(request(style="vaporwave"), RenderContext())
    assert np.array_equal(np.asarray(result.image), render(request()))
    assert any("'vaporwave' is not a preset" in w for w in result.metadata["warnings"])


def test_a_character_without_a_photo_is_drawn() -> None:
    nobody = CharacterRef(id="zoe", name="Zoe", color="#76b041", reference=None)
    pixels = render(request(characters=(nobody,)))
    assert colour_mask(pixels, (0x76, 0xB0, 0x41)).sum() > 50
