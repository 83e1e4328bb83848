"""A screenplay uploaded in the studio's Project tab (issue 14 item 5), in Chromium at 1280x800.

Upload a Fountain script: a new project opens with its panels, and the tab says what was made (panels, cast still
needing a photo); uploaded again "into the open project", the panels are appended and every tab shows them; a
malformed script is one message naming the file and line, and nothing changes.
"""

from __future__ import annotations

from pathlib import Path

from test_app_exchange import SCRIPT
from browser_kit import BROWSER_MARKS, dismiss_toasts, settle, shot, tab, the_project, wait_for_project

pytestmark = BROWSER_MARKS


def test_upload_a_screenplay_then_append_it_then_a_broken_one(app, browser, tmp_path: Path) -> None:  # noqa: F811
    url, workspace = app
    script = tmp_path / "night-ferry.fountain"
    script.write_text(SCRIPT)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url)
    page.wait_for_selector("#import-script", timeout=20_000)
    settle(page)

    # 1. A new project from the script.
    page.locator("#import-script input[type=file]").set_input_files(str(script))
    page.wait_for_function("document.querySelector('#import-result').innerText.includes('Created')", timeout=30_000)
    settle(page)
    page.wait_for_function("document.querySelector('#project-summary').innerText.includes('The Night Ferry')",
                           timeout=30_000)
    result = page.locator("#import-result").inner_text()
    shot(page, "exchange-script-imported")
    root, project = the_project(workspace)
    count = len(project.panels)
    assert f"Created “The Night Ferry” from night-ferry.fountain: {count} panels as panels 1–{count}" in result, result
    assert "New cast without a photo: Marta, Jonas" in result, result
    tab(page, "3 · Panels")
    assert page.locator("#panel-list label").count() == count
    tab(page, "2 · Cast")
    assert "Marta" in page.locator("#tab-cast").inner_text()

    # 2. The same script appended to the open project: every tab shows the new panels.
    tab(page, "1 · Project")
    page.get_by_label("The open project (appended)").check()
    page.locator("#import-script input[type=file]").set_input_files(str(script))
    page.wait_for_function("document.querySelector('#import-result').innerText.includes('Appended')", timeout=30_000)
    settle(page)
    assert f"panels as panels {count + 1}–{2 * count}" in page.locator("#import-result").inner_text()
    wait_for_project(page, workspace, lambda p: len(p.panels) == 2 * count)
    page.wait_for_function(f"document.querySelector('#project-summary').innerText.includes('{2 * count} panels')",
                           timeout=30_000)
    tab(page, "3 · Panels")
    assert page.locator("#panel-list label").count() == 2 * count

    # 3. A malformed script: one message with the file's name and line; nothing changes, no red badges.
    tab(page, "1 · Project")
    dismiss_toasts(page)  # the "Appended" note
    before = (root / "story.yaml").read_text()
    broken = tmp_path / "broken.fountain"
    broken.write_text(SCRIPT.replace("(whispering)", "(whispering"))
    page.locator("#import-script input[type=file]").set_input_files(str(broken))
    page.wait_for_selector(".toast-body", timeout=30_000)
    settle(page)
    toasts = [t.inner_text() for t in page.locator(".toast-body").all()]
    shot(page, "exchange-script-refused")
    assert len(toasts) == 1 and "broken.fountain, line 1" in toasts[0] and "parenthetical" in toasts[0], toasts
    assert page.locator(".wrap > .error").filter(visible=True).count() == 0
    assert (root / "story.yaml").read_text() == before
    assert "Appended" in page.locator("#import-result").inner_text(), "the last result stays"
    page.close()
