"""Export in bounded memory, and art embedded as it should be (issue 13, item 2).

Takes are decoded only while their page is drawn (counted through storyboard.art.decode_take, the one place an
export decodes a take), PDF and PNG share one decode per page, the PDF is written object by object and stays
valid, flat draft art goes in as its own PNG data and photographic art as JPEG."""

from __future__ import annotations

import gc
import struct
import weakref
import zlib
from pathlib import Path

import numpy as np
import pikepdf
import pytest
from PIL import Image

from storyboard import art as art_module
from storyboard.art import png_image
from storyboard.export import ExportError, export_project, make_options
from storyboard.storyfile import load_project

SHOTS = ("wide", "medium", "close-up", "full")


def many_panels(root: Path, count: int, picture) -> Path:  # noqa: ANN001 (index -> PIL image)
    """A project of `count` panels, each with a selected take drawn by `picture(index)`."""
    (root / "renders").mkdir(parents=True)
    lines = ["schema: 1", "title: Many", "author: Tester", "page: {size: a4, template: grid-2x2, reading: ltr}",
             "cast: []", "panels:"]
    for i in range(count):
        picture(i).save(root / "renders" / f"p{i + 1}.png")
        lines += [f"  - id: p{i + 1}", f"    prompt: panel {i + 1}", f"    shot: {SHOTS[i % 4]}",
                  f"    caption: \"Caption {i + 1}.\"", f"    takes: [renders/p{i + 1}.png]", "    selected: 0"]
    (root / "story.yaml").write_text("\n".join(lines) + "\n")
    return root


def flat(i: int) -> Image.Image:
    """Draft-like art: a few flat colours."""
    image = Image.new("RGB", (320, 240), (240, 236, 228))
    image.paste((30 + i * 7 % 200, 90, 160), (40 + i % 50, 60, 200, 180))
    return image


def photo(i: int, size: tuple[int, int] = (320, 240)) -> Image.Image:
    """Photograph-like art: smooth gradients with noise (every pixel different)."""
    rng = np.random.default_rng(i)
    y, x = np.mgrid[0:size[1], 0:size[0]]
    base = np.stack([x * 255 / size[0], y * 255 / size[1], (x + y) * 127 / sum(size)], axis=-1)
    return Image.fromarray(np.clip(base + rng.normal(0, 18, base.shape), 0, 255).astype(np.uint8))


def test_takes_are_decoded_one_page_at_a_time_and_once_for_pdf_and_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 13: no list of every decoded take; a page's takes are decoded while it is drawn, then dropped."""
    root = many_panels(tmp_path / "proj", 24, photo)  # photographic takes: the PDF decodes them too (JPEG)
    alive: list[weakref.ref] = []
    most = [0]
    real = art_module.decode_take

    def counting(take, error):  # noqa: ANN001
        gc.collect()
        most[0] = max(most[0], sum(ref() is not None for ref in alive))
        image = real(take, error)
        alive.append(weakref.ref(image))
        return image

    monkeypatch.setattr(art_module, "decode_take", counting)
    result = export_project(root, load_project(root), make_options(tmp_path / "out.pdf", png_dir=tmp_path / "png",
                                                                   png_dpi=36))
    gc.collect()
    assert result.pages == 6 and len(result.pngs) == 6
    assert len(alive) == 24, "each take is decoded once: the PDF and the PNG of its page share the decode"
    assert most[0] <= 4, f"at most one page's takes (4) are held while another is decoded, found {most[0]}"
    assert sum(ref() is not None for ref in alive) == 0, "nothing is kept after the export"


def test_the_pdf_is_written_object_by_object_and_is_valid(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 9, lambda i: flat(i) if i % 2 else photo(i))
    out = tmp_path / "out.pdf"
    export_project(root, load_project(root), make_options(out, title_page=True))
    with pikepdf.open(out) as pdf:
        assert pdf.check_pdf_syntax() == [], "qpdf finds the cross-reference table and every object where they should be"
        assert len(pdf.pages) == 1 + 3
        images = [img for page in pdf.pages for img in page.get_images().values()]
        assert len(images) == 9
    assert not list(tmp_path.glob(".out.pdf.*")), "no temp or spool file is left beside the output"


def idat(path: Path) -> bytes:
    data, pos, chunks = path.read_bytes(), 8, []
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            chunks.append(data[pos + 8:pos + 8 + length])
        pos += 12 + length
    return b"".join(chunks)


def test_flat_draft_art_goes_in_as_its_own_png_data_and_photographs_as_jpeg(tmp_path: Path) -> None:
    """Issue 13: draft art was JPEG, 2.6x larger than lossless; now it is the take's own data, nothing decoded."""
    root = many_panels(tmp_path / "proj", 2, lambda i: flat(i) if i == 0 else photo(i, (1600, 1200)))
    out = tmp_path / "out.pdf"
    export_project(root, load_project(root), make_options(out, dpi=150))
    with pikepdf.open(out) as pdf:
        xobjects = list(pdf.pages[0].get_images().values())
        streams = {str(x.Filter): x for x in xobjects}
        assert set(streams) == {"/FlateDecode", "/DCTDecode"}
        drawn = streams["/FlateDecode"]
        assert drawn.read_raw_bytes() == idat(root / "renders" / "p1.png"), "the PNG's own compressed pixels"
        assert int(drawn.DecodeParms.Predictor) == 15
        shown = pikepdf.PdfImage(drawn).as_pil_image().convert("RGB")
        assert np.array_equal(np.asarray(shown), np.asarray(flat(0))), "lossless: every pixel as drawn"
        photographic = streams["/DCTDecode"]
        assert int(photographic.Width) < 1600, "a take with more pixels than the dpi asks is downsampled"


@pytest.mark.parametrize("case, make", [
    ("palette", lambda: Image.new("RGB", (40, 30), (10, 200, 30)).convert("P")),
    ("grey", lambda: Image.new("L", (40, 30), 90)),
    ("rgb", lambda: Image.new("RGB", (40, 30), (1, 2, 3))),
])
def test_pngs_a_pdf_can_carry_as_they_are(tmp_path: Path, case: str, make) -> None:  # noqa: ANN001
    path = tmp_path / f"{case}.png"
    make().save(path)
    image = png_image(path.read_bytes())
    assert image is not None and (image.width, image.height) == (40, 30) and image.lossless
    assert image.color_space.startswith("[/Indexed") == (case == "palette")


def test_pngs_that_must_be_decoded_first(tmp_path: Path) -> None:
    """Transparency, 16-bit samples, interlacing or a cut-short file: decoded (and checked) instead of copied."""
    Image.new("RGBA", (20, 20), (1, 2, 3, 128)).save(tmp_path / "alpha.png")
    Image.new("I;16", (20, 20), 300).save(tmp_path / "deep.png")
    for name in ("alpha", "deep"):
        assert png_image((tmp_path / f"{name}.png").read_bytes()) is None, name

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    def png(ihdr: bytes, pixels: bytes) -> bytes:
        return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(pixels)) + chunk(b"IEND", b"")

    rows = b"".join(b"\x00" + b"\x07" * 12 for _ in range(4))  # 4 x 4 RGB, filter byte per row
    assert png_image(png(struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0), rows)) is not None
    assert png_image(png(struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 1), rows)) is None, "interlaced"
    assert png_image(png(struct.pack(">IIBBBBB", 4, 4, 8, 2, 0, 0, 0), rows[:-13])) is None, \
        "pixels that do not inflate to the size the header says (valid CRCs)"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(tmp_path / "noise.png")
    data = (tmp_path / "noise.png").read_bytes()
    assert png_image(data) is not None
    assert png_image(data[: len(data) // 2]) is None, "cut short: no IEND"


def test_a_damaged_take_fails_the_export_by_name_and_leaves_no_pdf(tmp_path: Path) -> None:
    root = many_panels(tmp_path / "proj", 5, flat)
    data = (root / "renders" / "p5.png").read_bytes()
    (root / "renders" / "p5.png").write_bytes(data[: len(data) - 30])  # IEND and the end of the pixels cut off
    out = tmp_path / "out.pdf"
    with pytest.raises(ExportError) as error:
        export_project(root, load_project(root), make_options(out))
    assert "p5" in str(error.value) and "render" in str(error.value).lower()
    assert not out.exists() and not list(tmp_path.glob(".out.pdf.*"))
