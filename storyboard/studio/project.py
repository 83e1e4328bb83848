"""Projects of a session: create, open the sample, import and export a .zip, list, rename."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

from storyboard.archive import export_zip, import_zip, remove_stale_imports
from storyboard.errors import ProjectError, StoryboardError
from storyboard.model import (
    STORY_FILE,
    Project,
)
from storyboard.settings import Settings
from storyboard.store import project_lock, recover
from storyboard.storyfile import load_project, new_project, save_project
from storyboard.studio.common import SAMPLE, SAMPLES_DIR, StudioError, _unique, check_text, check_texts, slug

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- projects and sessions


def project_summary(project: Project) -> str:
    return f"{project.title}: {len(project.cast)} characters, {len(project.panels)} panels, style {project.style}"


def create_project(session_dir: Path | str, title: str) -> Path:
    """A new empty project folder in the session's folder, named after the title."""
    title = (title or "").strip()
    if not title:
        raise StudioError("Give the new project a title, e.g. 'Rainy Monday'.")
    check_text("title", title)
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in session_dir.iterdir()}
    root = session_dir / _unique(slug(title, "project"), taken)
    new_project(root, title=title)
    return root


def open_sample(session_dir: Path | str, name: str = SAMPLE) -> Path:
    """The session's copy of a sample project (copied on first use, the user's edits kept after that)."""
    source = SAMPLES_DIR / name
    if not (source / STORY_FILE).is_file():
        raise ProjectError(f"There is no sample {name!r}; samples are: {', '.join(p.name for p in SAMPLES_DIR.iterdir())}.")
    dest = Path(session_dir) / f"sample-{name}"  # never a user's project of the same title
    if not (dest / STORY_FILE).is_file():
        shutil.copytree(source, dest, dirs_exist_ok=True)
    recover(dest)
    return dest


def import_project(session_dir: Path | str, archive: str | Path, settings: Settings) -> Path:
    """Unpack an uploaded project .zip into a new folder of the session; nothing is kept if it is broken."""
    archive = Path(archive)
    if archive.stat().st_size > settings.max_upload_mb * 1e6:
        raise StudioError(f"{archive.name} is larger than {settings.max_upload_mb} MB; that is too big to upload here.")
    session_dir = Path(session_dir)
    session_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_imports(session_dir)
    taken = {p.name for p in session_dir.iterdir()}
    dest = session_dir / _unique(slug(archive.stem, "imported"), taken)
    try:  # import_zip leaves nothing behind when it fails
        project = import_zip(archive, dest, max_bytes=settings.max_project_mb * 1024 * 1024)
    except ProjectError as exc:
        raise ProjectError(f"Could not open {archive.name}: {exc}") from None
    if len(project.panels) > settings.max_panels:
        shutil.rmtree(dest, ignore_errors=True)
        raise StudioError(f"{archive.name} has {len(project.panels)} panels; this studio allows {settings.max_panels}.")
    try:
        check_texts(project)
    except StudioError as exc:
        shutil.rmtree(dest, ignore_errors=True)
        raise StudioError(f"Could not open {archive.name}: {exc}") from None
    return dest


def export_project_zip(root: Path | str, out_dir: Path | str) -> Path:
    """The project as one .zip in `out_dir`, named after its folder."""
    root = Path(root)
    return export_zip(root, Path(out_dir) / f"{root.name}.zip")


def list_projects(session_dir: Path | str) -> list[tuple[str, Path]]:
    """(title, folder) of the session's projects, most recently changed first."""
    session_dir = Path(session_dir)
    if not session_dir.is_dir():
        return []
    found = []
    for folder in session_dir.iterdir():
        story = folder / STORY_FILE
        if story.is_file() and not folder.name.startswith("."):  # hidden: an import still being unpacked
            try:
                title = load_project(folder).title
            except StoryboardError:
                title = f"{folder.name} (cannot be opened)"
            found.append((story.stat().st_mtime, title, folder))
    return [(title, folder) for _, title, folder in sorted(found, key=lambda t: t[0], reverse=True)]


def check_inside(session_dir: Path | str, root: Path | str) -> Path:
    """`root` if it is a project folder of this session (a folder right in it); ProjectError otherwise."""
    session_real = Path(os.path.realpath(session_dir))
    real = Path(os.path.realpath(root))
    if real.parent != session_real:
        raise ProjectError(f"{root} is not one of this session's projects; open it from Your projects in the Project tab.")
    load_project(real)
    return real


def open_project(session_dir: Path | str, name: str) -> Path:
    """The session's project folder `name`, checked, with what an interrupted save left there removed."""
    check_text("choice", name, "project name")
    if not (Path(session_dir) / Path(name).name / STORY_FILE).is_file():
        raise ProjectError(f"{name!r} is not one of this session's projects; pick one from Your projects in the "
                           "Project tab (or create it first).")
    root = check_inside(session_dir, Path(session_dir) / Path(name).name)
    recover(root)
    return root


def set_title(root: Path | str, title: str) -> Project:
    title = (title or "").strip()
    if not title:
        raise StudioError("The title is empty; give the story a title.")
    check_text("title", title)
    with project_lock(root):
        project = load_project(root)
        project = dataclasses.replace(project, title=title)
        save_project(root, project, history="Rename the story")
        return project
