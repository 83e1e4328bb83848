"""Retouching from the studio: a region painted over a panel's chosen take is rendered again (storyboard.retouch)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from storyboard.engines import Engine, RenderContext
from storyboard.images import read_header
from storyboard.paths import resolve_inside
from storyboard.retouch import Retouched, retouch_take
from storyboard.settings import Settings
from storyboard.storyfile import load_project
from storyboard.studio.cast import mask_from_layers
from storyboard.studio.common import StudioError, _check_renderable, _panel, check_steps, check_text, panel_name

log = logging.getLogger(__name__)


def retouch_panel(root: Path | str, panel_id: str, layers: Sequence[Any], engine: Engine, settings: Settings,
                  prompt: str | None = None, context: RenderContext | None = None) -> Retouched:
    """Render again the region painted (`layers`, an image editor's strokes) over the panel's chosen take.

    The rest of the take is kept pixel for pixel outside a feathered edge; the result is a new take, selected.
    `prompt` (optional) says what to draw there instead of the panel's prompt."""
    check_text("choice", panel_id, "panel id")
    if prompt:
        check_text("prompt", prompt, "retouch prompt")
    root = Path(root)
    project = load_project(root)
    panel = _panel(project, panel_id, root)
    _check_renderable(project, [panel_id])
    check_steps(project, settings)
    take = panel.selected_take
    if take is None:
        raise StudioError(f"{panel_name(project, panel_id)} has no take yet: render it first, then paint over the part "
                          "to render again.")
    size = read_header(resolve_inside(root, take.file), f"take {take.file}").size
    mask = mask_from_layers(layers, size)
    if mask is None:
        raise StudioError(f"Nothing is painted on the take of {panel_name(project, panel_id)} yet: brush over the part "
                          "to render again (a hand, a face), then press Retouch.")
    return retouch_take(root, panel_id, mask, engine, prompt=prompt.strip() if prompt and prompt.strip() else None,
                        context=context)
