"""story.yaml: round trip of every field, each validation error with file and line, atomic saves, zips."""

from __future__ import annotations

import dataclasses
import os
import zipfile
from pathlib import Path

import pytest

from conftest import STORY, write_project
from storyboard.errors import ProjectError
from storyboard.model import Balloon, Character, PageSettings, Panel, Project, Take
from storyboard.store import project_lock
from storyboard.archive import export_zip, import_zip
from storyboard.storyfile import dump_story, load_project, new_project, parse_story, save_project

FULL = Project(
    title="Everything: a test",
    author="A. Writer",
    style="noir",
    style_overrides=(("steps", 30), ("ip_adapter_scale", 0.9)),
    page=PageSettings(size="210x297mm", template="grid-2x2", reading="rtl"),
    cast=(
        Character(id="mia", name="Mia Ødegård", reference="cast/mia.png", mask="cast/m.png", outfit="cast/coat.png",
                  description="short red hair: green coat # not a comment", color="#ff00aa"),
        Character(id="leo", name="Leo", reference="cast/leo.png", color="#2e86ab"),
    ),
    panels=(
        Panel(
            id="p1", prompt="{mia} meets {leo}: 'hello'", characters=("mia", "leo"), pose="poses/p1.json",
            shot="over-the-shoulder", caption="Monday, 8:59.", notes="camera low\nbus leaves frame right",
            caption_at=(0.5, 0.1), caption_size=(0.6, 0.125),
            balloons=(Balloon(text="Wait!", speaker="mia", kind="shout", at=(0.25, 0.2), size=(0.4, 0.15), tail=(-0.1, 1.25)),
                      Balloon(text="…psst", speaker="leo", kind="whisper"),
                      Balloon(text="Hmm.", speaker="mia", kind="thought"), Balloon(text="Off-panel voice", kind="speech")),
            duration=2.5, seed=4294967295, seed_locked=True,
            takes=(Take(file="renders/p1/1.png"), Take(file="renders/p1/2.png", seed=2, engine="draft", inputs="abc123",
                                                       scores=(("face_sim", 0.7125), ("clip_i", 0.8)), scored="9f2c",
                                                       faces=(("mia", (0.1, 0.2, 0.15, 0.25)),))),
            selected=0,
        ),
        Panel(id="p2"),
    ),
)


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    with project_lock(tmp_path):
        save_project(tmp_path, FULL)
    assert load_project(tmp_path) == FULL
    assert parse_story(dump_story(FULL)) == FULL


def test_every_dataclass_field_is_in_the_round_trip() -> None:
    """Guards the FULL fixture: a new model field must get a non-default value there."""
    for obj in (FULL, FULL.page, FULL.cast[0], FULL.panels[0], FULL.panels[0].balloons[0], FULL.panels[0].takes[1]):
        for f in dataclasses.fields(obj):
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else object())
            assert getattr(obj, f.name) != default or f.name == "schema", f"{type(obj).__name__}.{f.name} keeps its default"


def test_plain_take_paths_load_as_hand_added_takes() -> None:
    project = parse_story("schema: 1\ntitle: T\npanels:\n  - id: p1\n    takes: [renders/p1/1234.png]\n")
    assert project.panels[0].takes == (Take(file="renders/p1/1234.png"),)
    assert project.panels[0].selected == 0


AUTO = -1  # the line of the replacement's last line

# (text in the valid STORY, its replacement, words the message must hold, the line it must name)
BAD_STORIES = [
    ("title: Test Story\n", "title: [Test Story\n", "not valid YAML", 3),
    ("schema: 1\n", "schema: 2\n", "schema 2 is not supported", AUTO),
    ("title: Test Story\n", "", "has no 'title'", None),
    ("author: Tester\n", "author: Tester\ncolour: red\n", "unknown key 'colour'", AUTO),
    ("    notes: camera low\n", "    notes: camera low\n    note: typo\n", "unknown key 'note' in panel 'p1'", AUTO),
    ("  - id: leo\n", "  - id: Leo Smith\n", "'Leo Smith' is not valid", AUTO),
    ("    characters: [mia, leo]\n", "    characters: [mia, bob]\n", "'bob', who is not in the cast", AUTO),
    ("    characters: [mia, leo]\n", "    characters: [mia, leo, mia, leo, mia]\n", "at most 4", AUTO),  # issue 15 item 5
    ("    characters: [mia, leo]\n", "    characters: [mia, mia]\n", "names 'mia' twice", AUTO),
    ("    shot: wide\n", "    shot: aerial\n", "shot 'aerial' is not a shot type", AUTO),
    ("      - {speaker: leo, kind: speech, text: Morning!}\n",
     "      - {speaker: leo, kind: sing, text: Morning!}\n", "kind 'sing'", AUTO),
    ("      - {speaker: leo, kind: speech, text: Morning!}\n",
     "      - {speaker: zed, kind: speech, text: Morning!}\n", "speaker 'zed' is not in the cast", AUTO),
    ("    seed: 99\n", "    seed: -5\n", "seed -5 must be between", AUTO),
    ("    seed: 99\n", "    seed: lucky\n", "'seed' in panel 'p2' must be an integer", AUTO),
    ("    duration: 2.5\n", "    duration: 0\n", "duration must be a positive", AUTO),
    ("    reference: cast/mia.png\n", "    reference: ../../etc/passwd\n", "leads outside the project folder", AUTO),
    ("    reference: cast/mia.png\n", "    reference: /etc/passwd\n", "is an absolute path", AUTO),
    ("    reference: cast/leo.png\n", "    reference: C:\\\\Users\\\\x.png\n", "is an absolute path", AUTO),
    ("    pose: poses/p2.json\n", "    pose: poses/../../p2.json\n", "leads outside", AUTO),
    ('    color: "#2e86ab"\n', "    color: blue\n", "colour 'blue'", AUTO),
    ("page: {size: a4, template: auto, reading: ltr}\n", "page: {size: a4, template: auto, reading: up}\n", "reading 'up'", AUTO),
    ("  - id: p3\n", "  - id: p2\n", "panel id 'p2' is used twice", AUTO),
    ("  - id: leo\n", "  - id: mia\n", "cast id 'mia' is used twice", AUTO),
    ('    prompt: "{mia} runs for the bus"\n', '    prompt: "{bob} runs for the bus"\n', "{bob}, who is not in the cast", AUTO),
    ('    caption: "Monday, 8:59."\n', "    caption: 8:59\n", "must be text", AUTO),
    ("    seed_locked: true\n", "    seed_locked: true\n    selected: 3\n", "selected take 3 does not exist", AUTO),
    ("author: Tester\n", "author: [Tester]\n", "'author' in the story must be text", AUTO),
    ("style: ink-comic\n", "style: ink-comic\nstyle_overrides: {steps: 500}\n", "steps 500 is out of range", AUTO),
    ("style: ink-comic\n", "style: ink-comic\nstyle_overrides: {stepz: 5}\n", "unknown key 'stepz' in style_overrides", AUTO),
    ("    seed: 1234\n", "    seed: 1234\n    takes:\n      - {file: a.png, scores: {face_sim: high}}\n", "score 'face_sim' must be a number", AUTO),
]


@pytest.mark.parametrize(("old", "new", "message", "line"), BAD_STORIES)
def test_each_validation_error_names_file_line_and_thing(old: str, new: str, message: str, line: int | None) -> None:
    assert old in STORY
    text = STORY.replace(old, new, 1)
    if line == AUTO:
        line = STORY[: STORY.index(old)].count("\n") + new.count("\n")
    with pytest.raises(ProjectError) as info:
        parse_story(text, source="/x/story.yaml")
    text_of_error = str(info.value)
    assert message in text_of_error
    assert text_of_error.startswith("/x/story.yaml")
    if line is not None:
        assert f"line {line}" in text_of_error, text_of_error


def test_load_rejects_a_symlink_that_escapes(project_dir: Path, tmp_path: Path) -> None:
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"x")
    (project_dir / "cast" / "mia.png").unlink()
    os.symlink(outside, project_dir / "cast" / "mia.png")
    with pytest.raises(ProjectError, match="leads outside the project folder"):
        load_project(project_dir)


def test_missing_project_folder_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="python -m storyboard new"):
        load_project(tmp_path)


def test_empty_and_non_utf8_files(tmp_path: Path) -> None:
    (tmp_path / "story.yaml").write_text("")
    with pytest.raises(ProjectError, match="is empty"):
        load_project(tmp_path)
    (tmp_path / "story.yaml").write_bytes(b"title: \xff\xfe")
    with pytest.raises(ProjectError, match="not UTF-8"):
        load_project(tmp_path)


def test_atomic_save_keeps_the_old_file_when_writing_fails(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (project_dir / "story.yaml").read_bytes()
    project = load_project(project_dir)
    changed = dataclasses.replace(project, title="Changed")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(ProjectError, match="previous version is unchanged"):
        with project_lock(project_dir):
            save_project(project_dir, changed)
    assert (project_dir / "story.yaml").read_bytes() == before
    assert not [p for p in project_dir.iterdir() if p.name.endswith(".tmp")], "temp file left behind"


def test_atomic_save_survives_a_crash_mid_write(project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = (project_dir / "story.yaml").read_bytes()
    real_fsync = os.fsync

    def crash(fd: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(KeyboardInterrupt):
        with project_lock(project_dir):
            save_project(project_dir, dataclasses.replace(load_project(project_dir), title="Half"))
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert (project_dir / "story.yaml").read_bytes() == before
    assert load_project(project_dir).title == "Test Story"


def test_save_refuses_an_invalid_project(project_dir: Path) -> None:
    project = load_project(project_dir)
    bad = project.replace_panel(dataclasses.replace(project.panel("p1"), characters=("nobody",)))
    with pytest.raises(ProjectError, match="nobody"):
        with project_lock(project_dir):
            save_project(project_dir, bad)
    assert load_project(project_dir) == project


def test_new_project_makes_a_valid_folder_and_refuses_to_overwrite(tmp_path: Path) -> None:
    project = new_project(tmp_path / "my-comic")
    assert project.title == "My Comic"
    assert load_project(tmp_path / "my-comic") == project
    with pytest.raises(ProjectError, match="already holds"):
        new_project(tmp_path / "my-comic")


def test_zip_round_trip(project_dir: Path, tmp_path: Path) -> None:
    archive = export_zip(project_dir, tmp_path / "out" / "story.zip")
    imported = import_zip(archive, tmp_path / "imported")
    assert imported == load_project(project_dir)
    assert (tmp_path / "imported" / "cast" / "mia.png").read_bytes() == (project_dir / "cast" / "mia.png").read_bytes()


def test_zip_with_a_top_folder_imports(project_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "nested.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in project_dir.rglob("*"):
            if path.is_file():
                z.write(path, "proj/" + path.relative_to(project_dir).as_posix())
    assert import_zip(archive, tmp_path / "in").title == "Test Story"


@pytest.mark.parametrize("entry", ["../evil.txt", "/etc/evil", "cast/../../evil.txt", "C:/evil.txt", "..\\evil.txt"])
def test_zip_import_rejects_escaping_entries(project_dir: Path, tmp_path: Path, entry: str) -> None:
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(project_dir / "story.yaml", "story.yaml")
        z.writestr(entry, "gotcha")
    dest = tmp_path / "dest"
    with pytest.raises(ProjectError, match="nothing was imported"):
        import_zip(archive, dest)
    assert not dest.exists()
    assert not (tmp_path / "evil.txt").exists()


def test_zip_import_rejects_symlink_entries(project_dir: Path, tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(project_dir / "story.yaml", "story.yaml")
        info = zipfile.ZipInfo("cast/mia.png")
        info.external_attr = (0o120777 << 16)
        z.writestr(info, "/etc/passwd")
    with pytest.raises(ProjectError, match="symbolic link"):
        import_zip(archive, tmp_path / "dest")


def test_zip_import_of_a_broken_project_leaves_nothing(tmp_path: Path) -> None:
    archive = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("story.yaml", "schema: 1\ntitle: [broken\n")
    with pytest.raises(ProjectError, match="not valid YAML"):
        import_zip(archive, tmp_path / "dest")
    assert not (tmp_path / "dest").exists()
    (tmp_path / "notzip.zip").write_bytes(b"not a zip")
    with pytest.raises(ProjectError, match="not a readable .zip"):
        import_zip(tmp_path / "notzip.zip", tmp_path / "dest")
    with zipfile.ZipFile(tmp_path / "nostory.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(ProjectError, match="holds no story.yaml"):
        import_zip(tmp_path / "nostory.zip", tmp_path / "dest")


def test_zip_import_refuses_a_non_empty_folder(project_dir: Path, tmp_path: Path) -> None:
    archive = export_zip(project_dir, tmp_path / "a.zip")
    with pytest.raises(ProjectError, match="not empty"):
        import_zip(archive, project_dir)
    assert load_project(project_dir).title == "Test Story"


def test_write_project_helper_is_valid(tmp_path: Path) -> None:
    assert len(load_project(write_project(tmp_path / "x")).panels) == 3


@pytest.mark.parametrize("line", ["", "    reference:\n", '    reference: ""\n'])
def test_a_cast_member_may_have_no_reference_photo(line: str) -> None:
    """Issue 12 item 4: draft mode draws a character without a photo; such a story loads, saves and loads again."""
    text = STORY.replace("    reference: cast/leo.png\n", line, 1)
    project = parse_story(text, source="/x/story.yaml")
    assert project.character("leo").reference is None and project.character("mia").reference == "cast/mia.png"
    dumped = dump_story(project)
    assert "reference" not in dumped.split("id: leo")[1].split("panels:")[0]
    assert parse_story(dumped) == project
