"""Panels: add, change, duplicate, delete and move them; their pose and their chosen take."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from storyboard.errors import PoseError
from storyboard.model import (
    DEFAULT_SHOT,
    MAX_CHARACTERS_PER_PANEL,
    SHOT_TYPES,
    Panel,
    Project,
)
from storyboard.paths import resolve_inside
from storyboard.poses import Pose, pose_from_json, pose_to_json, read_pose
from storyboard.settings import Settings
from storyboard.store import project_lock
from storyboard.storyfile import MAX_SEED, PLACEHOLDER, atomic_write, load_project, save_project
from storyboard.studio.common import StudioError, _names, _panel, _unique, check_text, panel_name, panel_number

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- panels

PANEL_FIELDS = ("prompt", "characters", "shot", "caption", "notes", "duration", "seed", "seed_locked")


def _check_panel(project: Project, panel: Panel) -> None:
    """Refuse a panel that would be saved wrong, with a message for the person editing it."""
    for field in ("prompt", "caption", "notes"):
        check_text(field, getattr(panel, field), f"{field} of panel {panel.id}")
    check_text("choice", panel.shot, f"shot of panel {panel.id}")
    for cid in panel.characters:
        check_text("choice", cid, f"character id in panel {panel.id}")
    # as the Panels list shows it (with the saved prompt); a panel being added is not in `project` yet
    name = panel_name(project, panel.id) if panel.id in {p.id for p in project.panels} else "The new panel"
    if not panel.prompt.strip():
        raise StudioError(f"{name}: the prompt is empty. Describe what happens, e.g. \"{{mia}} waves at the bus\" "
                          "(pick a name in \"Insert a name\" to put a character in).")
    if len(panel.characters) > MAX_CHARACTERS_PER_PANEL:
        raise StudioError(f"{name}: {_names(project, panel.characters[:4])}{' ...' if len(panel.characters) > 4 else ''} "
                          f"are {len(panel.characters)} characters; "
                          f"a panel holds at most {MAX_CHARACTERS_PER_PANEL}. Untick one, or split the scene over two panels.")
    cast_ids = {c.id for c in project.cast}
    for cid in panel.characters:
        if cid not in cast_ids:
            raise StudioError(f"{name}: {cid!r} is not in the cast; add them in the Cast tab first.")
    for placeholder in PLACEHOLDER.findall(panel.prompt):
        if placeholder not in cast_ids:
            raise StudioError(f"{name}: the prompt names {{{placeholder}}}, who is not in the cast. Use a cast id in "
                              f"braces ({', '.join('{' + c + '}' for c in cast_ids) or 'the cast is empty'}), "
                              "or pick a name in \"Insert a name\".")
    if panel.shot not in SHOT_TYPES:
        raise StudioError(f"{name}: {panel.shot!r} is not a shot type; pick one of {', '.join(SHOT_TYPES)}.")
    if panel.seed is not None and not 0 <= panel.seed <= MAX_SEED:
        raise StudioError(f"{name}: the seed must be a whole number from 0 to {MAX_SEED}, got {panel.seed}.")
    if panel.duration is not None and not 0 < panel.duration < math.inf:  # NaN fails this too
        raise StudioError(f"{name}: the duration must be a positive number of seconds, got {panel.duration:g}.")


def _coerce(field: str, value: Any) -> Any:
    if field == "characters":
        return tuple(str(c) for c in (value or ()))
    if field in ("seed",):
        if value is None or value == "":
            return None
        if isinstance(value, float) and not value.is_integer():
            raise StudioError(f"The seed must be a whole number, got {value}.")
        return int(value)
    if field == "duration":
        return None if value in (None, "", 0) else float(value)
    if field == "seed_locked":
        return bool(value)
    return "" if value is None else str(value).strip() if field == "prompt" else str(value)


def add_panel(root: Path | str, prompt: str, settings: Settings, characters: Sequence[str] = (), shot: str = DEFAULT_SHOT,
              after: str | None = None) -> tuple[Project, str]:
    """Add a panel (at the end, or after the panel `after`); returns the project and the new panel's id."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        if len(project.panels) >= settings.max_panels:
            raise StudioError(f"The story has {len(project.panels)} panels, the most this studio allows; delete one first.")
        numbers = [int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))]
        pid = _unique(f"p{max(numbers, default=0) + 1}", {p.id for p in project.panels})
        panel = Panel(id=pid, prompt=_coerce("prompt", prompt), characters=_coerce("characters", characters), shot=shot or DEFAULT_SHOT)
        _check_panel(project, panel)
        panels = list(project.panels)
        index = len(panels) if after is None else next((i + 1 for i, p in enumerate(panels) if p.id == after), len(panels))
        panels.insert(index, panel)
        project = dataclasses.replace(project, panels=tuple(panels))
        save_project(root, project, history=f"Add {panel_number(project, pid)}")
        return project, pid


def update_panel(root: Path | str, panel_id: str, **changes: Any) -> Project:
    """Change some of a panel's fields (prompt, characters, shot, caption, notes, duration, seed, seed_locked)."""
    unknown = set(changes) - set(PANEL_FIELDS)
    if unknown:
        raise StudioError(f"Unknown panel field(s) {', '.join(sorted(unknown))}; fields are: {', '.join(PANEL_FIELDS)}.")
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        updated = dataclasses.replace(panel, **{k: _coerce(k, v) for k, v in changes.items()})
        _check_panel(project, updated)
        if updated == panel:
            return project
        if updated.characters != panel.characters and panel.pose:
            updated = _recast_pose(root, updated)
        project = project.replace_panel(updated)
        save_project(root, project, history=f"Edit {panel_number(project, panel_id)}")
        return project


def _recast_pose(root: Path, panel: Panel) -> Panel:
    """The panel with its pose's skeletons given the panel's cast, in order, after its characters changed."""
    try:
        pose = read_pose(resolve_inside(root, panel.pose))
    except PoseError as exc:
        log.warning("Panel %s: %s", panel.id, exc)
        return panel
    names = list(panel.characters)[: len(pose.people)]
    recast = pose.with_characters(names + [None] * (len(pose.people) - len(names)))
    return dataclasses.replace(panel, pose=_write_pose_file(root, panel.id, recast))


def duplicate_panel(root: Path | str, panel_id: str, settings: Settings) -> tuple[Project, str]:
    """A copy of a panel (pose and takes included) right after it; returns the project and the copy's id."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        if len(project.panels) >= settings.max_panels:
            raise StudioError(f"The story has {len(project.panels)} panels, the most this studio allows; delete one first.")
        numbers = [int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))]
        pid = _unique(f"p{max(numbers, default=0) + 1}", {p.id for p in project.panels})
        copy = dataclasses.replace(panel, id=pid)  # pose and take files are never changed in place: shared safely
        panels = list(project.panels)
        panels.insert(panels.index(panel) + 1, copy)
        project = dataclasses.replace(project, panels=tuple(panels))
        save_project(root, project, history=f"Duplicate {panel_number(project, panel_id)}")
        return project, pid


def delete_panel(root: Path | str, panel_id: str) -> Project:
    """Remove a panel (its rendered images stay on disk until the project is cleaned)."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        number = project.panels.index(panel) + 1
        project = dataclasses.replace(project, panels=tuple(p for p in project.panels if p.id != panel_id))
        save_project(root, project, history=f"Delete panel {number}")
        return project


def move_panel(root: Path | str, panel_id: str, offset: int) -> Project:
    """Move a panel `offset` places (negative: earlier); it stops at either end."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        panels = list(project.panels)
        index = panels.index(panel)
        target = max(0, min(len(panels) - 1, index + int(offset)))
        if target == index:
            return project
        panels.insert(target, panels.pop(index))
        project = dataclasses.replace(project, panels=tuple(panels))
        save_project(root, project, history=f"Move panel {index + 1}")
        return project


def panel_pose(root: Path | str, panel: Panel) -> Pose | None:
    """The panel's pose, or None when it has none (or its file cannot be read)."""
    if not panel.pose:
        return None
    try:
        return read_pose(resolve_inside(Path(root), panel.pose))
    except PoseError as exc:
        log.warning("Panel %s: %s", panel.id, exc)
        return None


def set_pose(root: Path | str, panel_id: str, pose: Pose | dict | str | None) -> tuple[Project, bool]:
    """Set (or with None / no skeletons, clear) a panel's pose; returns the project and whether it changed."""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        if isinstance(pose, str):
            check_text("pose", pose, f"pose JSON of panel {panel_id}")
            try:
                pose = json.loads(pose) if pose.strip() else None
            except json.JSONDecodeError as exc:
                raise PoseError(f"{panel_name(project, panel_id)}: the pose is not valid JSON ({exc}).") from None
        if isinstance(pose, dict):
            pose = pose_from_json(pose, f"the pose of {panel_number(project, panel_id)}")
        if pose is None or not pose.people:
            if panel.pose is None:
                return project, False
            project = project.replace_panel(dataclasses.replace(panel, pose=None))
            save_project(root, project, history=f"Pose {panel_number(project, panel_id)}")
            return project, True
        if len(pose.people) > MAX_CHARACTERS_PER_PANEL:
            raise PoseError(f"{panel_name(project, panel_id)}: the pose has {len(pose.people)} skeletons; a panel holds "
                            f"at most {MAX_CHARACTERS_PER_PANEL}. Remove one (pick it, then Remove person).")
        if panel_pose(root, panel) == pose:
            return project, False
        project = project.replace_panel(dataclasses.replace(panel, pose=_write_pose_file(root, panel_id, pose)))
        save_project(root, project, history=f"Pose {panel_number(project, panel_id)}")
        return project, True


def _write_pose_file(root: Path, panel_id: str, pose: Pose) -> str:
    """Write a pose to a file named after its content and return its path: each state of the story keeps its
    own pose file, so undo can go back to an earlier pose (storyboard.history removes files nothing names)."""
    data = json.dumps(pose_to_json(pose), indent=1).encode("utf-8")
    rel = f"poses/{panel_id}-{hashlib.sha256(data).hexdigest()[:10]}.json"
    atomic_write(resolve_inside(root, rel), data)
    return rel


def select_take(root: Path | str, panel_id: str, index: int) -> Project:
    """Make take number `index` (from 0) the panel's chosen image; the panel's seed follows it unless locked.

    (So choosing a take never makes the panel stale, and the next render keeps it.)"""
    root = Path(root)
    with project_lock(root):
        project = load_project(root)
        panel = _panel(project, panel_id, root)
        if not isinstance(index, int) or not 0 <= index < len(panel.takes):
            raise StudioError(f"{panel_name(project, panel_id)} has {len(panel.takes)} take(s); there is no take "
                              f"{index + 1 if isinstance(index, int) else index}.")
        seed = panel.takes[index].seed
        if panel.seed_locked or seed is None:
            seed = panel.seed
        if (panel.selected, panel.seed) != (index, seed):
            project = project.replace_panel(dataclasses.replace(panel, selected=index, seed=seed))
            save_project(root, project, history=f"Choose take {index + 1} of {panel_number(project, panel_id)}")
        return project
