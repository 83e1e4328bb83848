"""Page layout (issue 4): page sizes, templates, auto mode, reading order, gutters, render sizes."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import pytest

from storyboard.layout import (
    AUTO,
    LayoutError,
    PageSpec,
    layout_pages,
    list_templates,
    load_template,
    page_spec,
    parse_template,
    project_layout,
    render_sizes,
    slot_render_size,
)
from storyboard.model import Panel, Project
from storyboard.pagesizes import PageSizeError, parse_page_size
from storyboard.storyfile import load_project

SHIPPED = ("grid-2x2", "grid-2x3", "grid-3x3", "splash", "manga-5", "strip-3")


def panels(n: int, shots: tuple[str, ...] = ("medium",)) -> tuple[Panel, ...]:
    return tuple(Panel(id=f"p{i + 1}", shot=shots[i % len(shots)]) for i in range(n))


def spec(size: str = "a4", reading: str = "ltr", gutter_mm: float = 4.0) -> PageSpec:
    return PageSpec(parse_page_size(size), 12.0, gutter_mm, reading)


@pytest.mark.parametrize(
    "name, width, height",
    [("a4", 595, 842), ("letter", 612, 792), ("comic", 477, 738), ("b5", 499, 709), ("a5", 420, 595), ("A4", 595, 842)],
)
def test_named_page_sizes_are_exact_points(name: str, width: float, height: float) -> None:
    size = parse_page_size(name)
    assert (size.width_pt, size.height_pt) == (width, height)


def test_custom_page_size_in_mm() -> None:
    size = parse_page_size("210x297mm")
    assert size.width_pt == pytest.approx(595.28, abs=0.01) and size.height_pt == pytest.approx(841.89, abs=0.01)


@pytest.mark.parametrize("bad", ["a3", "210x297", "10x10mm", "huge", ""])
def test_bad_page_size_says_what_is_accepted(bad: str) -> None:
    with pytest.raises(PageSizeError, match="a4.*letter|between"):
        parse_page_size(bad)


def test_all_issue_templates_ship() -> None:
    assert set(SHIPPED) | {AUTO} <= set(list_templates())


def _neighbour_gaps(rects: list) -> list[float]:
    """Gaps between slots that face each other across a gutter (overlapping in the other direction)."""
    gaps = []
    for a, b in itertools.permutations(rects, 2):
        if a.right <= b.x and min(a.bottom, b.bottom) - max(a.y, b.y) > 1:
            if not any(c.x >= a.right - 1e-6 and c.right <= b.x + 1e-6 for c in rects):
                gaps.append(b.x - a.right)
        if a.bottom <= b.y and min(a.right, b.right) - max(a.x, b.x) > 1:
            if not any(c.y >= a.bottom - 1e-6 and c.bottom <= b.y + 1e-6 for c in rects):
                gaps.append(b.y - a.bottom)
    return gaps


@pytest.mark.parametrize("template", SHIPPED + (AUTO,))
@pytest.mark.parametrize("reading", ["ltr", "rtl"])
def test_slots_inside_margins_without_overlap_and_with_equal_gutters(template: str, reading: str) -> None:
    page_spec_ = spec(reading=reading)
    mixed = ("establishing", "medium", "close-up", "wide", "full", "over-the-shoulder", "extreme-close-up")
    pages = layout_pages(panels(9, mixed), template, page_spec_)
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert [pp.number for page in pages for pp in page.panels] == list(range(1, 10))
    live = page_spec_.live
    for page in pages:
        rects = [pp.rect for pp in page.panels]
        for rect in rects:
            assert live.contains(rect), (template, rect)
        for a, b in itertools.combinations(rects, 2):
            assert not a.overlaps(b), (template, a, b)
        gaps = _neighbour_gaps(rects)
        for gap in gaps:
            assert gap == pytest.approx(page_spec_.gutter_pt, abs=1e-6), (template, gaps)
        if template != "splash" and len(rects) > 1:
            assert gaps, "neighbouring panels were found"


@pytest.mark.parametrize("template", ["grid-2x2", "grid-3x3", "manga-5", "strip-3"])
def test_full_pages_fill_the_live_area(template: str) -> None:
    s = spec(gutter_mm=0)
    page = layout_pages(panels(len(load_template(template).slots)), template, s)[0]
    area = sum(pp.rect.w * pp.rect.h for pp in page.panels)
    assert area == pytest.approx(s.live.w * s.live.h, rel=1e-9)


def test_rtl_puts_panel_one_on_the_right_of_its_row() -> None:
    ltr = layout_pages(panels(4), "grid-2x2", spec(reading="ltr"))[0].panels
    rtl = layout_pages(panels(4), "grid-2x2", spec(reading="rtl"))[0].panels
    assert ltr[0].rect.x < ltr[1].rect.x and ltr[0].rect.y == ltr[1].rect.y
    assert rtl[0].rect.x > rtl[1].rect.x and rtl[0].rect.y == rtl[1].rect.y
    assert rtl[2].rect.x > rtl[3].rect.x and rtl[2].rect.y > rtl[0].rect.y
    manga = layout_pages(panels(5), "manga-5", spec(reading="rtl"))[0].panels
    assert manga[1].rect.y == manga[2].rect.y and manga[1].rect.x > manga[2].rect.x


def test_more_panels_than_the_template_holds_continue_on_new_pages() -> None:
    pages = layout_pages(panels(9), "grid-2x2", spec())
    assert [len(p.panels) for p in pages] == [4, 4, 1]
    assert pages[2].panels[0].panel_id == "p9" and pages[2].panels[0].rect == pages[0].panels[0].rect


def test_unknown_template_lists_the_available_ones() -> None:
    with pytest.raises(LayoutError) as error:
        layout_pages(panels(2), "grid-9x9", spec())
    message = str(error.value)
    assert "grid-9x9" in message and all(name in message for name in SHIPPED + (AUTO,))


@pytest.mark.parametrize(
    "body, expected",
    [
        ("schema: 1\nname: x\ngrid: [2, 2]\nslots: [[0, 0, 2, 1], [1, 0, 1, 1]]\n", "overlaps slot 1"),
        ("schema: 1\nname: x\ngrid: [2, 2]\nslots: [[0, 0, 3, 1]]\n", "outside the 2 x 2 grid"),
        ("schema: 1\nname: x\ngrid: [2, 2]\nslots: [[0, 0, 1]]\n", "slot 1 must be"),
        ("schema: 1\nname: x\ngrid: [2, 2]\ncolour: red\nslots: [[0, 0, 1, 1]]\n", "line 4: unknown key 'colour'"),
        ("schema: 2\nname: x\ngrid: [1, 1]\nslots: [[0, 0, 1, 1]]\n", "schema 2 is not supported"),
        ("schema: 1\nname: x\nslots: [[0, 0, 1, 1]]\n", "no 'grid'"),
    ],
)
def test_malformed_templates_are_refused_with_file_and_reason(body: str, expected: str) -> None:
    with pytest.raises(LayoutError, match=expected):
        parse_template(body, "bad", "presets/templates/bad.yaml")


def test_auto_gives_wide_shots_wide_slots_and_close_ups_small_ones() -> None:
    shots = ("establishing", "close-up", "medium", "wide", "close-up", "close-up", "close-up")
    pages = layout_pages(panels(len(shots), shots), AUTO, spec())
    rects = {pp.panel_id: pp.rect for page in pages for pp in page.panels}
    live_w = spec().live.w
    assert rects["p1"].w == pytest.approx(live_w) and rects["p4"].w == pytest.approx(live_w)
    assert rects["p2"].w < rects["p3"].w
    assert rects["p5"].w < 0.4 * live_w, "three close-ups share a row"
    assert rects["p1"].aspect > 1.5


@pytest.mark.parametrize("aspect", [1.0, 16 / 9, 9 / 16, 0.7, 2.2, 1 / 3, 4.0, 1.33])
def test_slot_render_size_is_sdxl_friendly_near_one_megapixel(aspect: float) -> None:
    w, h = slot_render_size(aspect)
    assert w % 64 == 0 and h % 64 == 0
    assert 0.8e6 <= w * h <= 1.25e6
    clamped = min(max(aspect, 1 / 2.5), 2.5)
    assert abs(w / h - clamped) / clamped < 0.06


def test_render_sizes_follow_slot_aspect(project_dir: Path) -> None:
    project = load_project(project_dir)
    pages = project_layout(project, template="strip-3")
    sizes = render_sizes(pages)
    assert set(sizes) == {"p1", "p2", "p3"}
    for page in pages:
        for pp in page.panels:
            w, h = sizes[pp.panel_id]
            assert abs(w / h - pp.rect.aspect) / pp.rect.aspect < 0.06


def test_page_spec_follows_project_settings_and_overrides() -> None:
    project = Project(title="t")
    assert page_spec(project).size.name == "a4" and page_spec(project).reading == "ltr"
    rtl = dataclasses.replace(project, page=dataclasses.replace(project.page, reading="rtl", size="letter"))
    assert page_spec(rtl).reading == "rtl" and page_spec(rtl).size.width_pt == 612
    assert page_spec(rtl, size="comic", reading="ltr").size.width_pt == 477
    with pytest.raises(LayoutError, match="too little"):
        page_spec(project, margin_mm=140)


def test_render_project_renders_at_the_slot_size(project_dir: Path) -> None:
    from PIL import Image

    from storyboard.engines.draft import DraftEngine
    from storyboard.render import render_project

    project = load_project(project_dir)
    sizes = render_sizes(project_layout(project, template="grid-2x3"))
    project = render_project(project_dir, project, DraftEngine(), sizes=sizes)
    for panel in project.panels:
        with Image.open(project_dir / panel.selected_take.file) as image:
            assert image.size == sizes[panel.id]
