"""Print-ready PDF (issue 14, item 4): TrimBox/BleedBox/MediaBox as preflight tools read them (pikepdf), art at
--art-dpi, lettering kept out of the bleed and inside the live area, page sizes with their printers' margins,
and the live-area guide for the studio's page view (never drawn into an export)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from storyboard import prepress
from storyboard.cli import main
from storyboard.export import ExportError, export_project, make_options
from storyboard.layout import Rect
from storyboard.lettering import LetteringError, PanelLettering
from storyboard.pagesizes import PT_PER_MM, parse_page_size, print_margins_mm
from storyboard.storyfile import load_project
from test_export_memory import flat, many_panels


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    return many_panels(tmp_path / "proj", 4, flat)


def boxes(path: Path) -> list[dict[str, list[float]]]:
    with pikepdf.open(path) as pdf:
        return [{name: [float(v) for v in page.obj[f"/{name}"]] for name in ("MediaBox", "TrimBox", "BleedBox")}
                for page in pdf.pages]


@pytest.mark.parametrize("size, trim", [("a4", (595, 842)), ("comic", (477, 738))])
@pytest.mark.parametrize("bleed_mm", [0.0, 3.175])
def test_every_page_carries_trim_and_bleed_boxes(rendered: Path, size: str, trim: tuple[int, int], bleed_mm: float) -> None:
    out = rendered.parent / "print.pdf"
    export_project(rendered, load_project(rendered), make_options(out, page_size=size, bleed_mm=bleed_mm, title_page=True))
    bleed = bleed_mm * PT_PER_MM
    pages = boxes(out)
    assert len(pages) == 2
    for page in pages:
        x0, y0, x1, y1 = page["TrimBox"]
        assert (x1 - x0, y1 - y0) == pytest.approx(trim, abs=0.01), "the trim is the page size"
        b0, c0, b1, c1 = page["BleedBox"]
        assert (x0 - b0, y0 - c0, b1 - x1, c1 - y1) == pytest.approx((bleed,) * 4, abs=0.01)
        m0, n0, m1, n1 = page["MediaBox"]
        assert m0 <= b0 and n0 <= c0 and m1 >= b1 and n1 >= c1, "the media holds the bleed (and the crop marks)"
        if bleed_mm == 0:
            assert page["MediaBox"] == page["TrimBox"] == page["BleedBox"]
        else:
            assert x0 - m0 >= bleed + 18, "room outside the bleed for crop marks"


def test_art_runs_into_the_bleed_where_a_panel_meets_the_trim(rendered: Path) -> None:
    pngs = rendered.parent / "pages"
    export_project(rendered, load_project(rendered), make_options(rendered.parent / "out.pdf", template="splash",
                                                                  margin_mm=0, bleed_mm=3, png_dir=pngs, png_dpi=72,
                                                                  border_pt=0, page_numbers=False))
    with Image.open(pngs / "page-001.png") as page:
        slug = round(prepress.page_boxes(595, 842, 3 * PT_PER_MM).offset)
        inside_bleed = page.getpixel((slug - 4, slug + 200))  # left of the trim, inside the bleed
        beyond = page.getpixel((slug - 12, slug + 200))  # outside the bleed: paper
    art = flat(0).getpixel((0, 120))
    assert max(abs(a - b) for a, b in zip(inside_bleed, art)) <= 4, "the art reaches past the trim"
    assert min(beyond) > 250


def test_art_dpi_places_takes_at_that_resolution_and_reports_upsampled_ones(rendered: Path) -> None:
    out = rendered.parent / "print.pdf"
    result = export_project(rendered, load_project(rendered), make_options(out, art_dpi=600))
    rect = result.layouts[0].panels[0].rect
    with pikepdf.open(out) as pdf:
        widths = sorted(int(image.Width) for image in pdf.pages[0].get_images().values())
    assert widths[0] == round(rect.w / 72 * 600), "resampled from the take to exactly 600 dpi"
    assert len(result.notes) == 4 and "p1" in result.notes[0] and "upsampled to 600 dpi" in result.notes[0]


def test_art_dpi_is_bounded_before_anything_is_rendered(project_dir: Path) -> None:
    with pytest.raises(ExportError) as error:
        export_project(project_dir, load_project(project_dir),
                       make_options(project_dir / "x.pdf", page_size="1000x1000mm", template="splash", art_dpi=1200))
    message = str(error.value)
    assert "--art-dpi" in message and "megapixels" in message
    assert not (project_dir / "renders").exists(), "refused before any panel was rendered"


def test_lettering_outside_the_live_area_is_reported_by_panel_and_balloon(rendered: Path) -> None:
    project = load_project(rendered)
    result = export_project(rendered, project, make_options(rendered.parent / "out.pdf", page_size="comic", margin_mm=2))
    live = [issue for issue in result.issues if "live area" in issue.message]
    assert live and {issue.panel_id for issue in live} <= {p.id for p in project.panels}
    assert all(issue.what in ("caption",) or issue.what.startswith("balloon ") for issue in live)
    assert "6.35 mm" in live[0].message and "--margin-mm" in live[0].message
    clean = export_project(rendered, project, make_options(rendered.parent / "ok.pdf", page_size="comic"))
    assert not [issue for issue in clean.issues if "live area" in issue.message], "the default margin keeps it inside"

    out = rendered.parent / "strict.pdf"
    with pytest.raises(LetteringError) as error:
        export_project(rendered, project, make_options(out, page_size="comic", margin_mm=2, strict=True))
    assert "live area" in str(error.value) and not out.exists() and not list(rendered.parent.glob(".strict.pdf.*"))


def test_lettering_in_the_bleed_is_told_apart() -> None:
    from storyboard.layout import PageLayout, PlacedPanel
    from storyboard.lettering import Caption, TextBlock, pick_font

    block = TextBlock(("Cut off",), pick_font("Cut off"), 8.0, (30.0,))
    page = PageLayout(1, 477.0, 738.0, (PlacedPanel("p1", 1, Rect(0, 0, 200, 200)),))
    lettering = {"p1": PanelLettering("p1", (Caption(Rect(-5, 10, 60, 16), block),), (), ())}
    issues = prepress.check_live_area([page], lettering, 18.0, 6.35)
    assert len(issues) == 1 and issues[0].what == "caption" and "into the bleed" in issues[0].message


@pytest.mark.parametrize("name, trim_mm, bleed_mm, safe_mm", [
    ("comic", (168.275, 260.35), 3.175, 6.35),  # US comic: 6.625 x 10.25 in, 1/8 in bleed, 1/4 in safe margin
    ("b6", (125, 176), 3.0, 5.0),
    ("tankobon", (128, 182), 3.0, 5.0),  # manga: JIS B6
    ("a4", (210, 297), 3.0, 5.0),
])
def test_page_sizes_carry_what_printers_ask(name: str, trim_mm: tuple[float, float], bleed_mm: float, safe_mm: float) -> None:
    size = parse_page_size(name)
    assert (size.width_pt / PT_PER_MM, size.height_pt / PT_PER_MM) == pytest.approx(trim_mm, abs=0.2)
    assert print_margins_mm(size) == (bleed_mm, safe_mm)
    live = prepress.live_area(size)
    assert (live.x, live.y) == pytest.approx((safe_mm * PT_PER_MM,) * 2)
    assert live.right == pytest.approx(size.width_pt - safe_mm * PT_PER_MM)


def test_the_live_area_guide_is_for_the_screen_only(rendered: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = load_project(rendered)
    guides = prepress.page_guides(project)
    assert [g.number for g in guides] == [1]
    guide = guides[0]
    assert guide.trim == Rect(0, 0, 595, 842) and guide.live.x == pytest.approx(5 * PT_PER_MM)
    assert guide.bleed.x == pytest.approx(-3 * PT_PER_MM), "the bleed reaches outside the trim"

    def never(*args: object, **kwargs: object) -> None:
        raise AssertionError("the live-area guide was drawn into an export")

    monkeypatch.setattr(prepress, "page_guides", never)
    monkeypatch.setattr(prepress, "live_area", never)
    pngs = rendered.parent / "pages"
    export_project(rendered, project, make_options(rendered.parent / "out.pdf", png_dir=pngs, png_dpi=72, bleed_mm=3))
    with Image.open(pngs / "page-001.png") as page:
        slug = round(prepress.page_boxes(595, 842, 3 * PT_PER_MM).offset)
        row = np.asarray(page.convert("L"))[slug + 5, slug: slug + 30]  # across the top margin, where the guide would be
    assert row.min() > 250, "no guide line in the margin"


def test_the_cli_has_the_print_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["export", "--help"])
    text = capsys.readouterr().out
    for flag in ("--art-dpi", "--safe-mm", "--bleed-mm", "tankobon"):
        assert flag in text, flag
