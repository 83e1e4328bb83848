"""Shared by the studio's areas: errors, ids, and looking things up in a project."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

from storyboard.errors import ProjectError, StoryboardError
from storyboard.model import (
    ID_PATTERN,
    Character,
    Panel,
    Project,
)
from storyboard.paths import resolve_inside

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
SAMPLE = "rainy-monday"
IMAGE_FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class StudioError(StoryboardError):
    """A request from the studio cannot be done as asked (bad upload, too many characters, empty prompt ...)."""


class ImageUploadError(StudioError):
    """An uploaded file is not a usable image."""


# ---------------------------------------------------------------- helpers


def slug(text: str, fallback: str = "item") -> str:
    """A valid id from free text: lowercase letters, digits and '-'."""
    out = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:32].strip("-")
    return out if out and ID_PATTERN.match(out) else fallback


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


def _panel(project: Project, panel_id: str, root: Path) -> Panel:
    try:
        return project.panel(panel_id)
    except KeyError:
        raise ProjectError(f"There is no panel {panel_id!r} in {project.title!r} any more; pick a panel from the list.") from None


def _character(project: Project, character_id: str) -> Character:
    try:
        return project.character(character_id)
    except KeyError:
        raise ProjectError(f"There is no character {character_id!r} in {project.title!r}; pick one from the cast.") from None


def _names(project: Project, ids: Sequence[str]) -> str:
    names = []
    for cid in ids:
        try:
            names.append(project.character(cid).name)
        except KeyError:
            names.append(cid)
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else "nobody"


def _remove_unreferenced(root: Path, project: Project, rels: Sequence[str | None]) -> None:
    """Delete files the project no longer names (after a successful save)."""
    from storyboard.storyfile import project_paths

    used = set(project_paths(project))
    for rel in rels:
        if rel and rel not in used:
            try:
                resolve_inside(root, rel).unlink(missing_ok=True)
            except (OSError, ProjectError) as exc:
                log.warning("Could not remove %s: %s", rel, exc)

def _check_renderable(project: Project, panel_ids: Sequence[str]) -> None:
    for pid in panel_ids:
        panel = project.panel(pid)
        if not panel.prompt.strip():
            raise StudioError(f"Panel {pid} has an empty prompt; describe what happens in it before rendering.")
