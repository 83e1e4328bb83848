"""Undo and redo in the browser (issue 12 item 5): deleting a panel by accident is never final."""

from __future__ import annotations


from browser_kit import BROWSER_MARKS, settle, shot, tab, wait_for_project

pytestmark = BROWSER_MARKS


def test_delete_a_panel_then_undo_and_redo(app, browser) -> None:  # noqa: F811
    url, workspace = app
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url)
    page.wait_for_selector("#open-sample", timeout=20_000)
    settle(page)
    page.locator("#open-sample").click()
    page.wait_for_function("document.querySelector('#project-summary').innerText.includes('Rainy Monday')", timeout=15_000)
    tab(page, "3 · Panels")
    labels = page.locator("#panel-list label")
    count = labels.count()
    assert count >= 3
    labels.nth(1).click()
    page.wait_for_function(f"document.querySelector('#panel-heading').innerText.includes('Panel 2 of {count}')",
                           timeout=15_000)
    deleted = page.locator("#panel-prompt textarea").input_value()
    page.locator("#panel-delete").click()
    page.wait_for_function(f"document.querySelectorAll('#panel-list label').length === {count - 1}", timeout=15_000)
    settle(page)
    page.locator("#undo").click()
    page.wait_for_function(f"document.querySelectorAll('#panel-list label').length === {count}", timeout=15_000)
    settle(page)
    assert page.get_by_text("Undone: Delete panel 2").count() >= 1
    shot(page, "history-undo")
    project = wait_for_project(page, workspace, lambda p: len(p.panels) == count)
    assert project.panels[1].prompt == deleted
    page.locator("#redo").click()
    page.wait_for_function(f"document.querySelectorAll('#panel-list label').length === {count - 1}", timeout=15_000)
    wait_for_project(page, workspace, lambda p: len(p.panels) == count - 1)
    page.close()
