"""The story's style preset and its own sampler settings over the style's."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from storyboard.model import (
    Project,
)
from storyboard.presets import load_style, with_overrides
from storyboard.settings import Settings
from storyboard.store import project_lock
from storyboard.storyfile import load_project, save_project
from storyboard.studio.common import StudioError, check_text

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- style and pages


def set_style(root: Path | str, style_id: str) -> Project:
    """Switch the story's style preset (the panels become stale; nothing else changes)."""
    check_text("style", style_id)
    load_style(style_id)  # PresetError lists the styles
    with project_lock(root):
        project = load_project(root)
        if project.style != style_id:
            project = dataclasses.replace(project, style=style_id)
            save_project(root, project, history=f"Style: {style_id}")
        return project


STYLE_OVERRIDE_KEYS = ("scheduler", "steps", "guidance", "ip_adapter_scale", "lora_scale", "pose_scale", "pose_start",
                       "pose_end", "identity_start", "identity_end")


def style_overrides(project: Project) -> dict[str, Any]:
    """The project's own sampler settings over its style's (only those it overrides)."""
    return dict(project.style_overrides)


def set_style_overrides(root: Path | str, overrides: Mapping[str, Any], settings: Settings | None = None) -> Project:
    """Change the project's sampler overrides; a value None or equal to the style's own removes that override.

    Keys not given keep their override. PresetError names a bad key or value and its range; nothing changes then.
    `settings` bounds the steps (max_steps: fewer on a shared Space).
    """
    for key, value in overrides.items():
        check_text("choice", key, "name of a style setting")
        check_text("choice", value, f"value of {key}")
    with project_lock(root):
        project = load_project(root)
        style = load_style(project.style)
        unknown = [k for k in overrides if k not in STYLE_OVERRIDE_KEYS]
        if unknown:
            raise StudioError(f"{', '.join(map(repr, unknown))} cannot be set per project; use {', '.join(STYLE_OVERRIDE_KEYS)}.")
        merged = dict(project.style_overrides)
        for key, value in overrides.items():
            if isinstance(value, float) and key == "steps" and value.is_integer():
                value = int(value)  # sliders and JSON send 30.0
            if isinstance(value, float):
                value = round(value, 3)  # slider steps arrive as 0.8500000000000001
            if value is None or value == getattr(style.sampler, key):
                merged.pop(key, None)
            else:
                merged[key] = value
        steps = with_overrides(style, merged).sampler.steps  # PresetError: which key, which range
        if settings is not None and steps > settings.max_steps:
            raise StudioError(f"Detail (steps) {steps} is more than this studio renders ({settings.max_steps} at most, "
                              "so one render cannot hold the GPU for everyone); choose at most that many.")
        ordered = tuple((k, merged[k]) for k in STYLE_OVERRIDE_KEYS if k in merged)
        if ordered != project.style_overrides:
            project = dataclasses.replace(project, style_overrides=ordered)
            save_project(root, project, history="Change style settings")
        return project


def reset_style_overrides(root: Path | str) -> Project:
    """Back to the style's own sampler settings (every override removed)."""
    with project_lock(root):
        project = load_project(root)
        if project.style_overrides:
            project = dataclasses.replace(project, style_overrides=())
            save_project(root, project, history="Reset style settings")
        return project
