"""The studio fits a 1280x800 screen (issue 12 item 6) and its panel list shows thumbnails (issue 12 item 4), in Chromium.

1. The Panels area keeps prompt, cast, pose, caption and balloons within the first 1.5 screens, the skeleton editor
   above the fold, and nothing scrolls sideways.
2. Every dropdown shows its whole label (shot, speaker, kind, page size, layout, what to export ...).
3. Export results appear right under the Export button, on screen, with a clear success line.
4. The engine banner speaks to a web user: where the models go, whom to ask; no command-line flags.
5. The panel list shows each panel's chosen take as a thumbnail, with its number and state, and picks by click.

Positions are measured with Playwright's bounding boxes (CSS pixels from the top of the page).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_kit import BROWSER_MARKS, settle, shot, tab
from conftest import free_port

pytestmark = BROWSER_MARKS

WIDTH, HEIGHT = 1280, 800


def top(page, selector: str) -> float:
    """The top of an element in page coordinates (scrolling included)."""
    box = page.locator(selector).bounding_box()
    assert box is not None, f"{selector} is not shown"
    return box["y"] + page.evaluate("window.scrollY")


def horizontal_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


# ---------------------------------------------------------------- 1. the Panels area fits

def test_panels_area_keeps_every_control_within_one_and_a_half_screens(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    page.locator("#panel-list label").nth(1).click()  # the panel with two characters and two balloons
    page.wait_for_function("document.querySelector('#panel-heading').innerText.includes('Panel 2 of 3')", timeout=10_000)
    settle(page)
    shot(page, "layout-panels")
    tops = {name: top(page, selector) for name, selector in {
        "prompt": "#panel-prompt", "cast": "#panel-characters", "pose": "#panel-pose", "shot": "#panel-shot",
        "caption": "#panel-caption", "balloons": "#balloon-list", "speaker": "#balloon-speaker", "kind": "#balloon-kind",
        "balloon text": "#balloon-text", "add balloon": "#add-balloon", "render": "#render-panel"}.items()}
    late = {name: round(y) for name, y in tops.items() if y > 1.5 * HEIGHT}
    assert not late, f"below the first 1.5 screens ({1.5 * HEIGHT:.0f} px) at {WIDTH}x{HEIGHT}: {late}; all: {tops}"
    assert tops["pose"] < HEIGHT, f"the skeleton editor starts below the fold: {tops['pose']:.0f} px"
    assert horizontal_overflow(page) <= 0, "the page scrolls sideways"


# ---------------------------------------------------------------- 2. dropdowns show their text

CUT_OFF = """(elemId) => {
  // Every label of the dropdown, put in its input as if chosen: the ones wider than the input.
  const input = document.querySelector(`#${elemId} input[role=combobox]`);
  const labels = Array.from(document.querySelectorAll(`#${elemId} [role=option]`)).map(o => o.getAttribute('aria-label'));
  const shown = input.value;
  const cut = [];
  for (const label of [shown, ...labels]) {
    input.value = label;
    if (input.scrollWidth > input.clientWidth) cut.push(`${label} (${input.scrollWidth} > ${input.clientWidth} px)`);
  }
  input.value = shown;
  return {labels, cut};
}"""


def labels_cut_off(page, elem_id: str) -> tuple[list[str], list[str]]:
    """(every label of the dropdown, those that do not fit its input at this width)."""
    page.locator(f"#{elem_id} input[role=combobox]").click()
    page.wait_for_selector(f"#{elem_id} [role=option]", timeout=5_000)
    found = page.evaluate(CUT_OFF, elem_id)
    page.keyboard.press("Escape")
    return found["labels"], found["cut"]


@pytest.mark.parametrize("tab_label, dropdowns", [
    ("3 · Panels", ["panel-shot", "balloon-speaker", "balloon-kind", "panel-insert"]),
    ("6 · Pages & export", ["page-size", "page-template", "export-kind"]),
    ("1 · Project", ["recent-projects"]),
])
def test_every_dropdown_shows_its_whole_label(studio_page, tab_label: str, dropdowns: list[str]) -> None:
    page, root = studio_page
    tab(page, tab_label)
    cut: dict[str, list[str]] = {}
    for elem_id in dropdowns:
        labels, too_wide = labels_cut_off(page, elem_id)
        assert labels, f"#{elem_id} lists no choices"
        if too_wide:
            cut[elem_id] = too_wide
    shot(page, f"layout-dropdowns-{tab_label[0]}")
    assert not cut, f"labels cut off at {WIDTH} px wide: {cut}"


# ---------------------------------------------------------------- 3. export results where the user looks

def test_export_result_appears_under_the_button_on_screen(studio_page) -> None:
    page, root = studio_page
    tab(page, "6 · Pages & export")
    page.evaluate("window.scrollTo(0, 0)")
    button = page.locator("#export").bounding_box()
    assert button["y"] + button["height"] <= HEIGHT, "the Export button is below the fold"
    page.locator("#export").click()
    page.wait_for_function("document.querySelector('#export-status').innerText.includes('Exported')", timeout=120_000)
    settle(page)
    page.wait_for_selector("#export-files a", timeout=15_000)
    shot(page, "layout-exported")
    status, files = page.locator("#export-status").bounding_box(), page.locator("#export-files").bounding_box()
    button = page.locator("#export").bounding_box()
    assert 0 <= status["y"] and status["y"] + status["height"] <= HEIGHT, f"the success line is off screen: {status}"
    assert 0 <= files["y"] and files["y"] + files["height"] <= HEIGHT, f"the download is off screen: {files}"
    assert 0 <= status["y"] - (button["y"] + button["height"]) <= 40, "the result is not right under the button"
    text = page.locator("#export-status").inner_text()
    assert text.startswith("✓ Exported 1 page") and "test-story.pdf" in text, text
    assert page.locator("#export-files a").first.is_visible()


# ---------------------------------------------------------------- 4. the banner speaks to a web user

FLAGS = ("--engine", "--models", "python -m", "huggingface-cli")


def test_engine_banner_says_what_to_do_without_command_line_flags(app, browser, tmp_path: Path) -> None:
    from storyboard.engine_holder import EngineHolder
    from ui.studio import build_studio, launch_options

    url, _ = app
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    page.goto(url)
    page.wait_for_selector("#engine-banner", timeout=20_000)
    drafted = page.locator("#engine-banner").inner_text()
    assert "Draft mode" in drafted and "ask" in drafted and not any(flag in drafted for flag in FLAGS), drafted
    page.close()

    models = tmp_path / "models"  # an auto engine whose models folder is missing: draft mode, and where to put them
    demo = build_studio(EngineHolder("auto", models), tmp_path / "ws")
    port = free_port()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True,
                **launch_options(demo.studio_context))
    try:
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#engine-banner", timeout=20_000)
        banner = page.locator("#engine-banner").inner_text()
        shot(page, "layout-banner")
        assert f"put its models in {models}" in banner and "restart the studio" in banner, banner
        assert not any(flag in banner for flag in FLAGS), banner
        page.close()
    finally:
        demo.close()


# ---------------------------------------------------------------- 5. thumbnails in the panel list

def test_panel_list_shows_each_chosen_take_as_a_thumbnail_and_picks_by_click(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    assert page.locator("#panel-list label img[src]").count() == 0, "no take yet: no picture"
    page.locator("#render-panel").click()
    page.wait_for_function("document.querySelector('#panel-render-status').innerText.toLowerCase().includes('up to date')"
                           " || document.querySelectorAll('#panel-list label img[src]').length > 0", timeout=60_000)
    settle(page)
    page.wait_for_function("Array.from(document.querySelectorAll('#panel-list label img[src]'))"
                           ".some(img => img.complete && img.naturalWidth > 0)", timeout=15_000)
    first = page.locator("#panel-list label").first
    assert first.locator("img").get_attribute("src").split("?")[0].endswith(".jpg")
    assert "1." in first.inner_text() and "✓" in first.inner_text()
    size = first.locator("img").evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert max(size) <= 128, f"a thumbnail, not the take: {size}"
    assert not (root / ".cache" / "thumbs").is_dir() or any((root / ".cache" / "thumbs").iterdir())
    assert "/sessions/" not in first.locator("img").get_attribute("src"), "served as a copy, not from the workspace"
    shot(page, "layout-thumbnails")
    page.locator("#panel-list label .pl-thumb").nth(2).click()
    page.wait_for_function("document.querySelector('#panel-heading').innerText.includes('Panel 3 of 3')", timeout=10_000)
    assert page.locator("#panel-list label").nth(2).locator("input").is_checked()
