"""Pages: size, template and reading order, page previews, and export."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

from storyboard.engines import Engine, RenderContext
from storyboard.errors import ProjectError
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

from storyboard.store import project_lock
from storyboard.studio.common import _check_renderable, StudioError, slug

log = logging.getLogger(__name__)

def set_page_settings(root: Path | str, size: str | None = None, template: str | None = None,
                      reading: str | None = None) -> Project:
    """Change page size, template or reading order (only those given)."""
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
            save_project(root, project)
        return project


def page_previews(root: Path | str, page: PageSettings | None = None, width_px: int = 420) -> list[Image.Image]:
    """One small picture per page: each panel's slot with its chosen take (cropped to fit) and its number."""
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
            art = None
            if take is not None:
                try:
                    with Image.open(resolve_inside(root, take.file)) as image:
                        art = ImageOps.fit(image.convert("RGB"), size, Image.Resampling.LANCZOS)
                except (OSError, UnidentifiedImageError, ProjectError):
                    art = None
            if art is not None:
                canvas.paste(art, box[:2])
            else:
                draw.rectangle(box, fill=(236, 236, 240))
            draw.rectangle(box, outline=(30, 30, 30), width=2)
            label = str(placed.number)
            draw.rectangle((box[0] + 3, box[1] + 3, box[0] + 9 + 7 * len(label), box[1] + 19), fill="white", outline=(30, 30, 30))
            draw.text((box[0] + 6, box[1] + 5), label, fill=(30, 30, 30))
        images.append(canvas)
    return images


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
           on_panel: Callable[[PanelEvent], None] | None = None) -> ExportFiles:
    """Export the project (rendering panels without a take first) into `out_dir`; returns the files written."""
    from storyboard.export import export_project, make_options

    if kind not in EXPORT_KINDS:
        raise StudioError(f"Unknown export {kind!r}; choose one of {', '.join(EXPORT_KINDS)}.")
    root, out_dir = Path(root), Path(out_dir)
    project = load_project(root)
    _check_renderable(project, [p.id for p in project.panels if p.selected_take is None])
    name = slug(project.title, "story")
    out_dir.mkdir(parents=True, exist_ok=True)
    pdf = out_dir / (f"{name}-storyboard.pdf" if kind == "sheet" else f"{name}.pdf")
    png_dir = out_dir / f"{name}-pages" if kind == "png" else None
    if png_dir is not None and png_dir.is_dir():
        shutil.rmtree(png_dir)
    options = make_options(pdf, sheet=kind == "sheet", png_dir=png_dir)
    result = export_project(root, project, options, engine=engine, on_panel=on_panel, context=context)
    notes = tuple(str(issue) for issue in result.issues)
    return ExportFiles((result.pdf, *result.pngs), result.pages, tuple(result.rendered), notes)
