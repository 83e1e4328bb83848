"""Export a project as comic pages or a storyboard sheet: a PDF (reportlab) and optionally one PNG per page.

1. Check the options and that the outputs can be written, before any work.
2. Lay out pages (template or auto; comic pages or sheet rows).
3. Render panels that have no take yet (or whose take file is missing) at their slot's size.
4. Read each take's header (size, format): nothing is decoded yet.
5. Page by page: letter its panels (captions and balloons as vector shapes, text as real PDF text) and check
   that the lettering stays in the live area, then draw it with one painter for the PDF and one for PNGs,
   from the same geometry. A page's takes are decoded (when at all: storyboard.art) while it is drawn and
   dropped after it, and the PDF keeps its art in a spool file until it is written object by object
   (storyboard.pdfwriter), so memory does not grow with the story (issue 13). With --strict, lettering that
   does not fit stops the drawing; the rest is still lettered so that every issue is reported.
6. Write every file atomically: a failed export leaves no half-written file and keeps the old ones.

Drawing lives in storyboard.painters, the storyboard sheet and appendix in storyboard.sheet, print geometry
(boxes, live area) in storyboard.prepress; their public names are importable from here as before.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from storyboard.art import (  # noqa: F401 (re-exported for callers of storyboard.export)
    TakeArt,
    TakeFile,
    cover_crop,
    effective_dpi,
    pixels_wanted,
    take_advice,
    take_file,
)
from storyboard.errors import ExportError, StoryboardError
from storyboard.images import PROJECT_MAX_PIXELS, open_image
from storyboard.layout import (
    DEFAULT_GUTTER_MM,
    DEFAULT_MARGIN_MM,
    PageLayout,
    PageSpec,
    Rect,
    layout_pages,
    page_spec,
    render_sizes,
)
from storyboard.lettering import LetteringError, LetteringIssue, PanelLettering, letter_slot, pick_font
from storyboard.model import Panel, Project
from storyboard.pagesizes import PAGE_SIZES, PT_PER_MM, PageSize, print_margins_mm
from storyboard.painters import (
    Offset,
    Painter,
    PdfPainter,
    PngPainter,
    bleed_rect,
    draw_comic_page,
    draw_crop_marks,
    draw_page_number,
    draw_title_page,
)
from storyboard.outputs import PngPages, atomic_output, check_writable, spool_beside
from storyboard.paths import resolve_inside
from storyboard.pdfwriter import SpooledCanvas, binary_streams
from storyboard.prepress import PageBoxes, check_live_area, page_boxes
from storyboard.sheet import (
    draw_appendix_page,
    draw_sheet_page,
    layout_appendix,
    layout_sheet_rows,
)

# also imported from here by other modules
__all__ = ["cover_crop"]

log = logging.getLogger(__name__)

ART_MAX_PIXELS = PROJECT_MAX_PIXELS  # the most pixels one panel's art may have at --art-dpi


# ---------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """One export setting: its CLI flag, type, default, limits and help. One table drives CLI, checks and docs."""

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None


EXPORT_OPTIONS: tuple[Option, ...] = (
    Option("page_size", str, None, f"{', '.join(PAGE_SIZES)} or WxHmm (default: the project's page size)"),
    Option("template", str, None, "page template in presets/templates/ or auto (default: the project's)"),
    Option("reading", str, None, "ltr, or rtl for manga (default: the project's)"),
    Option("margin_mm", float, DEFAULT_MARGIN_MM, "page margin in mm", 0, 60),
    Option("gutter_mm", float, DEFAULT_GUTTER_MM, "gap between panels in mm", 0, 30),
    Option("border_pt", float, 1.2, "panel border width in points (0: none)", 0, 8),
    Option("bleed_mm", float, 0.0, "bleed in mm for print: art at the page edge runs this far past the trim, with crop "
           "marks (printers ask 3 mm; 3.175 mm, 1/8 in, for comic and letter)", 0, 10),
    Option("safe_mm", float, None, "live area: lettering stays this far inside the trim, else it is reported by panel "
           "and balloon (default: 6.35 mm, 1/4 in, for comic and letter; 5 mm otherwise)", 0, 40),
    Option("dpi", int, 300, "most art resolution in the PDF, dots per inch: takes with more pixels are downsampled "
           "(art is never upscaled)", 72, 1200),
    Option("art_dpi", int, None, "place all art at exactly this resolution (e.g. 600 for print), resampled from each "
           "take; a take with fewer pixels is upsampled (no detail is added) and reported", 72, 1200),
    Option("jpeg_quality", int, 88, "JPEG quality of the art in the PDF", 30, 100),
    Option("png_dpi", int, 150, "resolution of the PNG pages", 36, 600),
    Option("max_png_megapixels", int, 40, "largest PNG page, in megapixels (page size x png-dpi); a larger one is "
           "refused before anything is drawn (drawing takes about 35 bytes of memory per pixel)", 1, 250),
    Option("sheet_panels", int, 5, "panels per storyboard sheet page", 1, 12),
    Option("title_page", bool, False, "start with a title page (title, author, subject)"),
    Option("page_numbers", bool, True, "number the pages"),
    Option("strict", bool, False, "fail instead of warning when lettering does not fit or leaves the live area"),
    Option("subject", str, "", "PDF subject metadata"),
    Option("appendix", bool, False, "end with a consistency appendix: per panel its scores (Face Sim, CLIP-I, CLIP-T) "
           "and drift flags, as text"),
)
OPTION_NAMES = {o.name for o in EXPORT_OPTIONS}


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how; defaults come from EXPORT_OPTIONS."""

    output: Path
    sheet: bool = False
    png_dir: Path | None = None
    render_missing: bool = True
    settings: tuple[tuple[str, Any], ...] = ()
    thresholds: tuple[tuple[str, float], ...] = ()  # drift thresholds for the appendix (storyboard.metrics)

    def get(self, name: str) -> Any:
        for key, value in self.settings:
            if key == name:
                return value
        return next(o.default for o in EXPORT_OPTIONS if o.name == name)


def make_options(output: Path | str, sheet: bool = False, png_dir: Path | str | None = None, render_missing: bool = True,
                 thresholds: dict[str, float | None] | None = None, **settings: Any) -> ExportOptions:
    """ExportOptions from keyword settings, checked against EXPORT_OPTIONS (None means the default).

    `thresholds` overrides the appendix's drift thresholds (storyboard.metrics.DRIFT_THRESHOLDS)."""
    from storyboard.scores import make_thresholds

    table = {o.name: o for o in EXPORT_OPTIONS}
    checked: list[tuple[str, Any]] = []
    for name, value in settings.items():
        if name not in table:
            raise ExportError(f"Unknown export setting {name!r}; settings are: {', '.join(table)}.")
        if value is None:
            continue
        option = table[name]
        if option.kind in (int, float) and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ExportError(f"Export setting {name} must be a number ({option.help}), got {value!r}.")
        if option.kind is int and int(value) != value:
            raise ExportError(f"Export setting {name} must be a whole number, got {value!r}.")
        if option.low is not None and not option.low <= value <= option.high:
            raise ExportError(f"Export setting {name} must be between {option.low:g} and {option.high:g} ({option.help}), got {value}.")
        checked.append((name, option.kind(value)))
    return ExportOptions(Path(output), sheet, Path(png_dir) if png_dir else None, render_missing, tuple(checked),
                         tuple(make_thresholds(thresholds).items()))


@dataclass(frozen=True)
class ExportResult:
    """What an export wrote and what it had to say. Lettering geometry is not kept for the whole story (memory,
    issue 13): letter_pages() gives a page's, as the export drew it."""

    pdf: Path
    pages: int
    pngs: tuple[Path, ...] = ()
    rendered: tuple[str, ...] = ()
    issues: tuple[LetteringIssue, ...] = ()
    layouts: tuple[PageLayout, ...] = ()
    sheet: bool = False
    notes: tuple[str, ...] = ()  # what else the user should know (art upsampled for --art-dpi)


def load_take_image(root: Path, panel: Panel) -> Image.Image:
    """The panel's selected take as an RGB image; ExportError names the file and what to do."""
    take = panel.selected_take
    if take is None:
        raise ExportError(f"Panel {panel.id!r} has no take; render it first: python -m storyboard render PROJECT --panels {panel.id}.")
    return open_image(resolve_inside(root, take.file), f"panel {panel.id!r}: the take {take.file}",
                      max_pixels=PROJECT_MAX_PIXELS, error=ExportError, advice=take_advice(panel.id))


def needs_render(root: Path, panel: Panel) -> bool:
    """True when the panel has no selected take or its file is gone."""
    take = panel.selected_take
    return take is None or not resolve_inside(root, take.file).is_file()


# ---------------------------------------------------------------- export


def export_project(
    root: Path | str,
    project: Project,
    options: ExportOptions,
    engine: Any | None = None,
    on_panel: Callable[[Any], None] | None = None,
    context: Any | None = None,
) -> ExportResult:
    """Export comic pages (or a storyboard sheet) as a PDF, and PNG pages if asked; see the module docstring."""
    from storyboard.render import render_project

    root = Path(root)
    get = options.get
    # 1. Check inputs and outputs before doing any work.
    if not project.panels:
        raise ExportError(f"{project.title!r} has no panels to export; add panels to story.yaml first.")
    if options.output.suffix.lower() != ".pdf":
        raise ExportError(f"The output {options.output} should end in .pdf (PNG pages go to --png-dir).")
    spec = page_spec(project, get("page_size"), get("reading"), get("margin_mm"), get("gutter_mm"))
    if options.png_dir is not None:
        check_png_pixels(spec.size, options)
    check_writable(options.output, "PDF")
    if options.png_dir is not None:
        try:
            options.png_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ExportError(f"Cannot create the PNG folder {options.png_dir}: {exc.strerror or exc}.") from None
        check_writable(options.png_dir / "page-001.png", "PNG page")
    template = get("template") or project.page.template

    # 2. Lay out pages (the comic layout also gives every panel its render size).
    comic_pages = layout_pages(project.panels, template, spec)
    if get("art_dpi") is not None:
        check_art_pixels(comic_pages, options, spec)

    # 3. Render what has no take.
    missing = [p.id for p in project.panels if needs_render(root, p)]
    if missing:
        if not options.render_missing or engine is None:
            raise ExportError(
                f"{len(missing)} panel(s) have no rendered image: {', '.join(missing)}. Render them first "
                "(python -m storyboard render PROJECT), or export with rendering allowed."
            )
        log.info("Rendering %d panel(s) without a take first (%s): %s", len(missing), engine.describe(), ", ".join(missing))
        project = render_project(root, project, engine, missing, force=True, context=context, on_panel=on_panel,
                                 sizes=render_sizes(comic_pages))

    # 4. Read every take's header: its size and format, and that it is an image this app opens; no pixels yet.
    takes = {p.id: take_file(root, p, ExportError) for p in project.panels}

    # 5 + 6 + 7. Letter, draw and write.
    if options.sheet:
        return _export_sheet(project, options, spec, takes, missing)
    return _export_comic(root, project, options, spec, comic_pages, takes, missing)


def check_png_pixels(size: PageSize, options: ExportOptions) -> None:
    """ExportError, before anything is drawn, when a PNG page would exceed max_png_megapixels (bleed and marks included)."""
    get = options.get
    boxes = page_boxes(size.width_pt, size.height_pt, 0.0 if options.sheet else get("bleed_mm") * PT_PER_MM)
    dpi, limit = get("png_dpi"), get("max_png_megapixels")
    width_px = round(boxes.media[0] * dpi / 72)
    height_px = round(boxes.media[1] * dpi / 72)
    if width_px * height_px > limit * 1_000_000:
        fitting = max(1, math.floor(dpi * math.sqrt(limit * 1_000_000 / (width_px * height_px))))
        raise ExportError(
            f"PNG pages of a {size.name} page at {dpi} dpi would be {width_px:,} x {height_px:,} pixels "
            f"({width_px * height_px / 1e6:,.0f} megapixels); the most is {limit}. Lower the PNG resolution "
            f"(--png-dpi {fitting} or less) or choose a smaller page size; nothing was written.")


def check_art_pixels(pages: Sequence[PageLayout], options: ExportOptions, spec: PageSpec) -> None:
    """ExportError, before anything is rendered or drawn, when one panel's art at art_dpi exceeds ART_MAX_PIXELS."""
    dpi = options.get("art_dpi")
    bleed_pt = 0.0 if options.sheet else options.get("bleed_mm") * PT_PER_MM
    for page in pages:
        for placed in page.panels:
            rect = placed.rect if options.sheet else bleed_rect(placed.rect, page.width_pt, page.height_pt, bleed_pt)
            w, h = pixels_wanted(rect, dpi)
            if w * h > ART_MAX_PIXELS:
                fitting = max(1, math.floor(dpi * math.sqrt(ART_MAX_PIXELS / (w * h))))
                raise ExportError(
                    f"Panel {placed.panel_id!r} at {dpi} dpi would be {w:,} x {h:,} pixels ({w * h / 1e6:,.0f} megapixels) "
                    f"on a {spec.size.name} page; the most for one panel is {ART_MAX_PIXELS / 1e6:g}. Lower the art "
                    f"resolution (--art-dpi {fitting} or less) or use a template with smaller panels; nothing was written.")


def _export_comic(root: Path, project: Project, options: ExportOptions, spec: PageSpec, pages: list[PageLayout],
                  takes: dict[str, TakeFile], rendered: list[str]) -> ExportResult:
    get = options.get
    safe_mm = get("safe_mm") if get("safe_mm") is not None else print_margins_mm(spec.size)[1]
    safe_pt = safe_mm * PT_PER_MM
    sizes = {pid: take.size for pid, take in takes.items()}
    lettering: dict[str, PanelLettering] = {}  # the page being drawn: geometry is not kept for the whole story
    issues: list[LetteringIssue] = []

    def letter(kind: str, page: Any) -> bool:
        """Letters a comic page before it is drawn; False once --strict has met an issue (nothing more is drawn)."""
        lettering.clear()
        if kind == "comic":
            lettering.update(letter_pages(root, project, [page], sizes, spec.reading))
            issues.extend(issue for placed in page.panels for issue in lettering[placed.panel_id].issues)
            issues.extend(check_live_area([page], lettering, safe_pt, safe_mm))
        return not (issues and get("strict"))

    bleed_pt = get("bleed_mm") * PT_PER_MM
    trim_w, trim_h = spec.size.width_pt, spec.size.height_pt
    text_margin = max(spec.margin_pt, safe_pt)  # title and appendix text stays in the live area
    appendix = layout_appendix(project, trim_w, trim_h, text_margin, dict(options.thresholds)) if get("appendix") else []
    notes = _art_notes(pages, takes, options, bleed_pt)
    for note in notes:
        log.warning("%s", note)

    sequence: list[tuple[str, Any]] = [("title", None)] if get("title_page") else []
    sequence += [("comic", page) for page in pages]
    sequence += [("appendix", lines) for lines in appendix]

    def paint(painter: Painter, kind: str, page: Any, art: Mapping[str, TakeArt]) -> None:
        if kind == "title":
            draw_title_page(painter, project, trim_w, trim_h, get("subject"), len(pages))
        elif kind == "appendix":
            draw_appendix_page(painter, page, text_margin)
        else:
            draw_comic_page(painter, page, art, lettering, get("border_pt"), bleed_pt)
            if get("page_numbers"):
                draw_page_number(painter, page.number, trim_w, trim_h, spec.margin_pt, safe_pt)
        if bleed_pt > 0:
            draw_crop_marks(painter, Rect(0, 0, trim_w, trim_h), bleed_pt)

    def shown(kind: str, page: Any) -> list[str]:
        return [p.panel_id for p in page.panels] if kind == "comic" else []

    pngs = _write(project, options, page_boxes(trim_w, trim_h, bleed_pt), sequence, paint, shown, takes,
                  letter, lambda: _report(issues, get("strict")))
    log.info("Wrote %s: %d page(s)%s.", options.output, len(sequence), f" and {len(pngs)} PNG page(s) in {options.png_dir}" if pngs else "")
    return ExportResult(options.output, len(sequence), tuple(pngs), tuple(rendered), tuple(issues), tuple(pages),
                        notes=tuple(notes))


def _export_sheet(project: Project, options: ExportOptions, spec: PageSpec, takes: dict[str, TakeFile],
                  rendered: list[str]) -> ExportResult:
    get = options.get
    rows_by_page, issues = layout_sheet_rows(project, spec, get("sheet_panels"))
    _report(issues, get("strict"))
    width, height = spec.size.width_pt, spec.size.height_pt
    sequence: list[tuple[str, Any]] = [("title", None)] if get("title_page") else []
    sequence += [("sheet", (i + 1, rows)) for i, rows in enumerate(rows_by_page)]
    if get("appendix"):
        sequence += [("appendix", lines) for lines in layout_appendix(project, width, height, spec.margin_pt,
                                                                      dict(options.thresholds))]

    def paint(painter: Painter, kind: str, data: Any, art: Mapping[str, TakeArt]) -> None:
        if kind == "title":
            draw_title_page(painter, project, width, height, get("subject") or "Storyboard", len(rows_by_page))
        elif kind == "appendix":
            draw_appendix_page(painter, data, spec.margin_pt)
        else:
            number, rows = data
            draw_sheet_page(painter, rows, art, project, spec, number, len(rows_by_page))

    def shown(kind: str, data: Any) -> list[str]:
        return [row.panel_id for row in data[1]] if kind == "sheet" else []

    pngs = _write(project, options, page_boxes(width, height, 0.0), sequence, paint, shown, takes)
    log.info("Wrote the storyboard sheet %s: %d page(s).", options.output, len(sequence))
    return ExportResult(options.output, len(sequence), tuple(pngs), tuple(rendered), tuple(issues), sheet=True)


def _art_notes(pages: Sequence[PageLayout], takes: Mapping[str, TakeFile], options: ExportOptions, bleed_pt: float) -> list[str]:
    """At --art-dpi: the panels whose takes have fewer pixels than asked, so their art is upsampled."""
    dpi = options.get("art_dpi")
    if dpi is None:
        return []
    notes = []
    for page in pages:
        for placed in page.panels:
            take = takes[placed.panel_id]
            have = effective_dpi(bleed_rect(placed.rect, page.width_pt, page.height_pt, bleed_pt), take.size)
            if have < dpi - 0.5:
                notes.append(f"Panel {placed.panel_id!r}: its take is {take.size[0]} x {take.size[1]} pixels, {have:.0f} dpi "
                             f"in its slot; it was upsampled to {dpi} dpi, which adds no detail. Render it larger or "
                             "replace the take with a larger image for print.")
    return notes


def _report(issues: Sequence[LetteringIssue], strict: bool) -> None:
    if issues and strict:
        raise LetteringError(
            f"{len(issues)} piece(s) of lettering do not fit or leave the live area; nothing was written:\n  "
            + "\n  ".join(str(i) for i in issues)
        )
    for issue in issues:
        log.warning("%s", issue)


Paint = Callable[[Painter, str, Any, Mapping[str, TakeArt]], None]


def _write(project: Project, options: ExportOptions, boxes: PageBoxes, sequence: Sequence[tuple[str, Any]], paint: Paint,
           shown: Callable[[str, Any], list[str]], takes: Mapping[str, TakeFile],
           prepare: Callable[[str, Any], bool] | None = None, finish: Callable[[], None] | None = None) -> list[Path]:
    """Draw each page into the PDF and its PNG, one page at a time; every file takes its name only when all are done.

    `prepare(kind, data)` runs before a page is drawn (False: draw no more pages, but keep preparing them);
    `finish()` runs after the last page, before any file is written, and may raise to write nothing."""
    from storyboard import __version__

    get = options.get
    path = options.output
    pngs = PngPages(options.png_dir)
    try:
        with atomic_output(path) as tmp, spool_beside(path) as spool, binary_streams():
            canvas = SpooledCanvas(tmp, boxes.media, spool)
            canvas.setTitle(project.title)
            canvas.setAuthor(project.author or "")
            canvas.setSubject(get("subject") or ("Storyboard" if options.sheet else "Comic"))
            canvas.setCreator(f"Storyboard Studio {__version__}")
            canvas.setKeywords(", ".join(c.name for c in project.cast))
            canvas.setTrimBox(boxes.trim)
            canvas.setBleedBox(boxes.bleed)
            origin = (boxes.offset, boxes.offset)
            drawing = True
            for kind, data in sequence:
                drawing = (prepare is None or prepare(kind, data)) and drawing
                if not drawing:
                    continue
                art = {panel_id: TakeArt(takes[panel_id], ExportError) for panel_id in shown(kind, data)}
                paint(PdfPainter(canvas, boxes.media[1], origin, get("dpi"), get("jpeg_quality"), get("art_dpi")), kind, data, art)
                canvas.showPage()
                if options.png_dir is not None:
                    painter = PngPainter(boxes.media[0], boxes.media[1], get("png_dpi"))
                    paint(Offset(painter, boxes.offset), kind, data, art)
                    pngs.add(painter.result())
                del art  # this page's decoded takes go now
            if finish is not None:
                finish()
            try:
                canvas.save()
            except OSError as exc:
                raise ExportError(f"Could not write {path}: {exc.strerror or exc}. The previous file, if any, is unchanged.") from None
        return pngs.publish()
    finally:
        pngs.discard()


# ---------------------------------------------------------------- lettering


def letter_pages(root: Path, project: Project, pages: Sequence[PageLayout], sizes: Mapping[str, tuple[int, int]],
                 reading: str) -> dict[str, PanelLettering]:
    """Every placed panel's lettering over art of `sizes` (storyboard.lettering.letter_slot): export and page view."""
    return {placed.panel_id: letter_slot(root, project, project.panel(placed.panel_id), placed.rect,
                                         sizes[placed.panel_id], reading)
            for page in pages for placed in page.panels}


# ---------------------------------------------------------------- the studio's page view


@dataclass(frozen=True)
class PageDrawing:
    """One comic page drawn as the PDF prints it (the studio's page view), and the lettering on it."""

    image: Image.Image
    layout: PageLayout
    lettering: tuple[PanelLettering, ...]  # the page's panels, in reading order
    pages: int  # comic pages in all
    placeholders: tuple[tuple[str, str], ...] = ()  # (panel id, why) for slots drawn without their art


class _Placeholder:
    """Art for a slot without a usable take: a flat colour, drawn by the painters like a take."""

    def __init__(self, size: tuple[int, int], colour: tuple[int, int, int]):
        self.size = size
        self.colour = colour

    def image(self) -> Image.Image:
        return Image.new("RGB", self.size, self.colour)


PLACEHOLDER_GREY = (236, 236, 240)  # no take yet: export renders it first
PLACEHOLDER_RED = (250, 218, 214)  # a take that cannot be opened


def draw_page(root: Path | str, project: Project, number: int, dpi: int = 150, options: ExportOptions | None = None) -> PageDrawing:
    """Comic page `number` (from 1) as the PDF prints it, drawn by the PNG painter at `dpi` from the same layout,
    lettering and art, with the project's page settings and the export's defaults (or `options`). Writes nothing
    and renders nothing: a slot whose take is missing is grey, one whose take cannot be opened red (logged)."""
    root = Path(root)
    get = (options or ExportOptions(Path("page.pdf"))).get
    spec = page_spec(project, get("page_size"), get("reading"), get("margin_mm"), get("gutter_mm"))
    pages = layout_pages(project.panels, get("template") or project.page.template, spec)
    if not 1 <= number <= len(pages):
        raise ExportError(f"{project.title!r} has {len(pages)} page(s); there is no page {number}.")
    page = pages[number - 1]
    art: dict[str, Any] = {}
    missing: list[tuple[str, str]] = []
    for placed in page.panels:
        panel = project.panel(placed.panel_id)
        try:
            if needs_render(root, panel):
                raise LookupError("no take yet")
            art[panel.id] = TakeArt(take_file(root, panel, ExportError), ExportError)
            art[panel.id].image()  # decoded now: a damaged file shows as such instead of failing the page
        except LookupError:
            art[panel.id] = _Placeholder(render_sizes([page])[panel.id], PLACEHOLDER_GREY)
            missing.append((panel.id, "no take yet: render this panel"))
        except StoryboardError as exc:
            log.warning("Page view: %s", exc)
            art[panel.id] = _Placeholder(render_sizes([page])[panel.id], PLACEHOLDER_RED)
            missing.append((panel.id, "the take cannot be opened: render this panel again"))
    lettering = letter_pages(root, project, [page], {pid: a.size for pid, a in art.items()}, spec.reading)
    safe_mm = get("safe_mm") if get("safe_mm") is not None else print_margins_mm(spec.size)[1]
    painter = PngPainter(spec.size.width_pt, spec.size.height_pt, dpi)
    draw_comic_page(painter, page, art, lettering, get("border_pt"))
    if get("page_numbers"):
        draw_page_number(painter, page.number, spec.size.width_pt, spec.size.height_pt, spec.margin_pt, safe_mm * PT_PER_MM)
    for panel_id, why in missing:
        rect = next(p.rect for p in page.panels if p.panel_id == panel_id)
        note = f"Panel {next(p.number for p in page.panels if p.panel_id == panel_id)}: {why}"
        painter.text(note, pick_font(note), 7.0, rect.center[0], rect.bottom - 8.0, "center", (0.45, 0.2, 0.2))
    return PageDrawing(painter.result(), page, tuple(lettering[p.panel_id] for p in page.panels), len(pages), tuple(missing))
