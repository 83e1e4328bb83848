"""Comic archive export: the project's comic pages as PNG images in a .cbz (a zip) with a ComicInfo.xml.

The pages come from the PNG page export (storyboard.export.export_project with png_dir), so a CBZ page is
exactly the PDF's page. ComicInfo.xml follows the ComicInfo 2.0 schema (the Anansi Project's, which comic
readers such as Komga, Kavita and ComicRack read): Title, Writer, PageCount, Manga (YesAndRightToLeft for
right-to-left projects), Characters and a Pages list with the cover marked FrontCover. The standard
library writes it: a CBZ needs a zip and eleven elements, not a metadata framework.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from storyboard.model import Project

log = logging.getLogger(__name__)

COMICINFO = "ComicInfo.xml"
# ComicInfo 2.0 puts these elements in this order (an xs:sequence); the ones written here, in schema order.
_ORDER = ("Title", "Series", "Number", "Summary", "Notes", "Writer", "Publisher", "Genre", "PageCount", "LanguageISO",
          "Format", "BlackAndWhite", "Manga", "Characters", "Pages")


@dataclass(frozen=True)
class CbzPage:
    """One page image in the archive and what ComicInfo says of it."""

    name: str
    kind: str  # ComicInfo page type: FrontCover, Story, Other
    width: int
    height: int
    size: int


@dataclass(frozen=True)
class CbzResult:
    """What a CBZ export wrote."""

    path: Path
    pages: tuple[CbzPage, ...]
    rendered: tuple[str, ...] = ()
    issues: tuple[Any, ...] = ()


@contextlib.contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only warnings and errors from the logger `name` while the block runs."""
    logger = logging.getLogger(name)
    saved = logger.level
    logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        logger.setLevel(saved)


def page_names(count: int) -> list[str]:
    """Zero-padded names in reading order ('001.png' ...), padded so they also sort by name."""
    width = max(3, len(str(count)))
    return [f"{i:0{width}d}.png" for i in range(1, count + 1)]


def comicinfo_xml(project: Project, pages: list[CbzPage], reading: str, summary: str = "") -> bytes:
    """The ComicInfo.xml (schema 2.0) for a project's archive, UTF-8 with a declaration."""
    from storyboard import __version__

    fields: dict[str, str] = {
        "Title": project.title,
        "Summary": summary,
        "Notes": f"Made with Storyboard Studio {__version__}.",
        "Writer": project.author,
        "PageCount": str(len(pages)),
        "Manga": "YesAndRightToLeft" if reading == "rtl" else "No",
        "Characters": ", ".join(c.name for c in project.cast),
    }
    root = ET.Element("ComicInfo")
    for name in _ORDER:
        if name == "Pages":
            holder = ET.SubElement(root, "Pages")
            for index, page in enumerate(pages):
                attrs = {"Image": str(index), "ImageSize": str(page.size), "ImageWidth": str(page.width),
                         "ImageHeight": str(page.height)}
                if page.kind != "Story":
                    attrs["Type"] = page.kind
                ET.SubElement(holder, "Page", attrs)
        elif fields.get(name):
            ET.SubElement(root, name).text = fields[name]
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"


def export_cbz(
    root: Path | str,
    project: Project,
    output: Path | str,
    engine: Any | None = None,
    render_missing: bool = True,
    on_panel: Callable[[Any], None] | None = None,
    context: Any | None = None,
    thresholds: dict[str, float | None] | None = None,
    **settings: Any,
) -> CbzResult:
    """Write the project's comic pages as `output` (.cbz): PNG pages in reading order and a ComicInfo.xml.

    `settings` are the export settings (storyboard.export.EXPORT_OPTIONS: page_size, reading, png_dpi ...);
    panels without a take are rendered first with `engine`. The archive replaces `output` only when complete."""
    from storyboard.export import ExportError, atomic_output, check_writable, export_project, make_options

    root, output = Path(root), Path(output)
    # 1. Check the output before any work.
    if output.suffix.lower() != ".cbz":
        raise ExportError(f"The comic archive {output} should end in .cbz.")
    check_writable(output, "comic archive")
    if settings.get("sheet"):
        raise ExportError("A comic archive holds comic pages; a storyboard sheet goes to a PDF (--sheet without --cbz).")
    settings.pop("sheet", None)
    with tempfile.TemporaryDirectory(prefix="storyboard-cbz-") as tmp:
        # 2. The PNG (and PDF) page export draws every page once.
        folder = Path(tmp) / "pages"
        options = make_options(Path(tmp) / "book.pdf", png_dir=folder, render_missing=render_missing,
                               thresholds=thresholds, **settings)
        with _quiet("storyboard.export"):  # its "Wrote <temp>/book.pdf" would only confuse
            result = export_project(root, project, options, engine, on_panel=on_panel, context=context)
        # 3. Which page is which: a title page is the cover, else the first comic page; the appendix is "Other".
        comic = len(result.layouts)
        titled = bool(options.get("title_page"))
        names = page_names(len(result.pngs))
        pages = []
        for index, (png, name) in enumerate(zip(result.pngs, names)):
            kind = "FrontCover" if index == 0 else "Story" if index < comic + titled else "Other"
            with Image.open(png) as image:
                width, height = image.size
            pages.append(CbzPage(name, kind, width, height, png.stat().st_size))
        reading = options.get("reading") or project.page.reading
        info = comicinfo_xml(project, pages, reading, options.get("subject"))
        # 4. The archive, written beside its final name and renamed when complete.
        with atomic_output(output) as part:
            try:
                with zipfile.ZipFile(part, "w") as archive:
                    archive.writestr(zipfile.ZipInfo(COMICINFO, date_time=(2026, 1, 1, 0, 0, 0)), info,
                                     compress_type=zipfile.ZIP_DEFLATED)
                    for png, page in zip(result.pngs, pages):
                        archive.write(png, page.name, compress_type=zipfile.ZIP_STORED)  # PNG is compressed already
            except OSError as exc:
                raise ExportError(f"Could not write {output}: {exc.strerror or exc}. The previous file, if any, is "
                                  "unchanged.") from None
    log.info("Wrote %s: %d page(s) and %s.", output, len(pages), COMICINFO)
    return CbzResult(output, tuple(pages), result.rendered, result.issues)
