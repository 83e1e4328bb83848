"""What the browser tests share: their marks, and helpers that drive the studio in Chromium.

The fixtures (`app`: the studio served on the draft engine for a module; `browser`: one Chromium for the run;
`studio_page`: a fresh session with the test project open at 1280x800) live in conftest.py.
"""

from __future__ import annotations

import inspect
import time
from pathlib import Path

import pytest

from conftest import ARTIFACTS, CHROMIUM, ERROR_BADGES, TOASTS

BROWSER_MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason=f"browser tests need Debian's Chromium at {CHROMIUM}"),
]
BUSY = ".pending, .generating, .eta-bar, .lv-root.pending"  # an event in flight, or the page view awaiting its answer


def settle(page, timeout_ms: int = 30_000) -> None:
    """Wait until no event is in flight (Gradio marks the outputs of a running event)."""
    page.wait_for_timeout(250)
    page.wait_for_function(f"document.querySelectorAll({BUSY!r}).length === 0", timeout=timeout_ms)


def tab(page, label: str) -> None:
    page.get_by_role("tab", name=label).click()
    settle(page)


def shot(page, name: str) -> None:
    """A screenshot in test-artifacts/, named after the test module (test_browser_flow -> flow-NAME.png)."""
    module = Path(inspect.stack()[1].filename).stem.removeprefix("test_").removeprefix("browser_")
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{module}-{name}.png"))


def error_badges(page) -> int:
    """How many components show Gradio's red error state (visible ones only)."""
    return page.locator(ERROR_BADGES).filter(visible=True).count()


def toast_texts(page) -> list[str]:
    page.wait_for_selector(TOASTS, timeout=15_000)
    page.wait_for_timeout(300)
    return [t.inner_text() for t in page.locator(TOASTS).all()]


def dismiss_toasts(page) -> None:
    """Close every toast on the page and wait until none is left.

    Clicked from the page itself: a toast that closes on its own between a count and a click would leave a
    locator click waiting for one that never comes.
    """
    page.evaluate("document.querySelectorAll('.toast-close').forEach(b => b.click())")
    page.wait_for_function("document.querySelectorAll('.toast-body').length === 0", timeout=10_000)


def field(page, elem_id: str):
    """The text box or input of a Gradio component, by its elem_id."""
    return page.locator(f"#{elem_id} textarea, #{elem_id} input").first


def the_project(workspace: Path):
    """The one project of the workspace's sessions: (folder, Project)."""
    from storyboard.storyfile import load_project

    stories = list(workspace.glob("sessions/*/*/story.yaml"))
    assert len(stories) == 1, stories
    return stories[0].parent, load_project(stories[0].parent)


def wait_for_project(page, workspace: Path, check, timeout_s: float = 15) -> object:
    """Poll the project on disk until `check(project)` holds (autosave is asynchronous to the UI)."""
    deadline = time.monotonic() + timeout_s
    project = None
    while True:
        try:
            _, project = the_project(workspace)
            if check(project):
                return project
        except Exception:  # noqa: BLE001 - not saved yet
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise AssertionError(f"the project never reached the expected state: {project}")
        page.wait_for_timeout(150)
