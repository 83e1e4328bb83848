"""Reliability catalogue, the web app's own limits (issue 11 item 5): over-long texts, costly renders, huge pages.

Every row: the studio's handlers (which the Gradio API calls) or the CLI refuse with a message that names the
field or setting and what to do, and the project stays as it was. See tests/reliability.py for the harness.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import STORY
from reliability import Case, cli, run_case
from storyboard import studio
from storyboard.engines.draft import DraftEngine
from storyboard.export import ExportError
from storyboard.pagesizes import PageSizeError
from storyboard.settings import Settings, load_settings

SPACE = load_settings({"SPACE_ID": "user/space"})  # max_steps 50, max_variations 4, max_page_megapixels 15
LOCAL = Settings()
SHORTEN = r"shorten it and try again; nothing was saved"


def nothing(root: Path) -> None:
    return None


def story(old: str, new: str, *more: str) -> Callable[[Path], None]:
    """A setup writing the test story with `old` replaced by `new` (and more old, new pairs)."""
    pairs = [(old, new), *zip(more[::2], more[1::2])]

    def setup(root: Path) -> None:
        text = STORY
        for a, b in pairs:
            assert a in text, a
            text = text.replace(a, b)
        (root / "story.yaml").write_text(text, encoding="utf-8")

    setup.__name__ = "story"
    return setup


def a_photo(root: Path) -> Path:
    path = root.parent / "photo.png"
    Image.new("RGB", (64, 80), (200, 120, 90)).save(path)
    return path


def a_zip_with(old: str, new: str) -> Callable[[Path], Path]:
    """A project .zip (outside the project) whose story.yaml has `old` replaced by `new`."""

    def setup(root: Path) -> Path:
        archive = root.parent / "upload.zip"
        with zipfile.ZipFile(archive, "w") as z:
            for path in root.rglob("*"):
                if path.is_file() and path.name != "story.yaml":
                    z.write(path, path.relative_to(root).as_posix())
            z.writestr("story.yaml", STORY.replace(old, new))
        return archive

    setup.__name__ = "a_zip_with"
    return setup


def call(fn: Callable[..., Any]) -> Callable[[Path, Any], Any]:
    """An act: `fn(root, made)`, where a generator (a render) is run to its end."""

    def act(root: Path, made: Any) -> Any:
        result = fn(root, made)
        return list(result) if hasattr(result, "__next__") else result

    act.__name__ = getattr(fn, "__name__", "call")
    return act


def long(n: int) -> str:
    return "x" * n


CASES = [
    # Texts: one table (storyboard.settings.TEXT_LIMITS), enforced by the handlers the API calls
    Case("rename to a 5 MB title", nothing, call(lambda root, _: studio.set_title(root, long(5_000_000))),
         studio.TextTooLong, says=("title", "5,000,000 characters", "120"), advice=SHORTEN),
    Case("character name over 60", a_photo, call(lambda root, photo: studio.add_character(root, long(61), photo, LOCAL)),
         studio.TextTooLong, says=("name", "61 characters", "60"), advice=SHORTEN),
    Case("character description over 500", nothing,
         call(lambda root, _: studio.update_character(root, "mia", LOCAL, description=long(501))),
         studio.TextTooLong, says=("description", "501 characters", "500"), advice=SHORTEN),
    Case("colour of 1 MB", nothing, call(lambda root, _: studio.update_character(root, "mia", LOCAL, color=long(1_000_000))),
         studio.TextTooLong, says=("colour", "1,000,000 characters", "32"), advice=SHORTEN),
    Case("a 2 MB prompt in a new panel", nothing, call(lambda root, _: studio.add_panel(root, long(2_000_000), LOCAL)),
         studio.TextTooLong, says=("prompt", "2,000,000 characters", "1,000"), advice=SHORTEN),
    Case("prompt over 1,000", nothing, call(lambda root, _: studio.update_panel(root, "p1", prompt=long(1001))),
         studio.TextTooLong, says=("prompt of panel p1", "1,001 characters"), advice=SHORTEN),
    Case("caption over 500", nothing, call(lambda root, _: studio.update_panel(root, "p1", caption=long(501))),
         studio.TextTooLong, says=("caption of panel p1", "500"), advice=SHORTEN),
    Case("notes over 2,000", nothing, call(lambda root, _: studio.update_panel(root, "p2", notes=long(2001))),
         studio.TextTooLong, says=("notes of panel p2", "2,000"), advice=SHORTEN),
    Case("shot of 100 KB", nothing, call(lambda root, _: studio.update_panel(root, "p1", shot=long(100_000))),
         studio.TextTooLong, says=("shot of panel p1", "64"), advice=SHORTEN),
    Case("balloon text over 500", nothing, call(lambda root, _: studio.add_balloon(root, "p1", long(501), "mia")),
         studio.TextTooLong, says=("balloon text", "500"), advice=SHORTEN),
    Case("balloon text over 500 (update)", nothing, call(lambda root, _: studio.update_balloon(root, "p2", 1, long(501))),
         studio.TextTooLong, says=("balloon text", "500"), advice=SHORTEN),
    Case("speaker id of 1 MB", nothing, call(lambda root, _: studio.add_balloon(root, "p1", "Hi", long(1_000_000))),
         studio.TextTooLong, says=("speaker", "64"), advice=SHORTEN),
    Case("page size text over 32", nothing, call(lambda root, _: studio.set_page_settings(root, size=long(33))),
         studio.TextTooLong, says=("page size", "32"), advice=SHORTEN),
    Case("style id over 64", nothing, call(lambda root, _: studio.set_style(root, long(65))),
         studio.TextTooLong, says=("style id", "64"), advice=SHORTEN),
    Case("pose JSON text over 100,000", nothing, call(lambda root, _: studio.set_pose(root, "p2", " " * 100_001)),
         studio.TextTooLong, says=("pose JSON of panel p2", "100,000"), advice=SHORTEN),
    Case("export kind over 64", nothing, call(lambda root, _: studio.export(root, root.parent / "out", long(65), DraftEngine())),
         studio.TextTooLong, says=("export kind", "64"), advice=SHORTEN),
    Case("open a project by a 1 MB name", nothing, call(lambda root, _: studio.open_project(root.parent, long(1_000_000))),
         studio.TextTooLong, says=("project name", "64"), advice=SHORTEN),
    Case("import a .zip with a 3,000-character caption", a_zip_with('caption: "Monday, 8:59."', f"caption: {long(3000)}"),
         call(lambda root, archive: studio.import_project(root.parent / "session", archive, LOCAL)),
         studio.StudioError, says=("upload.zip", "caption of panel p1 in story.yaml", "3,000 characters", "500"),
         advice="shorten it"),
    # Page sizes and PNG pages: bounded before anything is drawn
    Case("page size 5000x5000mm", nothing, call(lambda root, _: studio.set_page_settings(root, size="5000x5000mm")),
         PageSizeError, says=("5000x5000mm", "5000 mm"), advice="between 50 and 1200 mm"),
    Case("a PNG export of a 1000x1000mm page on a Space", story("size: a4", "size: 1000x1000mm"),
         call(lambda root, _: studio.export(root, root.parent / "out", "png", DraftEngine(), settings=SPACE)),
         ExportError, says=("1000x1000mm", "35 megapixels", "the most is 15"), advice="png-dpi|smaller page size"),
    Case("CLI: PNG pages of 1200x1200mm at 600 dpi", nothing,
         cli("export", "{root}", "-o", "{root}/../x.pdf", "--png-dir", "{root}/../png", "--engine", "draft",
             "--page-size", "1200x1200mm", "--png-dpi", "600"),
         2, says=("803 megapixels", "the most is 40"), advice=r"--png-dpi \d+ or less"),
    Case("CLI: --page-size 5000x5000mm", nothing,
         cli("export", "{root}", "-o", "{root}/../x.pdf", "--png-dir", "{root}/../png", "--engine", "draft",
             "--page-size", "5000x5000mm"),
         2, says=("5000x5000mm",), advice="between 50 and 1200 mm"),
    Case("CLI: --dpi 100000", nothing,
         cli("export", "{root}", "-o", "{root}/../x.pdf", "--png-dir", "{root}/../png", "--engine", "draft",
             "--dpi", "100000"),
         2, says=("dpi", "100000"), advice="between 72 and 1200"),
    # Renders: what one session may ask of the shared GPU queue, bounded before the work starts
    Case("Detail (steps) over the Space's 50", nothing,
         call(lambda root, _: studio.set_style_overrides(root, {"steps": 120}, SPACE)),
         studio.StudioError, says=("steps", "120", "50 at most"), advice="choose at most"),
    Case("render a story of 150 steps on a Space", story("style: ink-comic", "style: ink-comic\nstyle_overrides: {steps: 150}"),
         call(lambda root, _: studio.iter_render(root, DraftEngine(), SPACE, "all")),
         studio.StudioError, says=("150 steps", "at most 50"), advice="lower detail"),
    Case("export (rendering first) a story of 150 steps on a Space",
         story("style: ink-comic", "style: ink-comic\nstyle_overrides: {steps: 150}"),
         call(lambda root, _: studio.export(root, root.parent / "out", "pdf", DraftEngine(), settings=SPACE)),
         studio.StudioError, says=("150 steps", "at most 50"), advice="lower detail"),
    Case("9 variations on a Space", nothing,
         call(lambda root, _: studio.iter_render(root, DraftEngine(), SPACE, "variations", "p1", 9)),
         studio.StudioError, says=("variations", "9"), advice="ask for 1 to 4"),
    Case("a 1,000-character prompt of 200 names of 20 characters",
         story("prompt: the empty office", "prompt: '" + "{leo}" * 200 + "'", "name: Leo", "name: Leonardo Bartholomew"),
         call(lambda root, _: studio.iter_render(root, DraftEngine(), LOCAL, "panel", "p3")),
         studio.TextTooLong, says=("prompt of panel p3 with the cast's names filled in", "4,000 characters", "2,000"),
         advice=SHORTEN),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_catalogue(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_case(case, tmp_path, capsys)
