"""A newcomer's whole flow in a real browser on the draft engine (issue 7), with a screenshot of every area.

Create a project, add two characters by uploading pictures, add three panels (one with two characters),
drag a joint in the skeleton editor, add a balloon, render everything with progress, export the PDF,
download it and read its pages and text. Screenshots land in test-artifacts/ at 1280x800.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from browser_kit import BROWSER_MARKS, settle, shot, tab, the_project, wait_for_project


pytestmark = BROWSER_MARKS
pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright Python package")


def photos(folder: Path) -> tuple[Path, Path]:
    """Two portrait-like pictures (a JPEG with an EXIF rotation, and a PNG)."""
    mia, leo = folder / "mia.jpg", folder / "leo.png"
    img = Image.new("RGB", (320, 240), (228, 87, 46))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: the studio must turn it upright (240 x 320)
    img.save(mia, exif=exif)
    Image.new("RGB", (240, 320), (46, 134, 171)).save(leo)
    return mia, leo


def test_newcomer_flow_from_cast_to_pdf(app, browser, tmp_path: Path) -> None:
    url, workspace = app
    mia_photo, leo_photo = photos(tmp_path)
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(url)
    page.on("console", lambda m: print("browser:", m.text) if m.type == "error" else None)
    page.wait_for_selector("#engine-banner", timeout=20_000)
    assert "Draft mode" in page.locator("#engine-banner").inner_text()
    shot(page, "1-project-empty")

    # 1. A new project.
    page.locator("#new-title textarea, #new-title input").first.fill("Rainy Tuesday")
    page.locator("#create-project").click()
    page.wait_for_function("document.querySelector('#project-summary').innerText.includes('Rainy Tuesday')", timeout=15_000)
    settle(page)
    shot(page, "1-project")

    # 2. Two characters, each from an uploaded picture.
    tab(page, "2 · Cast")
    for name, photo in (("Mia", mia_photo), ("Leo", leo_photo)):
        page.locator("#new-character").click()
        page.wait_for_function("document.querySelector('#save-character').innerText.includes('Add character')")
        settle(page)
        page.locator("#cast-name textarea, #cast-name input").first.fill(name)
        page.locator("#cast-photo input[type=file]").set_input_files(str(photo))
        page.wait_for_function(f"document.querySelector('#cast-photo').innerText.includes('{photo.stem}')", timeout=15_000)
        page.wait_for_timeout(800)  # the upload settles
        page.locator("#save-character").click()
        page.wait_for_function("document.querySelector('#face-check').innerText.includes('face model')", timeout=15_000)
    project = wait_for_project(page, workspace, lambda p: [c.name for c in p.cast] == ["Mia", "Leo"])
    root, _ = the_project(workspace)
    with Image.open(root / project.cast[0].reference) as upright:
        assert upright.size == (240, 320), "the EXIF rotation was applied"
    assert "needs the face model" in page.locator("#face-check").inner_text()
    shot(page, "2-cast")

    # 3. Three panels; the second has both characters.
    tab(page, "3 · Panels")
    for prompt in ("{mia} runs for the bus in the rain", "{mia} and {leo} talk at the stop", "the empty office"):
        box = page.locator("#new-panel-prompt textarea")
        box.fill(prompt)
        page.locator("#add-panel").click()
        page.wait_for_function("document.querySelector('#new-panel-prompt textarea').value === ''", timeout=15_000)
    wait_for_project(page, workspace, lambda p: len(p.panels) == 3)
    page.locator("#panel-list label").nth(1).click()
    page.wait_for_function("document.querySelector('#panel-heading').innerText.includes('Panel 2 of 3')", timeout=15_000)
    page.locator("#panel-characters label", has_text="Mia").click()
    wait_for_project(page, workspace, lambda p: p.panels[1].characters == ("mia",))
    page.locator("#panel-characters label", has_text="Leo").click()
    wait_for_project(page, workspace, lambda p: p.panels[1].characters == ("mia", "leo"))

    # 4. A library pose for the two of them, then drag Mia's left wrist (raised, away from other joints).
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(200)
    svg = page.locator("#panel-pose .pe-svg").bounding_box()
    assert svg["y"] + svg["height"] / 2 < 800, f"the skeleton editor sits below the fold at 1280x800: {svg}"
    page.locator("#panel-pose .pe-library").select_option("talking")
    page.locator("#panel-pose .pe-add").click()
    wait_for_project(page, workspace, lambda p: p.panels[1].pose is not None)
    from storyboard.poses import read_pose

    def current_pose():
        return read_pose(root / the_project(workspace)[1].panels[1].pose)

    before = current_pose()
    joint = page.locator('#panel-pose .pe-joint[data-person="0"][data-joint="7"]')
    page.locator("#panel-pose .pe-svg").scroll_into_view_if_needed()
    box = joint.bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 6):
        page.mouse.move(x + 8 * step, y - 6 * step)
    page.mouse.up()

    def wrist_moved(_project) -> bool:
        return current_pose().people[0].points[7] != before.people[0].points[7]

    wait_for_project(page, workspace, wrist_moved)
    after = current_pose()
    assert after.people[0].points[7][0] > before.people[0].points[7][0]
    assert [p.character for p in after.people] == ["mia", "leo"]
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "3-panels-pose")

    # 5. A balloon: Mia (the panel's first character) speaks.
    page.locator("#balloon-speaker input").click()
    page.get_by_role("option", name="Mia").click()
    page.locator("#balloon-text textarea, #balloon-text input").first.fill("Is this the 8:15?")
    page.locator("#add-balloon").click()
    project = wait_for_project(page, workspace, lambda p: len(p.panels[1].balloons) == 1)
    assert project.panels[1].balloons[0].speaker == "mia"
    settle(page)  # the balloon's answer refills the form; type the caption after it
    page.locator("#panel-caption textarea, #panel-caption input").first.fill("Tuesday, 8:14.")
    page.locator("#panel-caption textarea, #panel-caption input").first.blur()  # the caption saves when it loses focus
    wait_for_project(page, workspace, lambda p: p.panels[1].caption == "Tuesday, 8:14.")
    shot(page, "3-panels")

    # 6. The style tab, looked at.
    tab(page, "4 · Style")
    page.wait_for_selector("#style-preview h3")
    steps = page.locator("#style-steps input[type=number]")
    steps.fill("30")
    steps.press("Enter")
    steps.blur()
    wait_for_project(page, workspace, lambda p: dict(p.style_overrides) == {"steps": 30})
    page.wait_for_function("document.querySelector('#style-preview').innerText.includes('30 steps')", timeout=15_000)
    shot(page, "4-style")
    page.locator("#style-reset").click()
    wait_for_project(page, workspace, lambda p: p.style_overrides == ())

    # 7. Render everything, watching the progress.
    tab(page, "5 · Render")
    # Three draft panels render in well under a second: note any progress shown, however briefly
    page.evaluate("""() => {
        window.sawProgress = false;
        const shown = '#render-status .progress-text, #render-gallery .progress-text, .progress-level, .eta-bar';
        new MutationObserver(() => { window.sawProgress ||= document.querySelector(shown) !== null; })
            .observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
    }""")
    page.locator("#render-stale").click()
    page.wait_for_function("document.querySelector('#render-status').innerText.includes('all up to date')", timeout=30_000)
    assert page.evaluate("window.sawProgress"), "the render showed no progress"
    project = wait_for_project(page, workspace, lambda p: all(x.selected_take is not None for x in p.panels))
    assert page.locator("#render-gallery img").count() >= 3
    shot(page, "5-render")

    # 8. Pages: preview, export the PDF, download it and read it.
    tab(page, "6 · Pages & export")
    page.wait_for_selector("#page-view image", timeout=15_000)
    page.locator("#export").click()
    link = page.locator("#export-files a").first
    link.wait_for(timeout=30_000)
    shot(page, "6-pages")
    with page.expect_download(timeout=15_000) as download_info:
        link.click()
    pdf = tmp_path / "download.pdf"
    download_info.value.save_as(pdf)
    page.close()

    from pypdf import PdfReader

    reader = PdfReader(pdf)
    assert len(reader.pages) >= 1
    text = " ".join(" ".join(p.extract_text().split()) for p in reader.pages)  # balloons wrap lines
    assert "Is this the 8:15?" in text and "Tuesday, 8:14." in text, text
    if shutil.which("pdftotext"):
        import subprocess

        plain = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
        assert "8:15" in plain and "Tuesday" in plain
