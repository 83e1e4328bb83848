"""Breaks a new user hit in Chromium at 1280x800 (issue 12, item 1), each kept from coming back.

1. A refused input shows its message once (a toast) and leaves every field as it was: no red "Error"
   badge on any component, in this tab or another; scripts (gradio_client) still get an exception.
2. Changing the page layout, reading order or size keeps the page preview (and /set_page works).
3. After editing a prompt, the first click on another panel selects it, and the edit is saved.
4. Choosing one of a panel's takes never marks it "inputs changed"; the next render keeps that take.
5. Messages name what the studio shows: the panel's number and prompt, the "Insert a name" list.

One app server (draft engine) for the module; each test opens its own page, so its own session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_kit import BROWSER_MARKS, dismiss_toasts, error_badges, field, settle, shot, tab, toast_texts
from conftest import TOASTS
from storyboard.storyfile import load_project

pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright Python package")


# ---------------------------------------------------------------- 1. a refusal is a toast, nothing else changes

def test_empty_add_panel_is_one_toast_and_no_error_badges(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    field(page, "panel-caption").fill("Monday, 9:01.")  # saved when the click takes the focus away
    page.locator("#add-panel").click()
    texts = toast_texts(page)
    settle(page)
    shot(page, "1-empty-add-panel")
    assert len(texts) == 1 and "prompt is empty" in texts[0], texts
    assert error_badges(page) == 0, "a refusal must not put an Error badge on the fields"
    assert "Panel 1 of 3" in page.locator("#panel-heading").inner_text()
    assert field(page, "panel-caption").input_value() == "Monday, 9:01.", "the form is left as it was"
    assert field(page, "panel-prompt").input_value() == "{mia} runs for the bus"
    project = load_project(root)
    assert len(project.panels) == 3 and project.panels[0].caption == "Monday, 9:01."
    tab(page, "2 · Cast")
    assert error_badges(page) == 0
    tab(page, "3 · Panels")
    assert error_badges(page) == 0


def test_text_file_as_cast_photo_is_one_toast_and_keeps_the_form(studio_page, tmp_path: Path) -> None:
    page, root = studio_page
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    tab(page, "2 · Cast")
    page.locator("#new-character").click()
    settle(page)
    field(page, "cast-name").fill("Zoe")
    field(page, "cast-description").fill("tall, yellow coat")
    page.locator("#cast-photo input[type=file]").set_input_files(str(notes))
    page.wait_for_function("document.querySelector('#cast-photo').innerText.includes('notes')", timeout=15_000)
    page.wait_for_timeout(800)
    before = (root / "story.yaml").read_text()
    page.locator("#save-character").click()
    texts = toast_texts(page)
    settle(page)
    shot(page, "1-text-file-photo")
    assert len(texts) == 1 and "not an image" in texts[0], texts
    assert error_badges(page) == 0
    assert field(page, "cast-name").input_value() == "Zoe"
    assert field(page, "cast-description").input_value() == "tall, yellow coat"
    assert "notes" in page.locator("#cast-photo").inner_text(), "the chosen file stays, to be replaced"
    assert (root / "story.yaml").read_text() == before
    tab(page, "3 · Panels")
    assert error_badges(page) == 0


def test_scripts_still_get_an_exception_for_a_refusal(app) -> None:
    from gradio_client import Client

    url, _ = app
    client = Client(url, verbose=False)
    client.predict("API refusals", api_name="/create_project")
    with pytest.raises(Exception, match="prompt is empty"):
        client.predict("", api_name="/add_panel")


# ---------------------------------------------------------------- 2. page settings keep the preview

def test_page_layout_reading_and_size_keep_the_preview(studio_page) -> None:
    page, root = studio_page
    tab(page, "6 · Pages & export")
    page.wait_for_selector("#page-view image", timeout=15_000)  # the page view: the current page as it prints
    assert page.locator("#page-view .lv-live").count() == 1, "the live-area guide is drawn over the page (screen only)"
    page.locator("#page-overview").get_by_text("All pages").first.click()  # every page, drawn only when opened
    page.wait_for_selector("#page-preview img", timeout=30_000)
    page.locator("#page-template input").click()
    page.get_by_role("option", name="grid-2x2").click()
    settle(page)
    page.locator("#page-reading label", has_text="Right to left").click()
    settle(page)
    page.locator("#page-size input").click()
    page.get_by_role("option", name="Letter", exact=False).first.click()
    settle(page)
    shot(page, "2-page-settings")
    assert error_badges(page) == 0
    assert page.locator("#page-preview img").count() >= 1, "the preview still shows the pages"
    assert page.locator("#page-view image").count() == 1, "the page view still shows the page"
    assert page.locator(TOASTS).count() == 0
    settings = load_project(root).page
    assert (settings.template, settings.reading, settings.size) == ("grid-2x2", "rtl", "letter")


def test_set_page_through_the_api_returns_the_previews(app) -> None:
    from gradio_client import Client

    url, _ = app
    client = Client(url, verbose=False)
    client.predict("API pages", api_name="/create_project")
    client.predict("a quiet street", api_name="/add_panel")
    previews = client.predict("a5", "strip-3", "rtl", api_name="/set_page")
    assert isinstance(previews, list) and len(previews) == 1, previews
    assert Path(previews[0]["image"]).is_file()


# ---------------------------------------------------------------- 3. the first click after an edit counts

def human_click(page, locator, hold_ms: int = 120) -> None:
    """Press and release like a person: the text box loses focus (and saves) on the press, the click is the release."""
    locator.scroll_into_view_if_needed()
    box = locator.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.wait_for_timeout(hold_ms)
    page.mouse.up()


@pytest.mark.parametrize("box", ["panel-prompt", "panel-caption"])
def test_first_click_on_another_panel_after_an_edit_selects_it(studio_page, box: str) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    for attempt, (target, number) in enumerate([(1, 2), (2, 3)]):
        text = f"{{mia}} edit {attempt} of the story" if box == "panel-prompt" else f"Caption {attempt}."
        field(page, box).fill(text)
        human_click(page, page.locator("#panel-list label").nth(target))
        page.wait_for_function(f"document.querySelector('#panel-heading').innerText.includes('Panel {number} of 3')",
                               timeout=10_000)
        settle(page)
        assert f"Panel {number} of 3" in page.locator("#panel-heading").inner_text()
        assert page.locator("#panel-list input:checked").count() == 1
        assert page.locator("#panel-list label").nth(target).locator("input").is_checked()
        edited = load_project(root).panels[target - 1]
        assert (edited.prompt if box == "panel-prompt" else edited.caption) == text, "the edit was saved too"
        assert field(page, box).input_value() != text, "the form shows the newly picked panel"
    shot(page, f"3-first-click-{box}")


def test_clicks_made_while_a_save_is_in_flight_are_saved_too(studio_page, monkeypatch) -> None:
    """Ticking Mia then Leo faster than the server saves, then a shot on another panel: each last state is saved.
    Gradio's default for an event lets no new one of it start while it runs, so the later clicks were dropped."""
    import time

    from storyboard import studio

    page, root = studio_page
    tab(page, "3 · Panels")
    page.locator("#panel-list label").nth(2).click()
    page.wait_for_function("document.querySelector('#panel-heading').innerText.includes('Panel 3 of 3')", timeout=10_000)
    settle(page)
    update_panel = studio.update_panel

    def slow_update(*args, **kwargs):
        time.sleep(0.8)  # a busy server
        return update_panel(*args, **kwargs)

    monkeypatch.setattr(studio, "update_panel", slow_update)
    page.locator("#panel-characters label", has_text="Mia").click()
    page.wait_for_timeout(150)
    page.locator("#panel-characters label", has_text="Leo").click()  # while Mia's save runs
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and load_project(root).panels[2].characters != ("mia", "leo"):
        page.wait_for_timeout(200)
    assert load_project(root).panels[2].characters == ("mia", "leo")
    settle(page)
    assert page.locator("#panel-characters input:checked").count() == 2


# ---------------------------------------------------------------- 4. choosing a take keeps it

def test_choosing_take_2_of_3_variations_keeps_it_current_through_the_next_render(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    field(page, "variation-count").fill("3")
    page.locator("#render-variations").click()
    page.wait_for_function("document.querySelector('#panel-render-status').innerText.includes('3 of 3')", timeout=60_000)
    settle(page)
    assert page.locator("#panel-takes .thumbnail-item").count() == 3
    takes = load_project(root).panel("p1").takes
    page.locator("#panel-takes .thumbnail-item").nth(1).click()
    page.wait_for_function("document.querySelector('#panel-render-status').innerText.includes('Using take 2')", timeout=15_000)
    settle(page)
    badge = page.locator("#panel-state").inner_text()
    assert "Up to date" in badge, badge
    assert "⟳" not in page.locator("#panel-list label").first.inner_text()
    chosen = load_project(root).panel("p1")
    assert chosen.selected_take == takes[1] and chosen.seed == takes[1].seed
    shot(page, "4-take-2-chosen")

    tab(page, "5 · Render")
    page.locator("#render-stale").click()
    page.wait_for_function("document.querySelector('#render-status').innerText.includes('all up to date')", timeout=60_000)
    after = load_project(root).panel("p1")
    assert after.takes == takes and after.selected_take == takes[1], "the next render keeps the chosen take"
    tab(page, "3 · Panels")
    assert "Up to date" in page.locator("#panel-state").inner_text()
    assert "✓ take 2" in page.locator("#panel-takes").inner_text()


# ---------------------------------------------------------------- 5. messages name what the studio shows

def test_messages_name_the_panel_by_number_and_prompt_and_the_insert_a_name_list(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    page.locator("#panel-list label").nth(1).click()
    page.wait_for_function("document.querySelector('#panel-heading').innerText.includes('Panel 2 of 3')", timeout=10_000)
    settle(page)
    page.locator("#add-balloon").click()  # no text typed
    (balloon,) = toast_texts(page)
    dismiss_toasts(page)
    field(page, "panel-prompt").fill("")
    page.locator("#panel-heading").click()  # the prompt saves when it loses focus
    (prompt,) = toast_texts(page)
    shot(page, "5-messages")
    for text in (balloon, prompt):
        assert 'Panel 2 ("Mia and Leo talk")' in text, text
        assert "p2" not in text, f"the studio shows panel numbers, not ids: {text}"
    assert "balloon has no text" in balloon
    assert "prompt is empty" in prompt and '"Insert a name"' in prompt and "cast buttons" not in prompt, prompt
    assert load_project(root).panel("p2").prompt == "{mia} and {leo} talk"


def test_a_number_out_of_range_is_one_toast_and_no_error_badges(studio_page) -> None:
    page, root = studio_page
    tab(page, "3 · Panels")
    page.locator("#panel-more").click()
    seed = page.locator("#panel-seed input")
    seed.fill("-5")
    seed.press("Enter")
    seed.blur()
    texts = toast_texts(page)
    settle(page)
    shot(page, "1-seed-out-of-range")
    assert len(texts) == 1 and "seed must be a whole number from 0" in texts[0], texts
    assert error_badges(page) == 0
    assert load_project(root).panel("p1").seed == 1234


def test_a_style_setting_typed_out_of_range_is_one_toast_and_no_error_badges(studio_page) -> None:
    page, root = studio_page
    tab(page, "4 · Style")
    steps = page.locator("#style-steps input[type=number]")
    steps.fill("999")
    steps.press("Enter")
    steps.blur()
    texts = toast_texts(page)
    settle(page)
    shot(page, "1-style-out-of-range")
    assert len(texts) == 1 and "Detail (steps) 999 is out of range" in texts[0], texts
    assert error_badges(page) == 0
    assert load_project(root).style_overrides == ()
