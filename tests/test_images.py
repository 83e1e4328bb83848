"""storyboard.images (issue 11, item 3): every pixel mode converted by its meaning, checked by pixel values;
decompression bombs, damaged and disguised files refused before decoding, with messages that name the file."""

from __future__ import annotations

import io
import logging
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from storyboard.errors import ImageError, ProjectError
from storyboard.images import PROJECT_MAX_PIXELS, open_image, to_mask, to_rgb

# ---------------------------------------------------------------- files Pillow cannot write, written by hand


def png_chunks(width: int, height: int, bit_depth: int, color_type: int, idat: bytes | None,
               extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A PNG from its chunks: IHDR, `extra` (e.g. tRNS), one IDAT, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + b"".join(chunk(k, d) for k, d in extra)
    if idat is not None:
        body += chunk(b"IDAT", idat)
    return b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b"")


def png16(samples: list[list[tuple[int, ...]]], color_type: int, extra: tuple[tuple[bytes, bytes], ...] = ()) -> bytes:
    """A 16-bit PNG (color type 0 grey, 2 RGB, 4 grey+alpha, 6 RGBA) of rows of pixel tuples."""
    array = np.array(samples, dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for row in array)
    return png_chunks(array.shape[1], array.shape[0], 16, color_type, zlib.compress(rows), extra)


def saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def grey(values: list[int], dtype: str) -> Image.Image:
    return Image.fromarray(np.array([values], dtype=dtype))


def palette(mode: str, pixels: list, colours: list[int]) -> Image.Image:
    image = Image.new(mode, (len(pixels), 1))
    image.putpalette(colours)
    for x, value in enumerate(pixels):
        image.putpixel((x, 0), value)
    return image


def row(mode: str, pixels: list) -> Image.Image:
    image = Image.new(mode, (len(pixels), 1))
    for x, value in enumerate(pixels):
        image.putpixel((x, 0), value)
    return image


def animated_gif() -> bytes:
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    return saved(frames[0], "GIF", save_all=True, append_images=frames[1:])


def sideways_jpeg() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # stored sideways: upright it is 30 wide, 50 tall
    return saved(Image.new("RGB", (50, 30), (20, 200, 20)), "JPEG", exif=exif, quality=95)


WHITE, BLACK = (255, 255, 255), (0, 0, 0)

# (id, the file's bytes, its pixels as RGB (x from 0 along one row), tolerance per channel)
PHOTOS: list[tuple[str, Callable[[], bytes], list[tuple[int, int, int]], int]] = [
    ("8-bit RGB PNG (unchanged)", lambda: saved(row("RGB", [(200, 120, 90), (1, 2, 3)]), "PNG"),
     [(200, 120, 90), (1, 2, 3)], 0),
    ("8-bit grey PNG (unchanged)", lambda: saved(grey([0, 77, 255], "uint8"), "PNG"), [BLACK, (77, 77, 77), WHITE], 0),
    ("16-bit grey PNG (I;16): 0x8080 is 128, not white", lambda: saved(grey([0x8080, 0, 0xFFFF, 0x1234], "uint16"), "PNG"),
     [(128,) * 3, BLACK, WHITE, (18,) * 3], 0),
    ("16-bit grey TIFF big-endian (I;16B)", lambda: saved(grey([0x8080, 0xFFFF], ">u2"), "TIFF"),
     [(128,) * 3, WHITE], 0),
    ("16-bit grey TIFF little-endian (I;16)", lambda: saved(grey([0x4040, 0xFFFF], "<u2"), "TIFF"), [(64,) * 3, WHITE], 0),
    ("32-bit integer TIFF (I): 16-bit samples, clipped", lambda: saved(grey([0x8080, 65535, 70000, -5], "int32"), "TIFF"),
     [(128,) * 3, WHITE, WHITE, BLACK], 0),
    ("32-bit float TIFF (F): 0.0-1.0, clipped, NaN black",
     lambda: saved(grey([0.0, 0.5, 1.0, 2.0, -1.0, float("nan")], "float32"), "TIFF"),
     [BLACK, (128,) * 3, WHITE, WHITE, BLACK, BLACK], 0),
    ("16-bit RGB PNG: each sample's high byte", lambda: png16([[(0x8080, 0x1234, 0xFFFF), (0, 0x00FF, 0xFF00)]], 2),
     [(128, 18, 255), (0, 0, 255)], 1),
    ("16-bit RGBA PNG: transparent is white", lambda: png16([[(0, 0, 0, 0), (0xFFFF, 0, 0, 0xFFFF)]], 6),
     [WHITE, (255, 0, 0)], 1),
    ("16-bit grey+alpha PNG", lambda: png16([[(0, 0), (0, 0xFFFF), (0x8080, 0xFFFF)]], 4), [WHITE, BLACK, (128,) * 3], 1),
    ("16-bit grey PNG with a transparent value (tRNS)", lambda: png16([[(0,), (0x8080,)]], 0, ((b"tRNS", b"\x00\x00"),)),
     [WHITE, (128,) * 3], 0),
    ("LA PNG: laid on white", lambda: saved(row("LA", [(0, 0), (0, 255), (0, 128)]), "PNG"),
     [WHITE, BLACK, (127,) * 3], 1),
    ("RGBA PNG: laid on white", lambda: saved(row("RGBA", [(255, 0, 0, 0), (255, 0, 0, 255), (0, 0, 0, 128)]), "PNG"),
     [WHITE, (255, 0, 0), (127,) * 3], 1),
    ("P PNG with a transparent index: white", lambda: saved(palette("P", [0, 1], [255, 0, 0, 0, 255, 0]), "PNG",
                                                            transparency=0), [WHITE, (0, 255, 0)], 0),
    ("P PNG without transparency: its colours", lambda: saved(palette("P", [0, 1], [255, 0, 0, 0, 255, 0]), "PNG"),
     [(255, 0, 0), (0, 255, 0)], 0),
    ("PA TIFF: laid on white", lambda: saved(palette("PA", [(0, 0), (1, 255)], [255, 0, 0, 0, 255, 0]), "TIFF"),
     [WHITE, (0, 255, 0)], 0),
    ("L PNG with a transparent grey (tRNS)", lambda: saved(row("L", [10, 200]), "PNG", transparency=10),
     [WHITE, (200,) * 3], 0),
    ("RGB PNG with a transparent colour (tRNS)", lambda: saved(row("RGB", [(1, 2, 3), (9, 9, 9)]), "PNG",
                                                               transparency=(1, 2, 3)), [WHITE, (9, 9, 9)], 0),
    ("1-bit PNG", lambda: saved(row("1", [0, 1]), "PNG"), [BLACK, WHITE], 0),
    ("CMYK TIFF", lambda: saved(row("CMYK", [(0, 0, 0, 0), (0, 255, 255, 0), (0, 0, 0, 255), (255, 0, 0, 0)]), "TIFF"),
     [WHITE, (255, 0, 0), BLACK, (0, 255, 255)], 0),
    ("CMYK JPEG (Adobe, inverted on disk)", lambda: saved(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG", quality=95),
     [(255, 0, 0)], 6),
    ("LAB TIFF: L*=50 is sRGB 119", lambda: saved(row("LAB", [(128, 128, 128), (255, 128, 128), (0, 128, 128)]), "TIFF"),
     [(119,) * 3, WHITE, BLACK], 2),
    ("animated GIF: the first frame", animated_gif, [(255, 0, 0)], 0),
    ("WebP with alpha: laid on white", lambda: saved(row("RGBA", [(0, 0, 255, 0), (0, 0, 255, 255)]), "WEBP", lossless=True),
     [WHITE, (0, 0, 255)], 0),
    ("BMP", lambda: saved(row("RGB", [(10, 20, 30)]), "BMP"), [(10, 20, 30)], 0),
]


@pytest.mark.parametrize(("make", "expected", "tolerance"), [p[1:] for p in PHOTOS], ids=[p[0] for p in PHOTOS])
def test_photo_pixels_keep_their_meaning(make: Callable[[], bytes], expected: list[tuple[int, int, int]],
                                         tolerance: int, tmp_path: Path) -> None:
    path = tmp_path / "photo.img"
    path.write_bytes(make())
    image = open_image(path, "the photo")
    assert image.mode == "RGB"
    got = [image.getpixel((x, 0)) for x in range(len(expected))]
    assert np.abs(np.array(got, int) - np.array(expected, int)).max() <= tolerance, f"got {got}, expected {expected}"


# (id, the mask file's bytes, its mask values (white = the character))
MASKS: list[tuple[str, Callable[[], bytes], list[int]]] = [
    ("L mask (unchanged)", lambda: saved(grey([0, 255, 100], "uint8"), "PNG"), [0, 255, 100]),
    ("16-bit grey mask", lambda: saved(grey([0, 0xFFFF, 0x8080], "uint16"), "PNG"), [0, 255, 128]),
    ("RGBA cut-out: its alpha, not its (black) colours",
     lambda: saved(row("RGBA", [(0, 0, 0, 0), (0, 0, 0, 255), (0, 0, 0, 128)]), "PNG"), [0, 255, 128]),
    ("RGBA all opaque: the grey of its colours", lambda: saved(row("RGBA", [(0, 0, 0, 255), (255, 255, 255, 255)]), "PNG"),
     [0, 255]),
    ("LA all opaque: its grey", lambda: saved(row("LA", [(0, 255), (255, 255)]), "PNG"), [0, 255]),
    ("LA cut-out: its alpha", lambda: saved(row("LA", [(255, 0), (255, 255)]), "PNG"), [0, 255]),
    ("P with a transparent background: its alpha",
     lambda: saved(palette("P", [0, 1], [0, 0, 0, 0, 0, 0]), "PNG", transparency=0), [0, 255]),
    ("16-bit RGBA cut-out", lambda: png16([[(0xFFFF, 0xFFFF, 0xFFFF, 0), (0, 0, 0, 0xFFFF)]], 6), [0, 255]),
    ("1-bit mask", lambda: saved(row("1", [0, 1]), "PNG"), [0, 255]),
    ("float mask", lambda: saved(grey([0.0, 1.0], "float32"), "TIFF"), [0, 255]),
    ("RGB mask: its grey", lambda: saved(row("RGB", [(0, 0, 0), (255, 255, 255), (255, 0, 0)]), "PNG"), [0, 255, 76]),
    ("CMYK mask: the grey of its colours", lambda: saved(row("CMYK", [(0, 0, 0, 0), (0, 0, 0, 255)]), "TIFF"), [255, 0]),
]


@pytest.mark.parametrize(("make", "expected"), [m[1:] for m in MASKS], ids=[m[0] for m in MASKS])
def test_mask_pixels_keep_their_meaning(make: Callable[[], bytes], expected: list[int], tmp_path: Path) -> None:
    path = tmp_path / "mask.img"
    path.write_bytes(make())
    mask = open_image(path, "the mask", mode="mask")
    assert mask.mode == "L"
    assert [mask.getpixel((x, 0)) for x in range(len(expected))] == expected


# Modes no file format gives Pillow, but images handed over in memory can have.
IN_MEMORY = [
    ("YCbCr", Image.new("YCbCr", (1, 1), (128, 128, 128)), (128, 128, 128), 128),
    ("HSV", Image.new("HSV", (1, 1), (0, 255, 255)), (255, 0, 0), 76),
    ("La (premultiplied)", Image.new("La", (1, 1), (50, 128)), (177, 177, 177), 128),
    ("RGBa (premultiplied)", Image.new("RGBa", (1, 1), (50, 50, 50, 128)), (177, 177, 177), 128),
    ("I;16B", Image.fromarray(np.array([[0x8080]], dtype=">u2")), (128, 128, 128), 128),
]


@pytest.mark.parametrize(("image", "rgb", "mask"), [m[1:] for m in IN_MEMORY], ids=[m[0] for m in IN_MEMORY])
def test_in_memory_modes(image: Image.Image, rgb: tuple[int, int, int], mask: int) -> None:
    assert np.abs(np.array(to_rgb(image).getpixel((0, 0))) - rgb).max() <= 1
    assert abs(to_mask(image).getpixel((0, 0)) - mask) <= 1


def test_exif_orientation_is_applied_unless_asked_not_to(tmp_path: Path) -> None:
    path = tmp_path / "sideways.jpg"
    path.write_bytes(sideways_jpeg())
    assert open_image(path, "the photo").size == (30, 50)
    assert open_image(path, "the photo", upright=False).size == (50, 30)


def test_bytes_are_decoded_instead_of_the_path(tmp_path: Path) -> None:
    image = open_image(tmp_path / "never-read.png", "the photo", data=saved(grey([0x8080], "uint16"), "PNG"))
    assert image.getpixel((0, 0)) == (128, 128, 128)


# ---------------------------------------------------------------- refusals

TINY_IDAT = zlib.compress(b"\x00" * 16)  # decoding this as 30000 x 30000 would fail: refusals come before decoding


def bomb(width: int, height: int) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / "bomb.png"
        path.write_bytes(png_chunks(width, height, 1, 0, TINY_IDAT))
        return path

    return make


def file_with(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def truncated_png(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    data = saved(Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)), "PNG")
    return file_with("cut.png", data[: len(data) // 2])(folder)


def folder(folder: Path) -> Path:
    (folder / "album.png").mkdir()
    return folder / "album.png"


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n"

REFUSALS = [
    ("header claims 30000x30000 (Pillow's own limit)", bomb(30000, 30000), {}, ("bomb.png", "900 megapixels", "100 megapixels")),
    ("header claims 12000x10000 (over ours, under Pillow's)", bomb(12000, 10000), {},
     ("bomb.png", "12000x10000", "120 megapixels", "decompression bomb")),
    ("over a caller's own limit", bomb(3000, 3000), {"max_pixels": 4_000_000}, ("3000x3000", "9 megapixels", "4 megapixels")),
    ("a text file named .png", file_with("notes.png", b"this is not a picture"), {},
     ("notes.png", "not an image this app can read")),
    ("an empty file", file_with("empty.png", b""), {}, ("empty.png", "not an image")),
    ("a 100x100 PNG over a 5000-pixel limit", bomb(100, 100), {"max_pixels": 5000}, ("100x100", "0.01 megapixels")),
    ("a truncated PNG", truncated_png, {}, ("cut.png", "damaged or cut short")),
    ("an EPS (Pillow would run Ghostscript)", file_with("art.eps", EPS), {}, ("art.eps", "not an image this app can read")),
    ("a PNG with a broken header", file_with("bad.png", b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\x0dIHDR" + b"\xff" * 17), {},
     ("bad.png", "not a readable image")),
    ("a missing file", lambda f: f / "gone.png", {}, ("gone.png", "does not exist")),
    ("a folder", folder, {}, ("album.png", "could not be read")),
]


@pytest.mark.parametrize(("make", "options", "says"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_unusable_files_are_refused_with_the_file_and_what_to_do(make: Callable[[Path], Path], options: dict,
                                                                   says: tuple[str, ...], tmp_path: Path) -> None:
    path = make(tmp_path)
    with pytest.raises(ImageError) as caught:
        open_image(path, f"the take {path.name}", advice="Render it again.", **options)
    message = str(caught.value)
    assert message.startswith(f"The take {path.name} ") and message.endswith("Render it again.")
    for word in says:
        assert word in message, f"{word!r} not in {message!r}"
    assert caught.value.reason in message and not caught.value.reason.startswith("The take")


def test_the_limit_defaults_to_the_project_bound_and_the_callers_error_type(tmp_path: Path) -> None:
    path = bomb(10001, 10000)(tmp_path)
    assert 10001 * 10000 > PROJECT_MAX_PIXELS
    with pytest.raises(ProjectError, match=r"bomb\.png is 10001x10000 pixels .* Replace the file with a PNG or JPEG"):
        open_image(path, "the take bomb.png", error=ProjectError)
    with pytest.raises(ValueError, match="mode must be one of RGB, mask"):
        open_image(path, "the take", mode="L")


def test_unreadable_exif_orientation_is_logged_and_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "odd-exif.png"
    Image.new("RGB", (5, 3), (1, 2, 3)).save(path)

    def broken(image: Image.Image) -> Image.Image:
        raise struct.error("unpack requires a buffer of 4 bytes")

    monkeypatch.setattr("storyboard.images.ImageOps.exif_transpose", broken)
    with caplog.at_level(logging.WARNING, logger="storyboard.images"):
        image = open_image(path, "the photo")
    assert image.size == (5, 3) and image.getpixel((0, 0)) == (1, 2, 3)
    assert "EXIF orientation could not be read" in caplog.text
