"""Retouching a region of a take (issue 15 item 3) with the draft engine and the studio handler: no weights, no torch.

The StoryMaker path (SDXL inpainting on tiny models) is in tests/test_storymaker_options.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from storyboard import studio
from storyboard.engines import RenderContext
from storyboard.engines.draft import DraftEngine
from storyboard.errors import ImageError, StoryboardError
from storyboard.render import build_request, project_style, render_project
from storyboard.retouch import composite, feather_px, feathered, read_mask, retouch_take
from storyboard.settings import Settings
from storyboard.storyfile import load_project

SIZE = (192, 128)
BOX = (40, 30, 99, 79)  # x0, y0, x1, y1 (inclusive) of the painted region


def box_mask(size: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = BOX) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


def outside(size: tuple[int, int], box: tuple[int, int, int, int], reach: int) -> np.ndarray:
    """True farther than `reach` from the box."""
    keep = np.ones(size[::-1], dtype=bool)
    x0, y0, x1, y1 = box
    keep[max(0, y0 - reach):y1 + 1 + reach, max(0, x0 - reach):x1 + 1 + reach] = False
    return keep


@pytest.fixture
def rendered(sample_dir: Path) -> Path:
    render_project(sample_dir, load_project(sample_dir), DraftEngine(), ["p4"], sizes={"p4": SIZE})
    return sample_dir


def test_feathered_weights_are_one_on_the_mask_and_exactly_zero_beyond_the_ramp() -> None:
    painted = np.asarray(box_mask()) > 0
    weights = feathered(painted, 3)
    assert (weights[painted] == 1.0).all()
    assert (weights[outside(SIZE, BOX, 6)] == 0.0).all()
    ramp = weights[~painted & ~outside(SIZE, BOX, 6)]
    assert ((ramp > 0) & (ramp < 1)).any()
    old, new = Image.new("RGB", SIZE, (10, 20, 30)), Image.new("RGB", SIZE, (200, 100, 50))
    mixed = np.asarray(composite(old, new, weights))
    assert (mixed[outside(SIZE, BOX, 6)] == (10, 20, 30)).all() and (mixed[painted] == (200, 100, 50)).all()


def test_draft_retouch_redraws_the_painted_region_from_the_panels_inputs(rendered: Path) -> None:
    """The draft engine has no inpainting: it draws the panel again (here after a new shot) and keeps only the
    painted region of that drawing; everything farther than the feather from it is the old take, exactly."""
    before = load_project(rendered).panel("p4")
    old = np.asarray(Image.open(rendered / before.selected_take.file).convert("RGB"))
    studio.update_panel(rendered, "p4", shot="wide")
    done = retouch_take(rendered, "p4", box_mask(), DraftEngine())
    panel = load_project(rendered).panel("p4")
    assert panel.selected_take == done.take and len(panel.takes) == len(before.takes) + 1
    assert done.take.seed == before.selected_take.seed and done.take.inputs == before.selected_take.inputs
    new = np.asarray(Image.open(rendered / done.take.file).convert("RGB"))
    keep = outside(SIZE, BOX, 2 * feather_px(SIZE))
    assert np.array_equal(new[keep], old[keep])
    x0, y0, x1, y1 = BOX
    assert not np.array_equal(new[y0:y1 + 1, x0:x1 + 1], old[y0:y1 + 1, x0:x1 + 1])
    project = load_project(rendered)
    request = build_request(rendered, project, project.panel("p4"), project_style(project), done.take.seed, SIZE)
    fresh = np.asarray(DraftEngine().render(request, RenderContext()).image)
    assert np.array_equal(new[y0:y1 + 1, x0:x1 + 1], fresh[y0:y1 + 1, x0:x1 + 1]), "inside: the new drawing"


def test_masks_that_cannot_be_used_are_refused_and_nothing_is_written(rendered: Path, tmp_path: Path) -> None:
    takes = load_project(rendered).panel("p4").takes
    with pytest.raises(StoryboardError, match="nothing painted"):
        retouch_take(rendered, "p4", Image.new("L", SIZE, 0), DraftEngine())
    with pytest.raises(StoryboardError, match="is 100x100, but the take is 192x128"):
        retouch_take(rendered, "p4", Image.new("L", (100, 100), 255), DraftEngine())
    (tmp_path / "mask.png").write_bytes(b"not a png")
    with pytest.raises(ImageError, match="retouch mask"):
        retouch_take(rendered, "p4", tmp_path / "mask.png", DraftEngine())
    with pytest.raises(StoryboardError, match="retouch prompt is empty"):
        retouch_take(rendered, "p4", box_mask(), DraftEngine(), prompt="  ")
    with pytest.raises(StoryboardError, match="no take yet"):
        retouch_take(rendered, "p1", box_mask(), DraftEngine())
    assert load_project(rendered).panel("p4").takes == takes
    half = read_mask(box_mask((96, 64), (20, 15, 49, 39)), SIZE)  # the same shape at half size is scaled up
    assert half.shape == (128, 192) and half[30:80, 40:100].all()


def test_the_studio_retouches_what_is_painted_on_the_chosen_take(rendered: Path) -> None:
    size = SIZE
    layer = np.zeros((size[1], size[0], 4), dtype=np.uint8)
    layer[30:80, 40:100] = (249, 115, 22, 255)  # the brush's colour, opaque where painted
    with pytest.raises(studio.StudioError, match="Nothing is painted"):
        studio.retouch_panel(rendered, "p4", [np.zeros_like(layer)], DraftEngine(), Settings())
    with pytest.raises(studio.StudioError, match="no take yet"):
        studio.retouch_panel(rendered, "p1", [layer], DraftEngine(), Settings())
    old_take = load_project(rendered).panel("p4").selected_take
    old = np.asarray(Image.open(rendered / old_take.file).convert("RGB"))
    studio.update_panel(rendered, "p4", shot="full")
    done = studio.retouch_panel(rendered, "p4", [layer], DraftEngine(), Settings(), prompt="")
    assert load_project(rendered).panel("p4").selected_take.file == done.take.file
    new = np.asarray(Image.open(rendered / done.take.file).convert("RGB"))
    keep = outside(size, BOX, 2 * feather_px(size))
    assert np.array_equal(new[keep], old[keep]) and not np.array_equal(new, old)


def test_step_blended_identity_is_a_per_project_style_setting(sample_dir: Path) -> None:
    """Issue 15 item 2: identity_start is overridden per project like the other sampler settings, and checked."""
    studio.set_style_overrides(sample_dir, {"identity_start": 0.3})
    assert dict(load_project(sample_dir).style_overrides) == {"identity_start": 0.3}
    project = load_project(sample_dir)
    options = dict(build_request(sample_dir, project, project.panel("p4"), project_style(project), 1, SIZE).options)
    assert (options["identity_start"], options["identity_end"]) == (0.3, 1.0)
    with pytest.raises(StoryboardError, match="identity_start 0.95 is out of range"):
        studio.set_style_overrides(sample_dir, {"identity_start": 0.95})
    studio.set_style_overrides(sample_dir, {"identity_start": 0.0})  # the style's own value: the override goes
    assert load_project(sample_dir).style_overrides == ()
