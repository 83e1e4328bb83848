"""Checks of a project that need its files: the style, cast photos and masks, poses, takes."""

from __future__ import annotations

from pathlib import Path

from storyboard.errors import PoseError, StoryboardError
from storyboard.model import Project
from storyboard.paths import resolve_inside
from storyboard.poses import read_pose
from storyboard.presets import load_style, with_overrides


def check_project(root: Path, project: Project) -> list[tuple[str, str]]:
    """Problems that need the files: (severity 'error' or 'warning', message) for each."""
    problems: list[tuple[str, str]] = []
    try:
        with_overrides(load_style(project.style), dict(project.style_overrides))  # the project's style, checked
    except StoryboardError as exc:
        problems.append(("error", str(exc)))
    for c in project.cast:
        if not c.reference:
            problems.append(("warning", f"Cast member {c.id!r} has no reference photo: draft mode draws them, StoryMaker "
                             "cannot. Add a photo in the Cast tab (or 'reference:' in story.yaml)."))
        for what, rel in (("reference photo", c.reference), ("mask", c.mask), ("outfit image", c.outfit)):
            if rel and not resolve_inside(root, rel).is_file():
                severity = "warning" if what == "reference photo" else "error"
                problems.append((severity, f"Cast member {c.id!r}: {what} {rel} does not exist. Add the file or fix the path "
                                 + ("(the draft engine can do without it; StoryMaker cannot)." if severity == "warning" else "")))
    for panel in project.panels:
        if panel.pose:
            try:
                pose = read_pose(resolve_inside(root, panel.pose))
            except PoseError as exc:
                problems.append(("error", f"Panel {panel.id!r}: {exc}"))
            else:
                if len(pose.people) < len(panel.characters):
                    problems.append(("warning", f"Panel {panel.id!r}: the pose has {len(pose.people)} skeleton(s) for "
                                     f"{len(panel.characters)} character(s); add a skeleton per character."))
        for take in panel.takes:
            if not resolve_inside(root, take.file).is_file():
                problems.append(("warning", f"Panel {panel.id!r}: take {take.file} is missing; the panel will be rendered again."))
    return problems
