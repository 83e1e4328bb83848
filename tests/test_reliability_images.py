"""Reliability catalogue, images (issue 11, item 3): files that are not what they claim.

Decompression bombs (a tiny PNG whose header claims 30000 x 30000 pixels), truncated and disguised files,
as takes at export and in the studio's views, and as uploads to the cast: each gets a clear message that
names the panel or character, the file and what to do, and the project is as it was (no PDF is written).
Odd but valid files (16-bit, palette with transparency, cut-out masks, CMYK) are accepted with the right
pixels. See tests/reliability.py for the harness and storyboard/images.py for the rules.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from reliability import Act, Case, cli, run_case
from storyboard import studio
from storyboard.errors import ImageError
from storyboard.model import Take
from storyboard.settings import Settings
from storyboard.storyfile import load_project, save_project
from storyboard.store import project_lock
from test_images import TINY_IDAT, png16, png_chunks

SETTINGS = Settings()
TAKE_FIX = r"render it again \(python -m storyboard render PROJECT --panels p2 --force\) or replace the file"
UPLOAD_FIX = r"upload a PNG, JPEG, WebP, GIF, BMP or TIFF file"
BOMB = png_chunks(30000, 30000, 1, 0, TINY_IDAT)  # 90 bytes that claim 900 megapixels


def saved(image: Image.Image, fmt: str = "PNG", **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def truncated() -> bytes:
    data = saved(Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)))
    return data[: len(data) // 2]


# ---------------------------------------------------------------- setups


def takes_with(p2: bytes | None) -> Callable[[Path], None]:
    """Every panel gets a selected take (an ordinary PNG); panel p2's file then holds `p2`."""

    def setup(root: Path) -> None:
        with project_lock(root):
            project = load_project(root)
            panels = []
            for panel in project.panels:
                rel = f"renders/{panel.id}/1.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_bytes(saved(Image.new("RGB", (96, 64), (90, 120, 200))))
                panels.append(dataclasses.replace(panel, takes=(Take(file=rel),), selected=0))
            save_project(root, dataclasses.replace(project, panels=tuple(panels)))
        if p2 is not None:
            (root / "renders" / "p2" / "1.png").write_bytes(p2)

    setup.__name__ = "takes_with"
    return setup


def cast_file(rel: str, data: bytes) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / rel).write_bytes(data)

    setup.__name__ = f"cast_file {rel}"
    return setup


def upload(name: str, data: bytes) -> Callable[[Path], Path]:
    """A file to upload, outside the project."""

    def setup(root: Path) -> Path:
        path = root.parent / "uploads" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        return path

    setup.__name__ = f"upload {name}"
    return setup


# ---------------------------------------------------------------- acts


def add_zoe(as_: str = "photo") -> Act:
    """studio.add_character with the uploaded file as Zoe's photo (or mask, next to an ordinary photo)."""

    def act(root: Path, path: Path) -> Any:
        if as_ == "photo":
            return studio.add_character(root, "Zoe", path, SETTINGS)
        photo = root.parent / "uploads" / "zoe.png"
        photo.write_bytes(saved(Image.new("RGB", (40, 50), (10, 20, 30))))
        return studio.add_character(root, "Zoe", photo, SETTINGS, mask=path)

    act.__name__ = f"add_character ({as_})"
    return act


def accepted(as_: str, expected: list[tuple[tuple[int, int], Any]]) -> Act:
    """Zoe is added with the upload, and her stored photo (or mask) has the `expected` pixels."""

    def act(root: Path, path: Path) -> int:
        project, cid, _ = add_zoe(as_)(root, path)
        member = project.character(cid)
        with Image.open(root / (member.reference if as_ == "photo" else member.mask)) as stored:
            assert stored.mode == ("RGB" if as_ == "photo" else "L")
            for xy, value in expected:
                got = stored.getpixel(xy)
                assert np.abs(np.subtract(got, value)).max() <= 2, f"pixel {xy}: {got}, expected {value}"
        return 0

    act.__name__ = f"accepted ({as_})"
    return act


def previews_mark_p2(root: Path, _: Any) -> int:
    """The page preview still draws; p2's slot is red (cannot be opened), p1's shows its take."""
    pages = studio.page_previews(root)
    assert pages, "no preview"
    colours = {c for _, c in pages[0].getcolors(1 << 20)}
    assert (250, 218, 214) in colours, "p2's slot is not marked"
    assert (90, 120, 200) in colours, "p1's take is not drawn"
    return 0


def pose_background(root: Path, _: Any) -> Any:
    from ui.pose_editor import background_data_url

    return background_data_url(root / "renders" / "p2" / "1.png")


def studio_call(fn: Callable[..., Any], *args: Any) -> Act:
    def act(root: Path, _: Any) -> Any:
        return fn(root, *args)

    act.__name__ = fn.__name__
    return act


def mask_layer_is_none(root: Path, _: Any) -> int:
    assert studio.mask_layer(root, "mia") is None
    return 0


def paint_mask(root: Path, _: Any) -> Any:
    return studio.set_painted_mask(root, "mia", [np.full((80, 64), 255, np.uint8)])


CASES = [
    # takes at export and in the studio's views
    Case("take is a 30000x30000 bomb (export)", takes_with(BOMB), cli("export", "{root}", "-o", "{root}/out.pdf"), 2,
         says=("panel 'p2'", "renders/p2/1.png", "900 megapixels", "decompression bomb"), advice=TAKE_FIX),
    Case("take is a 12000x10000 bomb (export --sheet)", takes_with(png_chunks(12000, 10000, 1, 0, TINY_IDAT)),
         cli("export", "{root}", "--sheet", "-o", "{root}/out.pdf"), 2,
         says=("panel 'p2'", "renders/p2/1.png", "12000x10000"), advice=TAKE_FIX),
    Case("take is truncated (export)", takes_with(truncated()), cli("export", "{root}", "-o", "{root}/out.pdf"), 2,
         says=("panel 'p2'", "renders/p2/1.png", "damaged or cut short"), advice=TAKE_FIX),
    Case("take is a text file (export)", takes_with(b"<html>not found</html>"),
         cli("export", "{root}", "-o", "{root}/out.pdf"), 2,
         says=("panel 'p2'", "renders/p2/1.png", "not an image this app can read"), advice=TAKE_FIX),
    Case("take is a bomb (page previews draw, p2 marked)", takes_with(BOMB), previews_mark_p2, 0),
    Case("take is a bomb (pose editor background)", takes_with(BOMB), pose_background, ImageError,
         says=("renders/p2/1.png", "megapixels"), advice="choose a PNG or JPEG"),
    # cast images already in the project
    Case("reference photo is a bomb (paint a mask)", cast_file("cast/mia.png", BOMB), paint_mask, ImageError,
         says=("photo of Mia", "cast/mia.png", "900 megapixels"), advice="upload a new photo of Mia"),
    Case("reference photo is truncated (face preview)", cast_file("cast/mia.png", truncated()),
         studio_call(studio.face_preview, "mia"), ImageError, says=("photo of Mia", "cast/mia.png", "cut short"),
         advice="upload a new photo of Mia"),
    Case("mask is a bomb (mask layer: none, logged)", cast_file("cast/mia_mask.png", BOMB), mask_layer_is_none, 0),
    # uploads
    Case("upload: a text file named .png", upload("notes.png", b"this is not a picture"), add_zoe(),
         studio.ImageUploadError, says=("photo of Zoe", "notes.png is not an image"), advice=UPLOAD_FIX),
    Case("upload: a 30000x30000 bomb", upload("huge.png", BOMB), add_zoe(), studio.ImageUploadError,
         says=("huge.png", "900 megapixels", "60 megapixels"), advice=UPLOAD_FIX),
    Case("upload: a bomb as the mask", upload("mask.png", BOMB), add_zoe("mask"), studio.ImageUploadError,
         says=("mask of Zoe", "mask.png", "megapixels"), advice=UPLOAD_FIX),
    Case("upload: a truncated PNG", upload("cut.png", truncated()), add_zoe(), studio.ImageUploadError,
         says=("cut.png", "damaged or cut short"), advice=UPLOAD_FIX),
    Case("upload: an EPS named .png (never handed to Ghostscript)",
         upload("art.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"), add_zoe(),
         studio.ImageUploadError, says=("art.png", "not an image"), advice=UPLOAD_FIX),
    Case("upload: 16-bit grey photo keeps its grey (not white)",
         upload("grey16.png", saved(Image.fromarray(np.full((50, 40), 0x8080, np.uint16)))),
         accepted("photo", [((0, 0), (128, 128, 128))]), 0, unchanged=False),
    Case("upload: 16-bit RGB photo",
         upload("rgb16.png", png16([[(0xFFFF, 0x8080, 0)] * 8] * 8, 2)),
         accepted("photo", [((3, 3), (255, 128, 0))]), 0, unchanged=False),
    Case("upload: palette photo with a transparent index, on white",
         upload("logo.png", saved(Image.new("P", (8, 8), 0), transparency=0)),
         accepted("photo", [((0, 0), (255, 255, 255))]), 0, unchanged=False),
    Case("upload: CMYK JPEG photo", upload("print.jpg", saved(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG",
                                                             quality=95)),
         accepted("photo", [((8, 8), (255, 0, 0))]), 0, unchanged=False),
    Case("upload: RGBA cut-out mask is its alpha",
         upload("cutout.png", saved(Image.fromarray(np.dstack([np.zeros((50, 40, 3), np.uint8),
                                                                np.tile([0, 255], (50, 20)).astype(np.uint8)])))),
         accepted("mask", [((0, 0), 0), ((1, 0), 255)]), 0, unchanged=False),
    Case("upload: 16-bit mask", upload("mask16.png", saved(Image.fromarray(np.full((50, 40), 0xFFFF, np.uint16)))),
         accepted("mask", [((5, 5), 255)]), 0, unchanged=False),
]


@pytest.fixture(autouse=True)
def restore_logging() -> Any:
    """The CLI rows point the root logger at this test's captured streams; later rows must not log into them."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:], root.level = handlers, level


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_image_catalogue(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_case(case, tmp_path, capsys)
