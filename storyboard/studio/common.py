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
from storyboard.settings import TEXT_LIMITS, Settings

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "samples"
SAMPLE = "rainy-monday"
IMAGE_FORMATS = "PNG, JPEG, WebP, GIF, BMP or TIFF"


class StudioError(StoryboardError):
    """A request from the studio cannot be done as asked (bad upload, too many characters, empty prompt ...)."""


class ImageUploadError(StudioError):
    """An uploaded file is not a usable image."""


class TextTooLong(StudioError):
    """A text is longer than TEXT_LIMITS (storyboard.settings) allows for its field."""


def check_text(field: str, value: object, what: str | None = None) -> None:
    """TextTooLong naming the field, the text's length and the limit, when `value` is over TEXT_LIMITS[field].

    `what` names the field in the message when the table's label is not specific enough ("caption of panel p1").
    Call it before anything is saved; nothing of the text is echoed back.
    """
    limit = TEXT_LIMITS[field]
    if isinstance(value, str) and len(value) > limit.max_chars:
        raise TextTooLong(f"The {what or limit.label} is {len(value):,} characters long; the most is "
                          f"{limit.max_chars:,} ({limit.help}). Shorten it and try again; nothing was saved.")


def check_texts(project: Project) -> None:
    """check_text over every text of a story (e.g. one from an uploaded .zip), naming where each is in story.yaml."""
    check_text("title", project.title, "title in story.yaml")
    check_text("style", project.style, "style in story.yaml")
    check_text("page_size", project.page.size, "page size in story.yaml")
    for c in project.cast:
        check_text("name", c.name, f"name of character {c.id} in story.yaml")
        check_text("description", c.description, f"description of character {c.id} in story.yaml")
    for p in project.panels:
        for field, value in (("prompt", p.prompt), ("caption", p.caption), ("notes", p.notes)):
            check_text(field, value, f"{field} of panel {p.id} in story.yaml")
        for number, balloon in enumerate(p.balloons, start=1):
            check_text("balloon", balloon.text, f"text of balloon {number} of panel {p.id} in story.yaml")


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


def panel_number(project: Project, panel_id: str) -> str:
    """'panel 3': a panel as the studio shows it (numbered in reading order; ids are for files and scripts)."""
    ids = [p.id for p in project.panels]
    return f"panel {ids.index(panel_id) + 1}" if panel_id in ids else f"panel {panel_id}"


def panel_name(project: Project, panel_id: str, words: int = 5) -> str:
    """'Panel 2 ("Mia and Leo talk")': a panel as the Panels list shows it, for messages (the id is for scripts)."""
    from storyboard.render import fill_prompt

    try:
        panel = project.panel(panel_id)
    except KeyError:
        return f"Panel {panel_id}"  # not (or no longer) in the story: its id is all there is
    number = [p.id for p in project.panels].index(panel_id) + 1
    text = fill_prompt(panel.prompt, project).split()
    if not text:
        return f"Panel {number}"
    return f'Panel {number} ("{" ".join(text[:words])}{"…" if len(text) > words else ""}")'


def _names(project: Project, ids: Sequence[str]) -> str:
    names = []
    for cid in ids:
        try:
            names.append(project.character(cid).name)
        except KeyError:
            names.append(cid)
    return ", ".join(names[:-1]) + (" and " if len(names) > 1 else "") + names[-1] if names else "nobody"


def _check_renderable(project: Project, panel_ids: Sequence[str]) -> None:
    """Refuse before any work starts: an empty prompt, or one so long it would hold the GPU (an imported story)."""
    from storyboard.render import fill_prompt

    for pid in panel_ids:
        panel = project.panel(pid)
        if not panel.prompt.strip():
            raise StudioError(f"{panel_name(project, pid)} has an empty prompt; describe what happens in it before "
                              "rendering.")
        check_text("prompt", panel.prompt, f"prompt of panel {pid}")
        check_text("filled_prompt", fill_prompt(panel.prompt, project), f"prompt of panel {pid} with the cast's names filled in")


def check_steps(project: Project, settings: Settings) -> None:
    """Refuse, before a render starts, a story whose steps are over the studio's max_steps (one render per GPU queue)."""
    from storyboard.render import project_style

    steps = project_style(project).sampler.steps
    if steps > settings.max_steps:
        raise StudioError(f"This story renders with {steps} steps (Detail in the Style tab); this studio renders at most "
                          f"{settings.max_steps}, so one render cannot hold the GPU for everyone. Lower Detail (steps) "
                          "in the Style tab and render again.")


def prepare_export(root: Path, out_dir: Path, settings: Settings | None) -> tuple[Project, str]:
    """The project to export and its files' name, once the panels an export would render first (those with no take)
    are known to be renderable within the studio's limits; `out_dir` is made."""
    from storyboard.storyfile import load_project

    project = load_project(root)
    missing = [p.id for p in project.panels if p.selected_take is None]
    _check_renderable(project, missing)
    if missing and settings is not None:
        check_steps(project, settings)
    out_dir.mkdir(parents=True, exist_ok=True)
    return project, slug(project.title, "story")


# A session's folder holds its projects (folders named by slug(): a-z, 0-9 and '-') and this one folder for what
# exports write; its name can never be a slug, so no project folder is ever an export folder.
EXPORTS_DIR = "_exports"


def export_dir(session_dir: Path | str, root: Path | str) -> Path:
    """Where exports (PDF, PNG pages, .zip) of the project `root` go: <session>/_exports/<project folder>."""
    return Path(session_dir) / EXPORTS_DIR / Path(root).name
