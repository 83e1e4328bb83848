"""Undo and redo of every change (issue 12 item 5): nothing is final by accident, and undo never loses a take."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import POSE_P2
from storyboard import history, studio
from storyboard.engines.draft import DraftEngine
from storyboard.render import RenderOptions, render_project
from storyboard.settings import load_settings
from storyboard.store import update_project
from storyboard.storyfile import load_project

SETTINGS = load_settings({})


def test_delete_a_panel_then_undo_and_redo(project_dir: Path) -> None:
    render_project(project_dir, load_project(project_dir), DraftEngine(), options=RenderOptions(max_side=64))
    before = load_project(project_dir)
    studio.delete_panel(project_dir, "p2")
    assert [p.id for p in load_project(project_dir).panels] == ["p1", "p3"]
    assert studio.history_labels(project_dir)[0][0] == "Delete panel 2"
    project, label = studio.undo(project_dir)
    assert label == "Delete panel 2" and project == before
    assert (project_dir / project.panel("p2").pose).is_file() and (project_dir / project.panel("p2").selected_take.file).is_file()
    project, label = studio.redo(project_dir)
    assert [p.id for p in project.panels] == ["p1", "p3"]
    with pytest.raises(studio.NothingToUndo, match="nothing to redo"):
        studio.redo(project_dir)
    studio.undo(project_dir)
    assert load_project(project_dir) == before


def test_undo_reverts_only_its_change_and_keeps_takes_rendered_since(project_dir: Path) -> None:
    studio.update_panel(project_dir, "p1", prompt="{mia} misses the bus")
    studio.add_balloon(project_dir, "p3", "Empty.", None, "whisper")
    render_project(project_dir, load_project(project_dir), DraftEngine(), ["p1"], options=RenderOptions(max_side=64))
    rendered = load_project(project_dir).panel("p1")
    project, label = studio.undo(project_dir)  # the balloon
    assert label == "Add a balloon to panel 3" and project.panel("p3").balloons == ()
    project, label = studio.undo(project_dir)  # the prompt
    assert label == "Edit panel 1" and project.panel("p1").prompt == "{mia} runs for the bus"
    assert project.panel("p1").takes == rendered.takes and project.panel("p1").selected == rendered.selected
    project, _ = studio.redo(project_dir)
    assert project.panel("p1").prompt == "{mia} misses the bus" and project.panel("p1").takes == rendered.takes


def test_a_value_changed_again_since_stays(project_dir: Path) -> None:
    studio.update_panel(project_dir, "p1", caption="First")
    update_project(project_dir, lambda p: p.replace_panel(dataclasses.replace(p.panel("p1"), caption="Later")))
    project, _ = studio.undo(project_dir)
    assert project.panel("p1").caption == "Later"


def test_undo_a_removed_character_brings_back_photo_and_panels(project_dir: Path) -> None:
    before = load_project(project_dir)
    studio.remove_character(project_dir, "leo")
    assert (project_dir / "cast" / "leo.png").is_file(), "the photo stays while undo may need it"
    project, label = studio.undo(project_dir)
    assert label == "Remove Leo" and project == before


def test_undo_a_pose_and_a_new_photo(project_dir: Path, tmp_path: Path) -> None:
    moved = json.loads(json.dumps(POSE_P2))
    moved["people"][0]["pose_keypoints_2d"][0] += 40
    old_pose = load_project(project_dir).panel("p2").pose
    old_bytes = (project_dir / old_pose).read_bytes()
    studio.set_pose(project_dir, "p2", moved)
    assert load_project(project_dir).panel("p2").pose != old_pose
    photo = tmp_path / "new.png"
    Image.new("RGB", (40, 40), "blue").save(photo)
    studio.update_character(project_dir, "mia", SETTINGS, photo=photo)
    project, _ = studio.undo(project_dir)
    assert project.character("mia").reference == "cast/mia.png"
    project, label = studio.undo(project_dir)
    assert label == "Pose panel 2" and project.panel("p2").pose == old_pose
    assert (project_dir / old_pose).read_bytes() == old_bytes


def test_undo_after_a_move_and_a_later_add(project_dir: Path) -> None:
    studio.move_panel(project_dir, "p3", -2)
    studio.add_panel(project_dir, "later", SETTINGS)
    studio.undo(project_dir)  # the add
    project, label = studio.undo(project_dir)
    assert label == "Move panel 3" and [p.id for p in project.panels] == ["p1", "p2", "p3"]


@pytest.mark.parametrize(("old", "new", "current", "expected"), [
    ({"a": 1}, {"a": 2}, {"a": 1}, {"a": 2}),  # untouched since: the change applies
    ({"a": 1}, {"a": 2}, {"a": 3}, {"a": 3}),  # changed since: the later change wins
    ({"a": 1, "b": 1}, {"a": 2, "b": 1}, {"a": 1, "b": 5}, {"a": 2, "b": 5}),  # key by key
    ([{"id": "p1"}, {"id": "p2"}], [{"id": "p1"}], [{"id": "p1"}, {"id": "p2", "x": 1}, {"id": "p9"}],
     [{"id": "p1"}, {"id": "p9"}]),  # removes p2 even when changed since (redo brings that version back)
    ([{"id": "p1"}], [{"id": "p1"}, {"id": "p2"}], [{"id": "p0"}, {"id": "p1"}], [{"id": "p0"}, {"id": "p1"}, {"id": "p2"}]),
    ([{"id": "p1"}, {"id": "p2"}], [{"id": "p2"}, {"id": "p1"}], [{"id": "p1"}, {"id": "p3"}, {"id": "p2"}],
     [{"id": "p2"}, {"id": "p1"}, {"id": "p3"}]),  # the move applies; p3, added since, stays after p1
])
def test_revert_value_by_value(old, new, current, expected) -> None:
    assert history.revert(old, new, current) == expected


def test_history_is_bounded_and_files_only_old_entries_named_are_removed(project_dir: Path, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(history, "MAX_ENTRIES", 5)
    monkeypatch.setattr(history, "PRUNE_BATCH", 2)
    photos = []
    for i in range(9):
        photo = tmp_path / f"p{i}.png"
        Image.new("RGB", (20, 20), (i * 20, 0, 0)).save(photo)
        studio.update_character(project_dir, "leo", SETTINGS, photo=photo)
        photos.append(load_project(project_dir).character("leo").reference)
    undo, redo = studio.history_labels(project_dir)
    assert len(undo) <= 7 and redo == []
    assert not (project_dir / "cast" / "leo.png").exists(), "a photo only dropped entries named is removed"
    assert all((project_dir / rel).is_file() for rel in photos[-5:])
    kept = load_project(project_dir)
    for _ in range(len(undo)):
        studio.undo(project_dir)
    assert load_project(project_dir).character("leo").reference != kept.character("leo").reference


def test_nothing_to_undo_and_renders_leave_no_entry(project_dir: Path) -> None:
    render_project(project_dir, load_project(project_dir), DraftEngine(), options=RenderOptions(max_side=64))
    with pytest.raises(studio.NothingToUndo, match="nothing to undo"):
        studio.undo(project_dir)
