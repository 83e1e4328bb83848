"""Comic archive export (issue 14, item 2): ordered PNG pages and a ComicInfo.xml that validates against 2.0."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path

import pytest
import xmlschema
from PIL import Image

from storyboard.cli import main
from storyboard.engines.draft import DraftEngine
from storyboard.exchange.cbz import export_cbz, page_names
from storyboard.export import ExportError, export_project, make_options
from storyboard.pagesizes import PT_PER_MM, parse_page_size
from storyboard.storyfile import load_project

SCHEMA = xmlschema.XMLSchema(Path(__file__).parent / "data" / "comicinfo-2.0.xsd")


def comicinfo(path: Path) -> ET.Element:
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("ComicInfo.xml")
    SCHEMA.validate(xml.decode("utf-8"))
    return ET.fromstring(xml)


def test_cbz_holds_the_png_pages_in_order_and_a_valid_comicinfo(project_dir: Path) -> None:
    out = project_dir / "book.cbz"
    result = export_cbz(project_dir, load_project(project_dir), out, DraftEngine())
    with zipfile.ZipFile(out) as archive:
        assert archive.testzip() is None
        names = archive.namelist()
        pages = [n for n in names if n.endswith(".png")]
        assert names[0] == "ComicInfo.xml" and pages == sorted(pages) == page_names(len(pages)) == ["001.png"]
        images = [Image.open(io.BytesIO(archive.read(n))) for n in pages]
    info = comicinfo(out)
    assert info.findtext("Title") == "Test Story" and info.findtext("Writer") == "Tester"
    assert info.findtext("PageCount") == "1" and info.findtext("Manga") == "No"
    assert info.findtext("Characters") == "Mia, Leo"
    page = info.find("Pages/Page")
    assert page.get("Image") == "0" and page.get("Type") == "FrontCover"
    assert (int(page.get("ImageWidth")), int(page.get("ImageHeight"))) == images[0].size
    # the archive's page is the PNG page export's page, pixel for pixel
    project = load_project(project_dir)
    again = export_project(project_dir, project, make_options(project_dir / "c.pdf", png_dir=project_dir / "png"), None)
    assert Image.open(again.pngs[0]).convert("RGB").tobytes() == images[0].convert("RGB").tobytes()
    assert len(result.pages) == 1 and not list(project_dir.glob(".book.cbz*"))


def test_rtl_manga_title_page_cover_and_manga_page_sizes(project_dir: Path) -> None:
    out = project_dir / "manga.cbz"
    export_cbz(project_dir, load_project(project_dir), out, DraftEngine(), reading="rtl", title_page=True,
               appendix=True, page_size="tankobon", template="grid-2x2", png_dpi=72)
    info = comicinfo(out)
    assert info.findtext("Manga") == "YesAndRightToLeft"
    kinds = [p.get("Type", "Story") for p in info.findall("Pages/Page")]
    assert kinds[0] == "FrontCover" and kinds[1] == "Story" and kinds[-1] == "Other"
    assert info.findtext("PageCount") == str(len(kinds))
    with zipfile.ZipFile(out) as archive:
        first = Image.open(io.BytesIO(archive.read("001.png")))
    assert first.size == (363, 516)  # the tankobon trim (JIS B6) in points, at 72 dpi


@pytest.mark.parametrize("name, width_mm, height_mm", [("tankobon", 128, 182), ("b6", 125, 176), ("comic", 168.3, 260.4)])
def test_manga_and_us_comic_sizes(name: str, width_mm: float, height_mm: float) -> None:
    size = parse_page_size(name)
    assert abs(size.width_pt / PT_PER_MM - width_mm) < 0.5 and abs(size.height_pt / PT_PER_MM - height_mm) < 0.5


def test_refusals_leave_the_old_archive(project_dir: Path) -> None:
    project = load_project(project_dir)
    with pytest.raises(ExportError, match=r"should end in \.cbz"):
        export_cbz(project_dir, project, project_dir / "book.zip", DraftEngine())
    with pytest.raises(ExportError, match="does not exist"):
        export_cbz(project_dir, project, project_dir / "nowhere" / "book.cbz", DraftEngine())
    with pytest.raises(ExportError, match="storyboard sheet"):
        export_cbz(project_dir, project, project_dir / "book.cbz", DraftEngine(), sheet=True)
    with pytest.raises(ExportError, match="no rendered image"):
        export_cbz(project_dir, project, project_dir / "book.cbz", None)
    out = project_dir / "book.cbz"
    out.write_bytes(b"the old archive")
    (project_dir / "renders").mkdir(exist_ok=True)
    broken = project_dir / "renders" / "broken.png"
    broken.write_bytes(b"not a png")
    story = (project_dir / "story.yaml").read_text().replace("    shot: establishing\n", "    shot: establishing\n    takes: [renders/broken.png]\n")
    (project_dir / "story.yaml").write_text(story)
    with pytest.raises(ExportError, match="broken.png"):
        export_cbz(project_dir, load_project(project_dir), out, DraftEngine())
    assert out.read_bytes() == b"the old archive"


@pytest.mark.parametrize("extra, words", [
    (["--cbz", "--sheet"], "--sheet makes a storyboard sheet"),
    (["--cbz", "--png-dir", "pngs"], "--png-dir writes PNG pages beside a PDF"),
    (["--cbz", "--fps", "24"], "--fps and --aspect-ratio are for --storyboarder"),
    ([], "add --cbz"),
])
def test_cli_refusals(project_dir: Path, extra: list[str], words: str, capsys: pytest.CaptureFixture) -> None:
    assert main(["export", str(project_dir), "-o", str(project_dir / "book.cbz"), *extra]) == 2
    assert words in capsys.readouterr().err
    assert not (project_dir / "book.cbz").exists()


def test_cli_export_cbz_renders_with_progress(project_dir: Path, capsys: pytest.CaptureFixture) -> None:
    out = project_dir / "book.cbz"
    assert main(["export", str(project_dir), "-o", str(out), "--cbz", "--engine", "draft", "--reading", "rtl",
                 "--png-dpi", "72"]) == 0
    log = capsys.readouterr().out
    assert "[1/3] p1: rendered" in log and "[3/3] p3: rendered" in log and "book.cbz, 1 page(s)" in log
    assert "book.pdf" not in log  # the PDF drawn on the way is a temporary file, not news
    assert comicinfo(out).findtext("Manga") == "YesAndRightToLeft"
