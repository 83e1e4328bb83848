"""Lettering of a panel: its speech, thought, shout and whisper balloons."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

from storyboard.model import (
    BALLOON_KINDS,
    Balloon,
    Panel,
    Project,
)
from storyboard.storyfile import load_project, save_project

from storyboard.store import project_lock
from storyboard.studio.common import check_text
from storyboard.studio.common import StudioError, _panel, panel_name, panel_number

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
        balloons[index] = _check_balloon(project, panel, text, speaker, kind)
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
