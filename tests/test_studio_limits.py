"""The web app's own limits (issue 11 item 5), at the level of the studio's handlers (which the Gradio API calls).

Every text field has a length limit from one table (storyboard.settings.TEXT_LIMITS), refused with a message that
names the field, its length and the limit, before anything is saved; a render or export is bounded before it
starts (steps, variations, prompt length, PNG page pixels); exports never land in a project folder.
"""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from conftest import REPO, STORY, snapshot, write_project
from storyboard import studio
from storyboard.engines.draft import DraftEngine
from storyboard.errors import PresetError, StoryboardError
from storyboard.export import ExportError, check_png_pixels, make_options
from storyboard.pagesizes import PageSizeError, parse_page_size
from storyboard.render import RenderOptions, planned_sizes
from storyboard.settings import SETTINGS, TEXT_LIMITS, Settings, load_settings, max_chars, text_limits_doc
from storyboard.storyfile import load_project

SPACE = load_settings({"SPACE_ID": "user/space"})
LOCAL = Settings()


def too_long(field: str) -> str:
    return "x" * (max_chars(field) + 1)


def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.new("RGB", (64, 80), (200, 120, 90)).save(path)
    return path


# (id, field of TEXT_LIMITS, call(root, tmp_path, text)); every call sends `text` in that one field
Call = Callable[[Path, Path, str], Any]
TEXT_CASES: list[tuple[str, str, Call]] = [
    ("set_title", "title", lambda root, tmp, text: studio.set_title(root, text)),
    ("add_character name", "name", lambda root, tmp, text: studio.add_character(root, text, photo(tmp), LOCAL)),
    ("add_character description", "description",
     lambda root, tmp, text: studio.add_character(root, "Ana", photo(tmp), LOCAL, description=text)),
    ("add_character colour", "color", lambda root, tmp, text: studio.add_character(root, "Ana", photo(tmp), LOCAL, color=text)),
    ("update_character name", "name", lambda root, tmp, text: studio.update_character(root, "mia", LOCAL, name=text)),
    ("update_character description", "description",
     lambda root, tmp, text: studio.update_character(root, "mia", LOCAL, description=text)),
    ("update_character colour", "color", lambda root, tmp, text: studio.update_character(root, "mia", LOCAL, color=text)),
    ("add_panel prompt", "prompt", lambda root, tmp, text: studio.add_panel(root, text, LOCAL)),
    ("update_panel prompt", "prompt", lambda root, tmp, text: studio.update_panel(root, "p1", prompt=text)),
    ("update_panel caption", "caption", lambda root, tmp, text: studio.update_panel(root, "p1", caption=text)),
    ("update_panel notes", "notes", lambda root, tmp, text: studio.update_panel(root, "p1", notes=text)),
    ("update_panel shot", "choice", lambda root, tmp, text: studio.update_panel(root, "p1", shot=text)),
    ("update_panel character id", "choice", lambda root, tmp, text: studio.update_panel(root, "p1", characters=[text])),
    ("add_balloon text", "balloon", lambda root, tmp, text: studio.add_balloon(root, "p1", text)),
    ("add_balloon speaker", "choice", lambda root, tmp, text: studio.add_balloon(root, "p1", "Hi", text)),
    ("add_balloon kind", "choice", lambda root, tmp, text: studio.add_balloon(root, "p1", "Hi", None, text)),
    ("update_balloon text", "balloon", lambda root, tmp, text: studio.update_balloon(root, "p1", 0, text)),
    ("set_style", "style", lambda root, tmp, text: studio.set_style(root, text)),
    ("set_style_overrides scheduler", "choice", lambda root, tmp, text: studio.set_style_overrides(root, {"scheduler": text})),
    ("set_page_settings size", "page_size", lambda root, tmp, text: studio.set_page_settings(root, size=text)),
    ("set_page_settings template", "choice", lambda root, tmp, text: studio.set_page_settings(root, template=text)),
    ("set_page_settings reading", "choice", lambda root, tmp, text: studio.set_page_settings(root, reading=text)),
    ("set_pose JSON", "pose", lambda root, tmp, text: studio.set_pose(root, "p1", text)),
    ("export kind", "choice", lambda root, tmp, text: studio.export(root, tmp / "out", text, DraftEngine())),
    ("iter_render panel id", "choice",
     lambda root, tmp, text: list(studio.iter_render(root, DraftEngine(), LOCAL, "panel", text))),
    ("open_project name", "choice", lambda root, tmp, text: studio.open_project(root.parent, text)),
]


@pytest.mark.parametrize("field, call", [(f, c) for _, f, c in TEXT_CASES], ids=[i for i, _, _ in TEXT_CASES])
def test_a_text_over_its_limit_is_refused_by_name_and_nothing_is_saved(field: str, call: Call, tmp_path: Path) -> None:
    """Issue 11 item 5: before, a rename took 5 MB and a prompt 2 MB."""
    root = write_project(tmp_path / "proj")
    before = snapshot(root)
    text = too_long(field)
    with pytest.raises(studio.TextTooLong) as refused:
        call(root, tmp_path, text)
    message = str(refused.value)
    limit = TEXT_LIMITS[field]
    assert f"{len(text):,} characters" in message and f"the most is {limit.max_chars:,}" in message, message
    assert "Shorten it" in message and "nothing was saved" in message
    assert text not in message  # never echoed back
    assert snapshot(root) == before


# Free text that is valid at exactly its limit: accepted and saved as sent
AT_LIMIT: list[tuple[str, str, Call, Callable[[Any], str]]] = [
    ("title", "title", lambda root, tmp, text: studio.set_title(root, text), lambda p: p.title),
    ("name", "name", lambda root, tmp, text: studio.update_character(root, "mia", LOCAL, name=text),
     lambda p: p.character("mia").name),
    ("description", "description", lambda root, tmp, text: studio.update_character(root, "mia", LOCAL, description=text),
     lambda p: p.character("mia").description),
    ("prompt", "prompt", lambda root, tmp, text: studio.update_panel(root, "p3", prompt=text), lambda p: p.panel("p3").prompt),
    ("caption", "caption", lambda root, tmp, text: studio.update_panel(root, "p1", caption=text), lambda p: p.panel("p1").caption),
    ("notes", "notes", lambda root, tmp, text: studio.update_panel(root, "p1", notes=text), lambda p: p.panel("p1").notes),
    ("balloon", "balloon", lambda root, tmp, text: studio.add_balloon(root, "p1", text), lambda p: p.panel("p1").balloons[-1].text),
]


@pytest.mark.parametrize("field, call, read", [(f, c, r) for _, f, c, r in AT_LIMIT], ids=[i for i, *_ in AT_LIMIT])
def test_a_text_at_its_limit_is_saved(field: str, call: Call, read: Callable[[Any], str], tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    text = ("word " * max_chars(field))[: max_chars(field) - 1] + "!"
    call(root, tmp_path, text)
    assert read(load_project(root)) == text


def test_create_project_refuses_a_long_title_and_makes_no_folder(tmp_path: Path) -> None:
    session = tmp_path / "session"
    with pytest.raises(studio.TextTooLong, match=r"title is 5,000,000 characters long; the most is 120"):
        studio.create_project(session, "x" * 5_000_000)
    assert not session.exists() or not any(session.iterdir())


def test_import_refuses_a_story_with_an_overlong_text_and_keeps_nothing(tmp_path: Path) -> None:
    source = write_project(tmp_path / "src", STORY.replace('prompt: the empty office', f'prompt: {"a" * 5000}'))
    archive = tmp_path / "long.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in source.rglob("*"):
            if path.is_file():
                z.write(path, path.relative_to(source).as_posix())
    session = tmp_path / "session"
    with pytest.raises(studio.StudioError, match=r"long.zip: The prompt of panel p3 in story.yaml is 5,000 characters"):
        studio.import_project(session, archive, LOCAL)
    assert not any(session.iterdir())


def test_a_long_list_of_characters_gets_a_short_message(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    with pytest.raises(studio.StudioError) as refused:
        studio.update_panel(root, "p1", characters=[f"c{i}" for i in range(100_000)])
    assert "100000 characters" in str(refused.value) and len(str(refused.value)) < 400


def test_the_text_limits_table_is_complete_and_documented() -> None:
    readme = (REPO / "README.md").read_text()
    for limit in TEXT_LIMITS.values():
        assert limit.max_chars > 0 and limit.label and limit.help
    assert text_limits_doc() in readme
    for setting in SETTINGS:
        if setting.name in ("max_steps", "max_page_megapixels"):  # the settings issue 11 item 5 added
            assert f"`{setting.env}` {setting.default} [{setting.space_default}]" in readme


def test_the_ui_text_boxes_carry_the_same_limits(tmp_path: Path) -> None:
    import gradio as gr

    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path)
    boxes = {block.elem_id: block for block in demo.blocks.values() if isinstance(block, gr.Textbox) and block.elem_id}
    expected = {"project-title": "title", "new-title": "title", "cast-name": "name", "cast-description": "description",
                "new-panel-prompt": "prompt", "panel-prompt": "prompt", "panel-caption": "caption",
                "panel-notes": "notes", "balloon-text": "balloon"}
    for elem_id, field in expected.items():
        assert boxes[elem_id].max_length == max_chars(field), elem_id


# ---------------------------------------------------------------- what a render may cost


def test_steps_over_the_studio_limit_are_refused_when_set_and_before_a_render(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    before = snapshot(root)
    with pytest.raises(studio.StudioError, match=r"Detail \(steps\) 51 is more than this studio renders \(50 at most"):
        studio.set_style_overrides(root, {"steps": 51}, SPACE)
    assert snapshot(root) == before
    studio.set_style_overrides(root, {"steps": 50}, SPACE)
    assert dict(load_project(root).style_overrides)["steps"] == 50
    with pytest.raises(PresetError):
        studio.set_style_overrides(root, {"steps": 151})

    studio.set_style_overrides(root, {"steps": 150})  # fine on a local machine, not on a Space
    before = snapshot(root)
    for run in (lambda: list(studio.iter_render(root, DraftEngine(), SPACE, "stale")),
                lambda: list(studio.iter_render(root, DraftEngine(), SPACE, "variations", "p1", 2)),
                lambda: studio.export(root, tmp_path / "out", "pdf", DraftEngine(), settings=SPACE)):
        with pytest.raises(studio.StudioError, match="renders with 150 steps.*at most 50.*Lower Detail"):
            run()
    assert snapshot(root) == before


@pytest.mark.parametrize("count", [0, 5, 1000])
def test_variation_counts_outside_the_limit_are_refused_before_rendering(count: int, tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    before = snapshot(root)
    with pytest.raises(studio.StudioError, match="Ask for 1 to 4 variations"):
        list(studio.iter_render(root, DraftEngine(), SPACE, "variations", "p1", count))
    assert snapshot(root) == before


def test_a_prompt_that_names_long_names_many_times_is_refused_before_rendering(tmp_path: Path) -> None:
    """A 1,000-character prompt of {mia}s with a 60-character name is 12,000 characters for the engine."""
    long_name = "M" * 60
    story = STORY.replace("name: Mia", f"name: {long_name}").replace("prompt: the empty office", "prompt: '" + "{mia}" * 200 + "'")
    root = write_project(tmp_path / "proj", story)
    before = snapshot(root)
    with pytest.raises(studio.TextTooLong, match=r"prompt of panel p3 with the cast's names filled in is 12,000 characters"):
        list(studio.iter_render(root, DraftEngine(), LOCAL, "all"))
    assert snapshot(root) == before


@pytest.mark.parametrize("size", ["1200x1200mm", "50x1200mm", "1200x100mm", "a5"])
def test_render_sizes_do_not_grow_with_the_page(size: str, tmp_path: Path) -> None:
    """The page only shapes a panel's render (about one megapixel); a huge page is no bigger a render."""
    root = write_project(tmp_path / "proj")
    studio.set_page_settings(root, size=size)
    for width, height in planned_sizes(load_project(root), RenderOptions()).values():
        assert width * height <= 1.3e6 and max(width, height) <= 2048


@pytest.mark.parametrize("size", ["5000x5000mm", "1201x100mm", "10x10mm"])
def test_page_sizes_outside_the_bounds_are_refused(size: str) -> None:
    with pytest.raises(PageSizeError, match="between 50 and 1200 mm"):
        parse_page_size(size)


@pytest.mark.parametrize("size, dpi, ok", [("a4", 600, True), ("a4", 150, True), ("1200x1200mm", 150, False),
                                           ("1200x1200mm", 600, False)])
def test_png_pages_are_checked_for_pixels_before_drawing(size: str, dpi: int, ok: bool, tmp_path: Path) -> None:
    options = make_options(tmp_path / "x.pdf", png_dir=tmp_path / "png", png_dpi=dpi)
    if ok:
        check_png_pixels(parse_page_size(size), options)
    else:
        with pytest.raises(ExportError, match=r"megapixels\); the most is 40\. Lower the PNG resolution \(--png-dpi \d+ or less\)"):
            check_png_pixels(parse_page_size(size), options)
    assert not (tmp_path / "png").exists()


def test_the_studio_refuses_a_huge_png_export_before_rendering_and_keeps_the_last_one(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj")
    out = tmp_path / "out"
    first = studio.export(root, out, "png", DraftEngine(), settings=SPACE)
    pages = sorted(p.read_bytes() for p in first.files if p.suffix == ".png")
    studio.set_page_settings(root, size="1000x1000mm")  # 5906 x 5906 px at 150 dpi: 35 megapixels > 15 on a Space
    studio.add_panel(root, "the empty office at night", LOCAL)  # no take yet: the export would render it first
    before = snapshot(root)
    with pytest.raises(ExportError, match=r"1000x1000mm page at 150 dpi would be 5,906 x 5,906 pixels \(35 megapixels\); the most is 15"):
        studio.export(root, out, "png", DraftEngine(), settings=SPACE)
    assert snapshot(root) == before
    assert sorted(p.read_bytes() for p in first.files if p.suffix == ".png") == pages


# ---------------------------------------------------------------- exports and project folders


@pytest.mark.parametrize("title", ["Exports", "exports", "_exports", "EXPORTS!"])
def test_no_project_folder_is_ever_an_export_folder(title: str, tmp_path: Path) -> None:
    """Issue 11 item 5: a project titled "Exports" got the folder <session>/exports, where exports went."""
    session = tmp_path / "session"
    other = studio.create_project(session, "Other")
    studio.add_panel(other, "the empty office", LOCAL)
    root = studio.create_project(session, title)
    studio.add_panel(root, "the empty office", LOCAL)
    assert root.name != studio.EXPORTS_DIR and not root.name.startswith("_")
    project_files = {folder: snapshot(folder) for folder in (root, other)}
    written = [studio.export_project_zip(other, studio.export_dir(session, other)),
               studio.export_project_zip(root, studio.export_dir(session, root))]
    written += studio.export(other, studio.export_dir(session, other), "png", DraftEngine()).files
    written += studio.export(root, studio.export_dir(session, root), "sheet", DraftEngine()).files
    for path in written:
        assert path.is_file() and session / studio.EXPORTS_DIR in path.parents
        assert not any(folder in path.parents for folder in (root, other))
    for folder, files in project_files.items():  # the exports rendered takes into the projects, and wrote nothing else there
        added = set(snapshot(folder)) - set(files)
        assert added and all(k.startswith(("renders/", ".")) for k in added), added
    assert sorted(title for title, _ in studio.list_projects(session)) == sorted(["Other", title])
    with pytest.raises(StoryboardError):
        studio.open_project(session, studio.EXPORTS_DIR)
    with pytest.raises(StoryboardError):
        studio.check_inside(session, session / studio.EXPORTS_DIR / root.name)


def test_open_project_names_a_missing_project_and_what_to_do(tmp_path: Path) -> None:
    session = tmp_path / "session"
    studio.create_project(session, "Mine")
    assert studio.open_project(session, "mine").name == "mine"
    with pytest.raises(StoryboardError, match="'theirs' is not one of this session's projects; pick one from Your projects"):
        studio.open_project(session, "theirs")
    assert studio.open_project(session, "../../elsewhere/mine") == (session / "mine").resolve()  # a name, not a path


# ---------------------------------------------------------------- files for the browser


def test_browser_files_are_private_copies_reused_and_pruned(tmp_path: Path) -> None:
    import os
    import time

    from ui.browser_files import BrowserFiles

    source = tmp_path / "ws" / "story.pdf"
    source.parent.mkdir()
    source.write_bytes(b"%PDF-1.4 first")
    files = BrowserFiles(tmp_path / "copies", keep_s=3600, prune_every_s=0)
    copy = Path(files.copy(source))
    assert copy.name == "story.pdf" and copy.read_bytes() == b"%PDF-1.4 first" and tmp_path / "copies" in copy.parents
    assert files.copy(source) == str(copy)  # the same file again: the same copy
    source.write_bytes(b"%PDF-1.4 second, longer")
    second = Path(files.copy(source))
    assert second != copy and second.read_bytes() == b"%PDF-1.4 second, longer"
    old = time.time() - 7200
    os.utime(copy.parent, (old, old))
    files.copy(source)
    assert not copy.exists() and second.exists()


def test_browser_files_lie_in_gradios_cache_under_names_only_this_app_knows(tmp_path: Path, monkeypatch) -> None:
    """Inside Gradio's cache Gradio serves a copy as it is (outside, it hashes and copies it again each time it is
    returned); the name mixes in a secret of the app, so knowing a file's path, size and time is not enough."""
    from gradio import processing_utils

    from ui.browser_files import BrowserFiles

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "gradio-cache"))
    source = tmp_path / "take.png"
    source.write_bytes(b"\x89PNG not really")
    first, second = BrowserFiles(), BrowserFiles()
    copy = Path(first.copy(source))
    assert (tmp_path / "gradio-cache").resolve() in copy.parents
    assert Path(second.copy(source)).parent.name != copy.parent.name
    hashed = []
    monkeypatch.setattr(processing_utils, "hash_file", lambda *a, **k: hashed.append(a) or "x")
    from ui.studio import build_studio

    demo = build_studio(DraftEngine(), tmp_path / "ws")
    assert demo.move_resource_to_block_cache(str(copy)) == str(copy) and not hashed


def test_the_render_gallery_is_resent_less_often_the_longer_it_takes_to_send(tmp_path: Path) -> None:
    from storyboard.studio import open_sample
    from ui.render_area import Board
    from ui.studio import build_studio

    context = build_studio(DraftEngine(), tmp_path / "ws").studio_context
    board = Board(context, open_sample(tmp_path / "p"))
    assert board.due(final=False)  # nothing sent yet
    board.sent(0.05)
    assert not board.due(final=False) and board.due(final=True) and board.every_s == 2.0
    board.sent(1.5)  # a big gallery: at most a tenth of the run goes to sending it
    assert board.every_s == 15.0


def test_launch_options_block_the_workspace_and_refuse_one_holding_what_must_be_served(tmp_path: Path) -> None:
    import tempfile

    from ui.studio import build_studio, launch_options

    demo = build_studio(DraftEngine(), tmp_path / "ws")
    options = launch_options(demo.studio_context)
    assert options["blocked_paths"] == [str((tmp_path / "ws").resolve())]
    assert all("ws" not in Path(p).parts for p in options["allowed_paths"])
    for folder in (Path(tempfile.gettempdir()), REPO):
        demo = build_studio(DraftEngine(), folder)
        with pytest.raises(StoryboardError, match="give the workspace .* a folder of its own"):
            launch_options(demo.studio_context)
