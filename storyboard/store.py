"""The one writer of a project: changes applied to the story as it is on disk at that moment, never to a
copy read earlier, under the project's lock (storyboard.locking).

    with project_lock(root):
        project = load_project(root)          # the current story, under the lock
        ...                                   # check the request, write new files
        save_project(root, changed)           # refused outside the lock

`update_project(root, change)` does exactly that for a function `change(project) -> project`. A crash
(kill -9) at any moment leaves the last good story.yaml; `recover` removes the temporary files it may
leave behind and folds the takes a killed render recorded. `undo` and `redo` step through the history
of changes (storyboard.history) the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from storyboard import history, journal
from storyboard.errors import ProjectError
from storyboard.locking import LOCK_FILE, ProjectBusy, _swept, holds_lock, project_key, project_lock, sweep_temp_files

__all__ = ["LOCK_FILE", "ProjectBusy", "compact", "holds_lock", "project_lock", "recover", "redo", "undo",
           "update_project"]
from storyboard.model import Project
from storyboard.paths import resolve_inside
from storyboard.storyfile import dump_data, load_project, parse_story, save_project, to_data

log = logging.getLogger(__name__)


def recover(root: Path | str) -> list[Path]:
    """Open a project for work: under its lock, remove what an interrupted save left behind and write the takes
    a killed render recorded into story.yaml; returns the files removed."""
    key = project_key(root)
    _swept.add(key)  # the sweep below is this process's first one too
    with project_lock(root):
        removed = sweep_temp_files(Path(key))
        compact(root)  # takes a killed render recorded go into story.yaml
        return removed


def compact(root: Path | str) -> Project:
    """Write the takes a render recorded in the journal into story.yaml (one save); returns the story."""
    with project_lock(root):
        project = load_project(root)
        if journal.path(root).exists():
            save_project(root, project)
        return project


def update_project(root: Path | str, change: Callable[[Project], Project]) -> Project:
    """Apply `change(current project) -> project` under the lock and save when it changed; returns the result."""
    with project_lock(root):
        current = load_project(root)
        changed = change(current)
        if changed != current:
            save_project(root, changed)
        return changed


# ---------------------------------------------------------------- undo and redo


def undo(root: Path | str) -> tuple[Project, str]:
    """Revert the newest change onto the current story; returns the story and what was undone."""
    return _step(Path(root), "undo", "redo")


def redo(root: Path | str) -> tuple[Project, str]:
    """Apply again the newest undone change; returns the story and what was redone."""
    return _step(Path(root), "redo", "undo")


def _step(root: Path, source: str, target: str) -> tuple[Project, str]:
    with project_lock(root):
        entry, path = history.newest(root, source)
        now = to_data(load_project(root))
        # undo takes the story from `after` back to `before`; redo from `before` to `after`
        old, new = (entry.after, entry.before) if source == "undo" else (entry.before, entry.after)
        merged = history.revert(old, new, now)
        try:
            result = parse_story(dump_data(merged), source=f"{root / history.HISTORY_DIR} ({entry.label})")
        except ProjectError as exc:
            raise ProjectError(f"Cannot {source} \u201c{entry.label}\u201d: later changes conflict with it ({exc}). "
                               "Make the change by hand instead.") from None
        missing = [rel for rel in history.named_paths(merged) if not resolve_inside(root, rel).exists()]
        if missing:
            raise ProjectError(f"Cannot {source} \u201c{entry.label}\u201d: the file(s) {', '.join(missing[:3])} it needs "
                               "are gone. Make the change by hand instead.")
        save_project(root, result)
        history.move(root, path, target, entry, to_data(result), now)
        return result, entry.label
