"""Lettering of a panel: its speech, thought, shout and whisper balloons, and balloons and captions placed by hand."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from storyboard.model import (
    BALLOON_KINDS,
    Balloon,
    Panel,
    Project,
    lettering_problem,
)
from storyboard.store import project_lock
from storyboard.storyfile import load_project, save_project
from storyboard.studio.common import StudioError, _panel, check_text, panel_name, panel_number

log = logging.getLogger(__name__)

def _check_balloon(project: Project, panel: Panel, text: str, speaker: str | None, kind: str) -> Balloon:
    check_text("balloon", text, f"balloon text in panel {panel.id}")
    check_text("choice", speaker, f"speaker of the balloon in panel {panel.id}")
    check_text("choice", kind, f"balloon kind in panel {panel.id}")
    text = (text or "").strip()
    if not text:
        raise StudioError(f"{panel_name(project, panel.id)}: the balloon has no text; type what is said in "
                          "Balloon text.")
    if kind not in BALLOON_KINDS:
        raise StudioError(f"Balloon kind {kind!r} is unknown; pick one of {', '.join(BALLOON_KINDS)}.")
    speaker = speaker or None
    if speaker is not None and speaker not in {c.id for c in project.cast}:
        raise StudioError(f"{panel_name(project, panel.id)}: the speaker {speaker!r} is not in the cast; pick one in "
                          "Speaker (or nobody: off-panel / narrator).")
    return Balloon(text=text, speaker=speaker, kind=kind)


def add_balloon(root: Path | str, panel_id: str, text: str, speaker: str | None = None, kind: str = "speech") -> Project:
    """Add a speech, thought, shout or whisper balloon to a panel."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        balloon = _check_balloon(project, panel, text, speaker, kind)
        project = project.replace_panel(dataclasses.replace(panel, balloons=panel.balloons + (balloon,)))
        save_project(root, project, history=f"Add a balloon to {panel_number(project, panel_id)}")
        return project


def _balloon_index(project: Project, panel: Panel, index: int) -> int:
    if not isinstance(index, int) or not 0 <= index < len(panel.balloons):
        number = index + 1 if isinstance(index, int) else index
        raise StudioError(f"{panel_name(project, panel.id)} has no balloon {number}; it has {len(panel.balloons)}. "
                          "Pick one in the Balloons list.")
    return index


def update_balloon(root: Path | str, panel_id: str, index: int, text: str, speaker: str | None = None,
                   kind: str = "speech") -> Project:
    """Replace a panel's balloon number `index` (from 0)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        index = _balloon_index(project, panel, index)
        balloons = list(panel.balloons)
        new = _check_balloon(project, panel, text, speaker, kind)
        # where it was placed by hand stays
        balloons[index] = dataclasses.replace(balloons[index], text=new.text, speaker=new.speaker, kind=new.kind)
        project = project.replace_panel(dataclasses.replace(panel, balloons=tuple(balloons)))
        save_project(root, project, history=f"Change balloon {index + 1} of {panel_number(project, panel_id)}")
        return project


def remove_balloon(root: Path | str, panel_id: str, index: int) -> Project:
    """Remove a panel's balloon number `index` (from 0)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        index = _balloon_index(project, panel, index)
        project = project.replace_panel(dataclasses.replace(panel, balloons=panel.balloons[:index] + panel.balloons[index + 1:]))
        save_project(root, project, history=f"Remove balloon {index + 1} of {panel_number(project, panel_id)}")
        return project


# ---------------------------------------------------------------- lettering placed by hand

LETTERING_TARGETS = ("balloon", "caption")
EDIT_KEYS = ("panel", "target", "index", "at", "size", "tail", "reset")


def set_lettering(root: Path | str, panel_id: str, target: str, index: int | None = None,
                  at: Sequence[float] | None = None, size: Sequence[float] | None = None,
                  tail: Sequence[float] | None = None, reset: bool = False) -> Project:
    """Place a panel's balloon number `index` (from 0) or its caption by hand: its centre `at`, its `size` and (a
    balloon's) `tail` tip, as fractions of the panel (model.LETTERING_RANGES), any of them; `reset` puts it back to
    automatic placement. One undoable change, under the project's lock; nothing is saved when nothing changes."""
    root = Path(root)
    check_text("choice", panel_id, "panel id")
    check_text("choice", target, "lettering target")
    if target not in LETTERING_TARGETS:
        raise StudioError(f"Lettering target {target!r} must be 'balloon' or 'caption'.")
    if not isinstance(reset, bool):
        raise StudioError(f"reset must be true or false, got {reset!r}.")
    values = {"at": at, "size": size, "tail": tail}
    if target == "caption" and tail is not None:
        raise StudioError("A caption has no tail; only a balloon's tail can be aimed.")
    if not reset and all(v is None for v in values.values()):
        raise StudioError("Nothing to change: give a position (at), a size or a tail tip, or reset it to automatic.")
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        name = panel_name(project, panel.id)
        number = panel_number(project, panel.id)
        checked = {key: _pair(key, value, f"{name}: the {target}'s {key}") for key, value in values.items() if value is not None}
        if target == "caption":
            if index is not None:
                raise StudioError(f"{name}: a caption has no number; leave the index out.")
            if not panel.caption.strip():
                raise StudioError(f"{name} has no caption to place; type one in Caption on the Panels tab first.")
            if reset:
                changed = dataclasses.replace(panel, caption_at=None, caption_size=None)
            else:
                changed = dataclasses.replace(panel, caption_at=checked.get("at", panel.caption_at),
                                              caption_size=checked.get("size", panel.caption_size))
            what = f"the caption of {number}"
        else:
            if isinstance(index, bool) or not isinstance(index, int):
                raise StudioError(f"{name}: say which balloon with its index (a whole number from 0), got {index!r}.")
            index = _balloon_index(project, panel, index)
            balloon = panel.balloons[index]
            if reset:
                balloon = dataclasses.replace(balloon, at=None, size=None, tail=None)
            else:
                balloon = dataclasses.replace(balloon, **{k: checked.get(k, getattr(balloon, k)) for k in values})
            balloons = list(panel.balloons)
            balloons[index] = balloon
            changed = dataclasses.replace(panel, balloons=tuple(balloons))
            what = f"balloon {index + 1} of {number}"
        if changed != panel:
            project = project.replace_panel(changed)
            save_project(root, project, history=_label(what, checked, reset))
        return project


def apply_lettering_edit(root: Path | str, edit: Any) -> Project:
    """`set_lettering` from one edit as plain data (what the page view sends, or a script): a mapping with `panel`,
    `target`, `index` (balloons), and `at`, `size`, `tail` or `reset: true`. Every key and value is checked."""
    if isinstance(edit, str):
        try:
            edit = json.loads(edit)
        except ValueError:
            raise StudioError("The lettering edit is not JSON; send a mapping like "
                              '{"panel": "p2", "target": "balloon", "index": 0, "at": [0.5, 0.3]}.') from None
    if not isinstance(edit, Mapping):
        raise StudioError(f"The lettering edit must be a mapping with {', '.join(EDIT_KEYS)}, got {type(edit).__name__}.")
    unknown = sorted(str(k) for k in edit if k not in EDIT_KEYS)
    if unknown:
        raise StudioError(f"The lettering edit has unknown key(s) {', '.join(unknown)}; allowed: {', '.join(EDIT_KEYS)}.")
    panel_id, target = edit.get("panel"), edit.get("target")
    if not isinstance(panel_id, str) or not isinstance(target, str):
        raise StudioError("The lettering edit needs `panel` (a panel id) and `target` ('balloon' or 'caption').")
    return set_lettering(root, panel_id, target, edit.get("index"), edit.get("at"), edit.get("size"), edit.get("tail"),
                         edit.get("reset", False))


def _pair(kind: str, value: Any, what: str) -> tuple[float, float]:
    problem = lettering_problem(kind, value)
    if problem:
        raise StudioError(f"{what} {problem}.")
    return round(float(value[0]), 4), round(float(value[1]), 4)


def _label(what: str, checked: Mapping[str, tuple[float, float]], reset: bool) -> str:
    """The history label of a lettering change: 'Move balloon 1 of panel 2'."""
    if reset:
        return f"Reset {what} to automatic"
    if set(checked) == {"tail"}:
        return f"Aim the tail of {what}"
    if "size" in checked:
        return f"Resize {what}"
    return f"Move {what}"
