"""Pages: size, template and reading order, page previews, and export."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps

from storyboard.engines import Engine, RenderContext
from storyboard.errors import ImageError, ProjectError
from storyboard.images import open_image
from storyboard.layout import list_templates, project_layout
from storyboard.model import (
    READING_ORDERS,
    PageSettings,
    Project,
)
from storyboard.pagesizes import parse_page_size
from storyboard.paths import resolve_inside
from storyboard.render import PanelEvent
from storyboard.storyfile import load_project, save_project

from storyboard.settings import Settings
from storyboard.store import project_lock
from storyboard.studio.common import check_steps, check_text
from storyboard.studio.common import _check_renderable, StudioError, slug

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


def page_previews(root: Path | str, page: PageSettings | None = None, width_px: int = 420) -> list[Image.Image]:
    """One small picture per page: each panel's slot with its chosen take (cropped to fit) and its number.

    A take that cannot be opened (missing, damaged, or too large to open safely) leaves its slot red with a
    short note, and the full message is logged: a preview never fails for one bad file."""
    root = Path(root)
    project = load_project(root)
    if page is not None:
        project = dataclasses.replace(project, page=page)
    if not project.panels:
        return []
    pages = project_layout(project)
    images: list[Image.Image] = []
    for layout in pages:
        scale = width_px / layout.width_pt
        canvas = Image.new("RGB", (width_px, round(layout.height_pt * scale)), "white")
        draw = ImageDraw.Draw(canvas)
        for placed in layout.panels:
            r = placed.rect
            box = (round(r.x * scale), round(r.y * scale), round(r.right * scale), round(r.bottom * scale))
            size = (max(1, box[2] - box[0]), max(1, box[3] - box[1]))
            take = project.panel(placed.panel_id).selected_take
            art = problem = None
            if take is not None:
                try:
                    path = resolve_inside(root, take.file)
                    if path.is_file():  # a missing take is grey like none: rendering (or export) makes it again
                        image = open_image(path, f"panel {placed.panel_id!r}: the take {take.file}",
                                           advice=f"Render panel {placed.panel_id} again, or replace the file.")
                        art = ImageOps.fit(image, size, Image.Resampling.LANCZOS)
                except (ImageError, ProjectError) as exc:
                    log.warning("Page preview: %s", exc)
                    problem = "The take cannot be opened; render this panel again."
            if art is not None:
                canvas.paste(art, box[:2])
            elif problem is not None:
                draw.rectangle(box, fill=(250, 218, 214))
                _draw_note(draw, box, problem)
            else:
                draw.rectangle(box, fill=(236, 236, 240))
            draw.rectangle(box, outline=(30, 30, 30), width=2)
            label = str(placed.number)
            draw.rectangle((box[0] + 3, box[1] + 3, box[0] + 9 + 7 * len(label), box[1] + 19), fill="white", outline=(30, 30, 30))
            draw.text((box[0] + 6, box[1] + 5), label, fill=(30, 30, 30))
        images.append(canvas)
    return images


def _draw_note(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str) -> None:
    """`text` wrapped inside the slot `box`, below its number."""
    import textwrap

    columns = max(8, (box[2] - box[0] - 12) // 6)
    draw.multiline_text((box[0] + 6, box[1] + 24), textwrap.fill(text, columns), fill=(140, 20, 20), spacing=2)


# ---------------------------------------------------------------- export

EXPORT_KINDS = {"pdf": "Comic pages (PDF)", "png": "Comic pages (PDF + PNG per page)", "sheet": "Storyboard sheet (PDF)"}


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
    root, out_dir = Path(root), Path(out_dir)
    project = load_project(root)
    missing = [p.id for p in project.panels if p.selected_take is None]
    _check_renderable(project, missing)
    if missing and settings is not None:
        check_steps(project, settings)
    name = slug(project.title, "story")
    out_dir.mkdir(parents=True, exist_ok=True)
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
