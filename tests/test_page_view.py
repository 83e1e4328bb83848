"""The studio's page view (issue 12 item 2): each page as the PDF prints it, drawn by the export's own code,
cached by what shapes it, with its lettering's geometry for the hand-lettering editor."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from storyboard import studio
from storyboard.engines.draft import DraftEngine
from storyboard.errors import StoryboardError
from storyboard.render import render_project
from storyboard.storyfile import load_project


def test_the_page_view_is_the_export_s_png_page_and_is_cached(project_dir: Path, tmp_path: Path) -> None:
    import time

    from storyboard.export import export_project, make_options

    root = project_dir
    render_project(root, load_project(root), DraftEngine())
    studio.set_lettering(root, "p2", "balloon", 0, at=(0.7, 0.3))
    result = export_project(root, load_project(root), make_options(tmp_path / "c.pdf", png_dir=tmp_path / "png"))
    view = studio.page_view(root, 1)
    with Image.open(result.pngs[0]) as exported:
        assert view.image.size == exported.size == (1240, 1754)
        assert view.image.tobytes() == exported.convert("RGB").tobytes(), "the same drawing, pixel for pixel"
    started = time.perf_counter()
    assert studio.page_view(root, 1) is view and time.perf_counter() - started < 0.2, "nothing changed: from the cache"
    data = view.to_data()
    p2 = next(p for p in data["panels"] if p["panel"] == "p2")
    x, y, w, h = p2["rect"]
    assert p2["balloons"][0]["center"] == pytest.approx([x + 0.7 * w, y + 0.3 * h], abs=0.02)
    assert p2["balloons"][0]["by_hand"] and not p2["balloons"][1]["by_hand"]
    studio.set_lettering(root, "p2", "balloon", 0, at=(0.3, 0.3))
    moved = studio.page_view(root, 1)
    assert moved.key != view.key and moved.png != view.png, "a moved balloon draws the page again"
    with pytest.raises(StoryboardError, match="no page 2"):
        studio.page_view(root, 2)


def test_a_page_with_a_missing_take_still_draws(project_dir: Path) -> None:
    view = studio.page_view(project_dir, 1)  # nothing rendered yet
    assert len(view.notes) == 3 and "no take yet" in view.notes[0]
    assert (236, 236, 240) in {c for _, c in view.image.getcolors(1 << 20)}
