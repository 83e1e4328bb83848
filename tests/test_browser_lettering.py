"""Lettering by hand on the page view, in Chromium at 1280x800 (issue 12, items 2 and 3).

1. Dragging a balloon on the page view moves it in the exported PDF (checked with pdftotext -bbox), and it
   stays there after the panel is rendered again (a new take).
2. Dragging a balloon's tail tip re-aims it; Reset to automatic puts the balloon back where the studio places it.
3. Resizing a caption by its corner, a touch drag, arrow keys; a script's out-of-range value is refused with a message.

One app server (draft engine) for the module; each test opens its own page, so its own session.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from browser_kit import BROWSER_MARKS, settle, shot
from conftest import ERROR_BADGES, session_with_test_project
from storyboard.layout import project_layout
from storyboard.storyfile import load_project

pytestmark = [
    *BROWSER_MARKS,
    pytest.mark.skipif(not Path("/usr/bin/pdftotext").exists(), reason="needs pdftotext (poppler-utils)"),
]
pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright Python package")


@pytest.fixture
def pages_tab(app, browser) -> Iterator[tuple[object, Path, Path]]:
    """A fresh session with the test project (3 panels, rendered in draft mode) on the Pages tab: (page, root, session)."""
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import render_project

    with session_with_test_project(app, browser, lambda root: render_project(root, load_project(root), DraftEngine())) \
            as (page, root, session):
        page.get_by_role("tab", name="6 · Pages & export").click()
        page.wait_for_selector("#page-view .lv-item", timeout=20_000)
        settle(page)
        yield page, root, session


def item(page, panel: str, target: str, index: int | None = None):
    return page.locator(f'#page-view .lv-item[data-panel="{panel}"][data-target="{target}"][data-index="{"" if index is None else index}"]')


def page_scale(page) -> float:
    """Screen pixels per page point on the page view."""
    box = page.locator("#page-view .lv-svg").bounding_box()
    width_pt = float(page.locator("#page-view .lv-svg").get_attribute("viewBox").split()[2])
    return box["width"] / width_pt


def drag(page, locator, dx: float, dy: float, steps: int = 8) -> None:
    """Press on the middle of `locator`, move by (dx, dy) screen pixels and release, like a mouse."""
    box = locator.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + dx, y + dy, steps=steps)
    page.mouse.up()


def export_pdf(page, session: Path, root: Path) -> Path:
    """Press Export (comic pages) and return the PDF written."""
    page.locator("#export").click()
    page.wait_for_function("document.querySelector('#export-status')?.innerText.includes('Exported')", timeout=60_000)
    settle(page)
    (pdf,) = (session / "_exports" / root.name).glob("*.pdf")
    return pdf


def words(pdf: Path) -> list[tuple[str, float, float, float, float]]:
    """Every word of the PDF with its box in points from the top-left: (word, x0, y0, x1, y1) (pdftotext -bbox)."""
    html = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    pattern = r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>'
    return [(w, float(a), float(b), float(c), float(d)) for a, b, c, d, w in re.findall(pattern, html)]


def text_centre(pdf: Path, text: str) -> tuple[float, float]:
    """The middle of the box of the words of `text` as drawn in the PDF (its first page)."""
    wanted = text.split()
    found = words(pdf)
    for i in range(len(found) - len(wanted) + 1):
        if [w[0] for w in found[i:i + len(wanted)]] == wanted:
            run = found[i:i + len(wanted)]
            x0, y0 = min(w[1] for w in run), min(w[2] for w in run)
            x1, y1 = max(w[3] for w in run), max(w[4] for w in run)
            return (x0 + x1) / 2, (y0 + y1) / 2
    raise AssertionError(f"{text!r} is not in {pdf}: {[w[0] for w in found]}")


def panel_rect(root: Path, panel_id: str):
    project = load_project(root)
    return next(p.rect for page in project_layout(project) for p in page.panels if p.panel_id == panel_id)


def wait_for(root: Path, check, timeout_s: float = 15):
    """Poll the story on disk until `check(project)` holds."""
    import time

    deadline = time.monotonic() + timeout_s
    while True:
        project = load_project(root)
        if check(project):
            return project
        if time.monotonic() > deadline:
            raise AssertionError(f"story.yaml never got there: {[p.balloons for p in project.panels]}")
        time.sleep(0.2)


# ---------------------------------------------------------------- 1. a dragged balloon moves in the PDF, and stays


def test_dragging_a_balloon_moves_it_in_the_pdf_and_it_stays_after_a_new_take(pages_tab) -> None:
    page, root, session = pages_tab
    before = text_centre(export_pdf(page, session, root), "Morning!")
    balloon = item(page, "p2", "balloon", 0)
    scale = page_scale(page)
    drag(page, balloon.locator(".lv-body"), -60, 45)
    settle(page)
    shot(page, "1-dragged")
    moved = wait_for(root, lambda p: p.panel("p2").balloons[0].at is not None).panel("p2").balloons[0]
    assert page.locator(ERROR_BADGES).filter(visible=True).count() == 0
    rect = panel_rect(root, "p2")
    expected = (rect.x + moved.at[0] * rect.w, rect.y + moved.at[1] * rect.h)
    assert expected[0] - before[0] == pytest.approx(-60 / scale, abs=2.0), "the balloon moved as far as it was dragged"
    assert expected[1] - before[1] == pytest.approx(45 / scale, abs=2.0)
    assert moved.size is None and moved.tail is None, "only its place was set"
    from storyboard import studio

    assert studio.history_labels(root)[0][0] == "Move balloon 1 of panel 2", "one undoable change, newest first"

    after = text_centre(export_pdf(page, session, root), "Morning!")
    assert after == pytest.approx(expected, abs=1.5), "the PDF draws the text where the page view put the balloon"
    assert item(page, "p2", "balloon", 0).get_attribute("class").count("by-hand") == 1

    # a new take of the panel (another prompt, so other art): the balloon keeps its place in the panel
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import render_project

    studio.update_panel(root, "p2", prompt="{mia} and {leo} talk by the window")
    takes_before = len(load_project(root).panel("p2").takes)
    render_project(root, load_project(root), DraftEngine(), ["p2"])
    assert len(load_project(root).panel("p2").takes) == takes_before + 1
    page.get_by_role("tab", name="3 · Panels").click()
    settle(page)
    page.get_by_role("tab", name="6 · Pages & export").click()
    settle(page)
    again = text_centre(export_pdf(page, session, root), "Morning!")
    assert again == pytest.approx(expected, abs=1.5), "a new take keeps the hand-placed balloon where it was"
    shot(page, "1-after-new-take")


# ---------------------------------------------------------------- 2. aim a tail, then reset to automatic


def test_dragging_the_tail_tip_aims_it_and_reset_puts_the_balloon_back(pages_tab) -> None:
    page, root, session = pages_tab
    automatic = text_centre(export_pdf(page, session, root), "Coffee first.")
    balloon = item(page, "p2", "balloon", 1)
    balloon.locator(".lv-body").click()
    settle(page)
    assert page.locator("#page-view button[data-act='reset']").is_disabled(), "an automatic balloon has nothing to reset"
    tip = balloon.locator(".lv-tip")
    tip_box = tip.bounding_box()
    scale = page_scale(page)
    drag(page, tip, 70, -20)
    settle(page)
    aimed = wait_for(root, lambda p: p.panel("p2").balloons[1].tail is not None).panel("p2").balloons[1]
    rect = panel_rect(root, "p2")
    view_box = page.locator("#page-view .lv-svg").bounding_box()
    tip_pt = ((tip_box["x"] + tip_box["width"] / 2 + 70 - view_box["x"]) / scale,
              (tip_box["y"] + tip_box["height"] / 2 - 20 - view_box["y"]) / scale)
    assert rect.x + aimed.tail[0] * rect.w == pytest.approx(tip_pt[0], abs=2.0)
    assert rect.y + aimed.tail[1] * rect.h == pytest.approx(tip_pt[1], abs=2.0)
    assert aimed.at is None, "aiming the tail leaves the balloon where it is"
    new_tip = item(page, "p2", "balloon", 1).locator(".lv-tip").bounding_box()
    assert new_tip["x"] + new_tip["width"] / 2 == pytest.approx(tip_box["x"] + tip_box["width"] / 2 + 70, abs=3)
    shot(page, "2-tail-aimed")

    drag(page, item(page, "p2", "balloon", 1).locator(".lv-body"), 40, 50)
    settle(page)
    wait_for(root, lambda p: p.panel("p2").balloons[1].at is not None)
    assert text_centre(export_pdf(page, session, root), "Coffee first.") != pytest.approx(automatic, abs=3)
    item(page, "p2", "balloon", 1).locator(".lv-body").click()
    reset = page.locator("#page-view button[data-act='reset']")
    assert reset.is_enabled()
    reset.click()
    settle(page)
    back = wait_for(root, lambda p: not p.panel("p2").balloons[1].placed_by_hand).panel("p2").balloons[1]
    assert (back.at, back.size, back.tail) == (None, None, None)
    assert text_centre(export_pdf(page, session, root), "Coffee first.") == pytest.approx(automatic, abs=1.5)
    assert page.locator(ERROR_BADGES).filter(visible=True).count() == 0
    shot(page, "2-reset")


# ---------------------------------------------------------------- 3. resize a caption, touch, refusals


def test_resizing_the_caption_by_its_corner_and_a_touch_drag(pages_tab) -> None:
    page, root, _ = pages_tab
    caption = item(page, "p1", "caption")
    caption.locator(".lv-body").click()
    settle(page)
    before = caption.locator(".lv-body").bounding_box()
    drag(page, caption.locator(".lv-size"), 80, 30)
    settle(page)
    sized = wait_for(root, lambda p: p.panel("p1").caption_size is not None).panel("p1")
    rect = panel_rect(root, "p1")
    scale = page_scale(page)
    assert sized.caption_size[0] * rect.w == pytest.approx(before["width"] / scale + 80 / scale, abs=2.0)
    assert sized.caption_size[1] * rect.h == pytest.approx(before["height"] / scale + 30 / scale, abs=2.0)
    after = item(page, "p1", "caption").locator(".lv-body").bounding_box()
    assert after["x"] == pytest.approx(before["x"], abs=2) and after["y"] == pytest.approx(before["y"], abs=2), \
        "the corner opposite the handle stays put"

    body = item(page, "p1", "balloon", 0).locator(".lv-body")
    box = body.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.evaluate(
        """([x, y]) => {
            const svg = document.querySelector('#page-view .lv-svg');
            const target = document.elementFromPoint(x, y);
            const ev = (type, px, py, el) => el.dispatchEvent(new PointerEvent(type, {bubbles: true, pointerId: 9,
                pointerType: 'touch', isPrimary: true, clientX: px, clientY: py}));
            ev('pointerdown', x, y, target);
            ev('pointermove', x + 30, y + 40, svg);
            ev('pointerup', x + 30, y + 40, svg);
        }""",
        [x, y],
    )
    settle(page)
    shout = wait_for(root, lambda p: p.panel("p1").balloons[0].at is not None).panel("p1").balloons[0]
    lettering_x = rect.x + shout.at[0] * rect.w
    assert lettering_x == pytest.approx((x + 30 - page.locator("#page-view .lv-svg").bounding_box()["x"]) / scale, abs=2.0)
    shot(page, "3-caption-and-touch")

    # the keyboard: the selected balloon moves 5 points a press with Shift, saved once the keys rest
    item(page, "p1", "balloon", 0).locator(".lv-body").click()
    for _ in range(3):
        page.keyboard.press("Shift+ArrowRight")
    page.wait_for_timeout(900)
    settle(page)
    nudged = wait_for(root, lambda p: p.panel("p1").balloons[0].at != shout.at).panel("p1").balloons[0]
    assert (nudged.at[0] - shout.at[0]) * rect.w == pytest.approx(15, abs=0.1)
    assert nudged.at[1] == pytest.approx(shout.at[1], abs=1e-4)


def test_a_script_gets_a_message_for_values_out_of_range(app) -> None:
    from gradio_client import Client

    url, _ = app
    client = Client(url, verbose=False)
    client.predict("API lettering", api_name="/create_project")
    client.predict("two people talk", api_name="/add_panel")
    client.predict(api_name="/render")
    bad = {"request": {"page": 1, "edit": {"panel": "p1", "target": "caption", "at": [1.7, 0.2]}}}
    with pytest.raises(Exception, match="no caption|from 0 to 1"):
        client.predict(bad, api_name="/set_lettering")
    with pytest.raises(Exception, match="no balloon 1"):
        client.predict({"request": {"edit": {"panel": "p1", "target": "balloon", "index": 0, "at": [0.5, 0.5]}}},
                       api_name="/set_lettering")
    with pytest.raises(Exception, match="finite"):
        client.predict({"request": {"edit": {"panel": "p1", "target": "balloon", "index": 0, "tail": ["x", 1]}}},
                       api_name="/set_lettering")
