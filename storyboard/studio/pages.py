"""Pages: size, template and reading order, page previews (storyboard.studio.pageview), and export."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from storyboard.engines import Engine, RenderContext
from storyboard.layout import list_templates
from storyboard.model import (
    READING_ORDERS,
    Project,
)
from storyboard.pagesizes import parse_page_size
from storyboard.render import PanelEvent
from storyboard.settings import Settings
from storyboard.store import project_lock
from storyboard.storyfile import load_project, save_project
from storyboard.studio.common import StudioError, check_text, prepare_export

log = logging.getLogger(__name__)

def set_page_settings(root: Path | str, size: str | None = None, template: str | None = None,
                      reading: str | None = None) -> Project:
    """Change page size, template or reading order (only those given)."""
    check_text("page_size", size)
    check_text("choice", template, "page template")
    check_text("choice", reading, "reading order")
    with project_lock(root):
        project = load_project(root)
        page = project.page
        if size is not None:
            page = dataclasses.replace(page, size=parse_page_size(size).name)
        if template is not None:
            if template not in list_templates():
                raise StudioError(f"There is no page template {template!r}; pick one of {', '.join(list_templates())}.")
            page = dataclasses.replace(page, template=template)
        if reading is not None:
            if reading not in READING_ORDERS:
                raise StudioError(f"Reading order {reading!r} must be ltr (left to right) or rtl (right to left, manga).")
            page = dataclasses.replace(page, reading=reading)
        if page != project.page:
            project = dataclasses.replace(project, page=page)
            save_project(root, project, history="Change page settings")
        return project


# ---------------------------------------------------------------- export

EXPORT_KINDS = {"pdf": "Comic pages (PDF)", "png": "Comic pages (PDF + PNG per page)", "sheet": "Storyboard sheet (PDF)",
                "cbz": "Comic archive (CBZ)", "storyboarder": "Storyboarder file (.zip)"}  # the last two: studio.exchange


@dataclass(frozen=True)
class ExportFiles:
    """The files an export wrote and what it has to say."""

    files: tuple[Path, ...]
    pages: int
    rendered: tuple[str, ...]
    notes: tuple[str, ...]


def export(root: Path | str, out_dir: Path | str, kind: str, engine: Engine, context: RenderContext | None = None,
           on_panel: Callable[[PanelEvent], None] | None = None, settings: Settings | None = None) -> ExportFiles:
    """Export the project (rendering panels without a take first) into `out_dir`; returns the files written.

    `settings` bounds what a visitor can ask of a shared machine (steps of the panels rendered first, PNG page size).
    """
    from storyboard.export import check_png_pixels, export_project, make_options

    check_text("choice", kind, "export kind")
    if kind not in EXPORT_KINDS:
        raise StudioError(f"Unknown export {kind!r}; choose one of {', '.join(EXPORT_KINDS)}.")
    if kind in ("cbz", "storyboarder"):
        from storyboard.studio.exchange import export_exchange

        return ExportFiles(*export_exchange(root, out_dir, kind, engine, context, on_panel, settings))
    root, out_dir = Path(root), Path(out_dir)
    project, name = prepare_export(root, out_dir, settings)
    pdf = out_dir / (f"{name}-storyboard.pdf" if kind == "sheet" else f"{name}.pdf")
    png_dir = out_dir / f"{name}-pages" if kind == "png" else None
    options = make_options(pdf, sheet=kind == "sheet", png_dir=png_dir,
                           max_png_megapixels=settings.max_page_megapixels if settings is not None else None)
    if png_dir is not None:
        check_png_pixels(parse_page_size(project.page.size), options)  # before the last export's pages are removed
        if png_dir.is_dir():
            shutil.rmtree(png_dir)
    result = export_project(root, project, options, engine=engine, on_panel=on_panel, context=context)
    notes = tuple(str(issue) for issue in result.issues)
    return ExportFiles((result.pdf, *result.pngs), result.pages, tuple(result.rendered), notes)
