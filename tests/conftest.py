"""Shared fixtures: small projects built on the fly, and a copy of the shipped sample."""

from __future__ import annotations

import shutil
import socket
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "assets" / "samples" / "rainy-monday"
ARTIFACTS = REPO / "test-artifacts"  # screenshots of browser tests (gitignored)

# Debian's Chromium, never a downloaded browser; flags that keep it off this machine's closed network
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


# Gradio's status tracker marks each output of a failed event with this; a refusal must never show it
ERROR_BADGES = ".wrap > .error"
TOASTS = ".toast-body"


def free_port() -> int:
    """A free localhost port for a test server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of the project and its bytes: 'nothing changed' means this is equal before and after.

    The lock file is left out: taking the project's lock is not a change."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != ".story.lock"}


STORY = textwrap.dedent(
    """\
    schema: 1
    title: Test Story
    author: Tester
    style: ink-comic
    page: {size: a4, template: auto, reading: ltr}
    cast:
      - id: mia
        name: Mia
        reference: cast/mia.png
        mask: cast/mia_mask.png
        description: short red hair
        color: "#e4572e"
      - id: leo
        name: Leo
        reference: cast/leo.png
        color: "#2e86ab"
    panels:
      - id: p1
        prompt: "{mia} runs for the bus"
        characters: [mia]
        shot: wide
        caption: "Monday, 8:59."
        balloons:
          - {speaker: mia, kind: shout, text: Wait for me!}
        notes: camera low
        duration: 2.5
        seed: 1234
      - id: p2
        prompt: "{mia} and {leo} talk"
        characters: [mia, leo]
        pose: poses/p2.json
        shot: medium
        balloons:
          - {speaker: leo, kind: speech, text: Morning!}
          - {speaker: mia, kind: thought, text: Coffee first.}
        seed: 99
        seed_locked: true
      - id: p3
        prompt: the empty office
        shot: establishing
    """
)

POSE_P2 = {
    "canvas_width": 1024,
    "canvas_height": 1024,
    "people": [
        {"pose_keypoints_2d": [v for x, y in [(300, 200), (300, 300), (250, 300), (230, 420), (220, 520), (350, 300),
                                                (370, 420), (380, 520), (270, 560), (265, 750), (262, 930), (330, 560),
                                                (335, 750), (338, 930), (290, 185), (310, 185), (280, 195), (320, 195)]
                               for v in (x, y, 1.0)]},
        {"pose_keypoints_2d": [v for x, y in [(700, 200), (700, 300), (650, 300), (630, 420), (620, 520), (750, 300),
                                                (770, 420), (780, 520), (670, 560), (665, 750), (662, 930), (730, 560),
                                                (735, 750), (738, 930), (690, 185), (710, 185), (680, 195), (720, 195)]
                               for v in (x, y, 1.0)]},
    ],
}


def write_project(root: Path, story: str = STORY) -> Path:
    """A small project folder with real PNG cast images and a two-person pose."""
    import json

    (root / "cast").mkdir(parents=True, exist_ok=True)
    (root / "poses").mkdir(exist_ok=True)
    Image.new("RGB", (64, 80), (200, 120, 90)).save(root / "cast" / "mia.png")
    Image.new("L", (64, 80), 255).save(root / "cast" / "mia_mask.png")
    Image.new("RGB", (64, 80), (90, 120, 200)).save(root / "cast" / "leo.png")
    (root / "poses" / "p2.json").write_text(json.dumps(POSE_P2))
    (root / "story.yaml").write_text(story)
    return root


@pytest.fixture(autouse=True)
def _root_logger_kept():
    """The CLI's main() points the root logger at the streams of the test that ran it (pytest's captures, closed
    after that test); put the handlers back so a later test's log lines do not hit a closed stream."""
    import logging

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


@pytest.fixture
def sample_dir(tmp_path: Path) -> Path:
    dest = tmp_path / "sample"
    shutil.copytree(SAMPLE, dest)
    return dest


# ---------------------------------------------------------------- tiny StoryMaker models


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Tiny random-weight StoryMaker models in the real formats (tests/tiny_models), built once per run: read only."""
    from tiny_models.folder import build_tiny_models_dir

    return build_tiny_models_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture
def story(sample_dir: Path) -> Path:
    """A copy of the sample whose cast photos carry the face marker the tiny face detector finds."""
    from tiny_models.folder import mark_faces

    mark_faces(sample_dir)
    return sample_dir


# ---------------------------------------------------------------- the studio served, and Chromium


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory):
    """The studio on the draft engine, served on localhost for this test module: (url, workspace)."""
    import os

    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from storyboard.engines.draft import DraftEngine
    from ui.studio import build_studio, launch_options

    workspace = tmp_path_factory.mktemp("workspace")
    demo = build_studio(DraftEngine(), workspace)
    port = free_port()
    demo.queue()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, show_error=True,
                **launch_options(demo.studio_context))
    yield f"http://127.0.0.1:{port}/", workspace
    demo.close()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, one for the whole run (browser test modules skip where it is missing)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need the playwright Python package")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Debian's Chromium at {CHROMIUM}")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@contextmanager
def session_with_test_project(app, browser, prepare: Callable[[Path], object] | None = None):
    """A fresh browser session (1280x800) with the test project (3 panels, Mia and Leo) in its folder and open;
    `prepare(root)` runs before the page shows it. Yields (page, project folder, session folder)."""
    from browser_kit import settle

    url, workspace = app
    before = set((workspace / "sessions").glob("*")) if (workspace / "sessions").is_dir() else set()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        page.goto(url)
        page.wait_for_selector("#engine-banner", timeout=20_000)
        page.wait_for_function("document.querySelector('#project-summary') !== null", timeout=20_000)
        settle(page)
        (session,) = set((workspace / "sessions").glob("*")) - before
        root = write_project(session / "test-story")
        if prepare is not None:
            prepare(root)
        page.reload()
        page.wait_for_function("document.querySelector('#project-summary')?.innerText.includes('Test Story')",
                               timeout=20_000)
        settle(page)
        yield page, root, session
    finally:
        context.close()


@pytest.fixture
def studio_page(app, browser):
    """A fresh browser session with the test project (3 panels, Mia and Leo) open; yields (page, project folder)."""
    with session_with_test_project(app, browser) as (page, root, _):
        yield page, root
