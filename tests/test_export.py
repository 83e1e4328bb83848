"""PDF and PNG export (issue 4): page sizes, real text, reading order, sheet, bleed, metadata, bad input."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from PIL import Image
from pypdf import PdfReader

from storyboard.cli import main
from storyboard.engines.draft import DraftEngine
from storyboard.export import ExportError, export_project, make_options
from storyboard.storyfile import load_project

PDFTOTEXT = shutil.which("pdftotext")
needs_pdftotext = pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (Debian poppler-utils) is not installed")


def pdf_text(path: Path, *flags: str) -> str:
    """pdftotext in content-stream order, whitespace collapsed (balloon lines wrap)."""
    out = subprocess.run([PDFTOTEXT, "-raw", *flags, str(path), "-"], capture_output=True, text=True, check=True).stdout
    return re.sub(r"\s+", " ", out)


def squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def export(root: Path, out: Path, **settings) -> object:
    options = make_options(out, **settings)
    return export_project(root, load_project(root), options, DraftEngine())


@pytest.fixture
def sample_or_project(sample_dir: Path, project_dir: Path) -> Path:
    try:
        load_project(sample_dir)
    except Exception:  # the sample is still being written by someone else: fall back to the small project
        return project_dir
    return sample_dir


@pytest.mark.parametrize("size, expected", [("a4", (595, 842)), ("letter", (612, 792)), ("comic", (477, 738))])
def test_pdf_pages_have_the_exact_size_asked(project_dir: Path, size: str, expected: tuple[int, int]) -> None:
    out = project_dir / "comic.pdf"
    export(project_dir, out, page_size=size)
    reader = PdfReader(out)
    for page in reader.pages:
        assert (float(page.mediabox.width), float(page.mediabox.height)) == expected


@needs_pdftotext
def test_every_caption_and_balloon_is_real_text_in_the_pdf(sample_or_project: Path) -> None:
    root = sample_or_project
    out = root / "comic.pdf"
    result = export(root, out)
    assert result.issues == ()
    text = pdf_text(out)
    project = load_project(root)
    expected = [p.caption for p in project.panels if p.caption] + [b.text for p in project.panels for b in p.balloons]
    assert expected
    for item in expected:
        assert squash(item) in text, item
    fonts = {str(f.get("/BaseFont")) for page in PdfReader(out).pages for f in page["/Resources"]["/Font"].values()}
    assert any("ComicNeue" in f for f in fonts), "the lettering font is embedded"


@needs_pdftotext
def test_rtl_puts_panel_one_on_the_right_of_its_row(project_dir: Path) -> None:
    out = project_dir / "manga.pdf"
    result = export(project_dir, out, template="grid-2x2", reading="rtl")
    first, second = result.layouts[0].panels[:2]
    assert first.panel_id == "p1" and first.rect.x > second.rect.x and first.rect.y == second.rect.y
    # in the PDF itself: p1's caption sits in the right half of the page
    bbox = subprocess.run([PDFTOTEXT, "-bbox", str(out), "-"], capture_output=True, text=True, check=True).stdout
    x_min = float(re.search(r'xMin="([\d.]+)"[^>]*>Monday,', bbox).group(1))
    assert x_min > 595 / 2
    ltr = export(project_dir, project_dir / "comic.pdf", template="grid-2x2", reading="ltr")
    assert ltr.layouts[0].panels[0].rect.x < ltr.layouts[0].panels[1].rect.x


def test_lettering_geometry_on_exported_pages(sample_or_project: Path) -> None:
    from storyboard.export import letter_pages, take_file

    result = export(sample_or_project, sample_or_project / "comic.pdf")
    project = load_project(sample_or_project)  # the export keeps no geometry for the story (issue 13): as it drew it
    sizes = {p.id: take_file(sample_or_project, p).size for p in project.panels}
    lettering = letter_pages(sample_or_project, project, result.layouts, sizes, project.page.reading)
    rects = {p.panel_id: p.rect for page in result.layouts for p in page.panels}
    for panel in lettering.values():
        rect = rects[panel.panel_id]
        bodies = [b.body for b in panel.balloons] + [c.rect for c in panel.captions]
        for balloon in panel.balloons:
            assert rect.contains(balloon.body) and rect.contains_point(*balloon.tail_tip)
        for i, a in enumerate(bodies):
            for b in bodies[i + 1:]:
                assert not a.overlaps(b), panel.panel_id


@needs_pdftotext
def test_storyboard_sheet_carries_shot_dialogue_caption_notes_and_duration(project_dir: Path) -> None:
    out = project_dir / "sheet.pdf"
    result = export(project_dir, out, sheet=True, sheet_panels=2)
    assert result.sheet and result.pages == 2
    text = pdf_text(out)
    for expected in ("Panel 1", "Panel 2", "Panel 3", "Caption: Monday, 8:59.", "MIA (shout): Wait for me!",
                     "LEO: Morning!", "MIA (thought): Coffee first.", "Notes: camera low", "wide", "2.5 s",
                     "Action: Mia runs for the bus"):
        assert expected in text, expected


def test_metadata_title_page_page_numbers_and_jpeg_art(project_dir: Path) -> None:
    out = project_dir / "comic.pdf"
    export(project_dir, out, title_page=True, subject="Pilot issue", dpi=150, jpeg_quality=80)
    reader = PdfReader(out)
    meta = reader.metadata
    assert (meta.title, meta.author, meta.subject) == ("Test Story", "Tester", "Pilot issue")
    assert "Test Story" in reader.pages[0].extract_text() and "Tester" in reader.pages[0].extract_text()
    assert reader.pages[1].extract_text().strip().endswith("1")
    filters = set()
    for page in reader.pages[1:]:
        for xobj in page["/Resources"]["/XObject"].values():
            obj = xobj.get_object()
            filters.add(str(obj["/Filter"]).strip("[]'"))
            if obj["/Filter"] == "/DCTDecode":
                assert obj["/Width"] <= 1344, "JPEG art is downscaled to the dpi, never embedded at full render size"
    # flat draft art goes in as its own lossless file, smaller than any JPEG of it (issue 13; test_export_memory.py)
    assert filters == {"/FlateDecode"}
    assert out.stat().st_size < 1_000_000


def test_bleed_adds_trim_and_bleed_boxes_and_crop_marks(project_dir: Path) -> None:
    out = project_dir / "print.pdf"
    export(project_dir, out, bleed_mm=3)
    page = PdfReader(out).pages[0]
    trim, bleed, media = page.trimbox, page.bleedbox, page.mediabox
    assert (float(trim.width), float(trim.height)) == pytest.approx((595, 842))
    assert float(bleed.width) == pytest.approx(595 + 2 * 3 * 72 / 25.4)
    assert float(media.width) > float(bleed.width)


def test_png_pages_match_the_pdf_pages(project_dir: Path) -> None:
    out, pngs = project_dir / "comic.pdf", project_dir / "pages"
    result = export(project_dir, out, png_dir=pngs, png_dpi=72, title_page=True)
    assert [p.name for p in result.pngs] == [f"page-{i:03d}.png" for i in range(1, result.pages + 1)]
    with Image.open(result.pngs[1]) as image:
        assert image.size == (595, 842)
        rect = result.layouts[0].panels[0].rect
        # the panel border is drawn in ink at the slot's edge; the gutter beside it stays white
        x, y = round(rect.x + rect.w / 2), round(rect.y)
        assert max(image.getpixel((x, y))) < 80
        assert min(image.getpixel((x, round(rect.y) - 6))) > 240


def test_panels_without_a_take_are_rendered_first_at_their_slot_size(project_dir: Path) -> None:
    result = export(project_dir, project_dir / "comic.pdf", template="strip-3")
    assert result.rendered == ("p1", "p2", "p3")
    project = load_project(project_dir)
    for panel in project.panels:
        with Image.open(project_dir / panel.selected_take.file) as image:
            w, h = image.size
        assert w % 64 == 0 and h % 64 == 0 and w / h > 1.8, "strip rows are wide"
    again = export(project_dir, project_dir / "comic.pdf", template="strip-3")
    assert again.rendered == ()


def test_missing_take_file_is_rendered_again_or_reported(project_dir: Path) -> None:
    export(project_dir, project_dir / "comic.pdf")
    take = project_dir / load_project(project_dir).panel("p2").selected_take.file
    take.unlink()
    with pytest.raises(ExportError, match=r"p2.*Render them first"):
        export_project(project_dir, load_project(project_dir), make_options(project_dir / "x.pdf", render_missing=False))
    assert not (project_dir / "x.pdf").exists()
    result = export(project_dir, project_dir / "comic.pdf")
    assert result.rendered == ("p2",) and take.is_file()


def test_corrupt_take_is_named(project_dir: Path) -> None:
    export(project_dir, project_dir / "comic.pdf")
    take = project_dir / load_project(project_dir).panel("p3").selected_take.file
    take.write_bytes(b"not a png")
    with pytest.raises(ExportError, match=r"Panel 'p3'.*not a readable image.*--panels p3"):
        export(project_dir, project_dir / "comic.pdf")


def _make_balloon_too_long(project_dir: Path) -> None:
    data = yaml.safe_load((project_dir / "story.yaml").read_text())
    data["panels"][1]["balloons"][0]["text"] = " ".join(["Morning! Did you see the bus? It left early again."] * 20)
    (project_dir / "story.yaml").write_text(yaml.safe_dump(data, sort_keys=False))


def test_text_too_long_warns_and_strict_mode_fails_leaving_the_old_pdf(project_dir: Path, capsys) -> None:
    out = project_dir / "comic.pdf"
    assert main(["export", str(project_dir), "-o", str(out), "--engine", "draft", "--template", "grid-2x2"]) == 0
    before = out.read_bytes()
    _make_balloon_too_long(project_dir)
    assert main(["export", str(project_dir), "-o", str(out), "--template", "grid-2x2", "--strict"]) == 2
    err = capsys.readouterr().err
    assert "Panel 'p2' balloon 1" in err and "nothing was written" in err
    assert out.read_bytes() == before, "a failed export keeps the previous PDF"
    assert not [p for p in project_dir.iterdir() if p.name.endswith(".tmp")], "no temp file is left behind"
    assert main(["export", str(project_dir), "-o", str(out), "--template", "grid-2x2"]) == 0
    assert "Panel 'p2' balloon 1" in capsys.readouterr().err
    assert out.read_bytes() != before


@pytest.mark.parametrize("target", ["missing-folder/comic.pdf", "a-folder.pdf"])
def test_unwritable_output_is_refused_before_any_work(project_dir: Path, target: str, capsys) -> None:
    (project_dir / "a-folder.pdf").mkdir()
    code = main(["export", str(project_dir), "-o", str(project_dir / target), "--engine", "draft"])
    assert code == 2
    err = capsys.readouterr().err
    assert "Cannot write the PDF" in err or "is a folder" in err
    assert not list((project_dir).glob("renders/*/*.png")), "nothing was rendered for an export that cannot be written"
    assert yaml.safe_load((project_dir / "story.yaml").read_text())["panels"][0].get("takes") in (None, [])


def test_unknown_template_via_cli_lists_the_available(project_dir: Path, capsys) -> None:
    assert main(["export", str(project_dir), "-o", str(project_dir / "c.pdf"), "--template", "grid-7x7"]) == 2
    err = capsys.readouterr().err
    assert "grid-7x7" in err and "grid-2x2" in err and "manga-5" in err and "auto" in err


def test_cli_export_renders_with_progress_and_writes_pngs(project_dir: Path, capsys) -> None:
    out = project_dir / "out" / "comic.pdf"
    out.parent.mkdir()
    code = main(["export", str(project_dir), "-o", str(out), "--engine", "draft", "--page-size", "letter",
                 "--png-dir", str(project_dir / "png"), "--png-dpi", "50", "--dpi", "150"])
    assert code == 0
    stdout = capsys.readouterr().out
    assert "[1/3] p1: rendered" in stdout and "[3/3] p3: rendered" in stdout
    assert float(PdfReader(out).pages[0].mediabox.width) == 612
    assert sorted(p.name for p in (project_dir / "png").iterdir()) == ["page-001.png"]


@pytest.mark.parametrize("flag, value", [("--dpi", "10"), ("--jpeg-quality", "101"), ("--bleed-mm", "-1")])
def test_out_of_range_settings_are_refused(project_dir: Path, flag: str, value: str, capsys) -> None:
    assert main(["export", str(project_dir), "-o", str(project_dir / "c.pdf"), flag, value]) == 2
    assert "must be between" in capsys.readouterr().err
