"""Takes as art on a page: read from their header before drawing, decoded only while their page is drawn.

An export holds no list of decoded takes (issue 13): `TakeFile` is what the header says (size, format),
`TakeArt` decodes a take at most once, when the first painter of its page asks, and is dropped with the page.
How a take goes into the PDF (`pdf_art`):

1. Flat art (draft takes): a PNG whose compressed pixels take at most 0.1 bytes a pixel goes in as the file
   holds them (FlateDecode with PNG predictors: nothing decoded, nothing lost), scaled to cover its slot and
   clipped to it, whatever `dpi` says: no resampling or JPEG of it would be smaller. A PNG can go in so when
   it is 8-bit RGB or grey, or a palette, not interlaced, without transparency or orientation, and whole.
2. Otherwise the resolution decides: without `art_dpi`, a take of at most `dpi` (with a 10% tolerance) keeps
   its pixels (a JPEG file goes in as it is; a photographic PNG as the smaller of its own data and a JPEG of
   it); one with more pixels is cropped and downsampled to `dpi`. Art is never upsampled. With `art_dpi`
   (e.g. 600 for print) every take is cropped and resampled to exactly that, upsampled when it has fewer pixels.
3. Resampled pixels are encoded losslessly when they have at most 256 colours (flat colour), or when the take
   is drawn art (a PNG of at most 0.5 bytes a pixel) and lossless is smaller than JPEG; otherwise as JPEG at
   `jpeg_quality`. Photographic takes thus go in as JPEG, draft art losslessly.
"""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from storyboard.errors import ExportError, StoryboardError
from storyboard.images import PROJECT_MAX_PIXELS, ImageHeader, open_image, read_header
from storyboard.layout import Rect
from storyboard.lettering import image_to_page
from storyboard.model import Panel
from storyboard.paths import resolve_inside
from storyboard.pdfwriter import PdfImage

DPI_TOLERANCE = 1.1  # a take up to 10% over the dpi goes in as rendered rather than resampled
FLAT_BYTES_PER_PIXEL = 0.1  # lossless data this small is flat art: no JPEG of it would be smaller or as clean
DRAWN_BYTES_PER_PIXEL = 0.5  # a PNG take under this is drawn art (photographic PNGs take 1.5 to 3 bytes a pixel)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@dataclass(frozen=True)
class TakeFile:
    """A panel's selected take as its header describes it: enough to lay out and letter without decoding."""

    panel_id: str
    path: Path
    label: str  # names the panel and file in messages
    advice: str
    header: ImageHeader
    file_bytes: int

    @property
    def size(self) -> tuple[int, int]:
        return self.header.size

    @property
    def drawn(self) -> bool:
        """True for a PNG small enough for its pixels to be drawn art (draft takes), not a photograph."""
        w, h = self.size
        return self.header.format == "PNG" and self.file_bytes <= DRAWN_BYTES_PER_PIXEL * w * h


def take_advice(panel_id: str) -> str:
    again = f"python -m storyboard render PROJECT --panels {panel_id} --force"
    return f"Render it again ({again}) or replace the file with a PNG of the panel; nothing was exported."


def take_file(root: Path, panel: Panel, error: type[StoryboardError] = ExportError) -> TakeFile:
    """The panel's selected take, its header checked (format, pixel bound); `error` names the file and what to do."""
    take = panel.selected_take
    if take is None:
        raise error(f"Panel {panel.id!r} has no take; render it first: python -m storyboard render PROJECT --panels {panel.id}.")
    path = resolve_inside(root, take.file)
    label = f"panel {panel.id!r}: the take {take.file}"
    advice = take_advice(panel.id)
    header = read_header(path, label, max_pixels=PROJECT_MAX_PIXELS, error=error, advice=advice)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise error(f"{label[:1].upper()}{label[1:]} could not be read ({exc.strerror or exc}). {advice}") from None
    return TakeFile(panel.id, path, label, advice, header, size)


def decode_take(take: TakeFile, error: type[StoryboardError] = ExportError) -> Image.Image:
    """The take's pixels as RGB. Every decode of an export goes through here (tests count them)."""
    return open_image(take.path, take.label, max_pixels=PROJECT_MAX_PIXELS, error=error, advice=take.advice)


class TakeArt:
    """One take while its page is drawn: decoded at most once, on first use, by whichever painter asks first."""

    def __init__(self, take: TakeFile, error: type[StoryboardError] = ExportError):
        self.take = take
        self.error = error
        self._image: Image.Image | None = None

    @property
    def size(self) -> tuple[int, int]:
        return self._image.size if self._image is not None else self.take.size

    def image(self) -> Image.Image:
        if self._image is None:
            self._image = decode_take(self.take, self.error)
        return self._image

    def file_data(self) -> bytes:
        try:
            return self.take.path.read_bytes()
        except OSError as exc:
            raise self.error(f"{self.take.label[:1].upper()}{self.take.label[1:]} could not be read "
                             f"({exc.strerror or exc}). {self.take.advice}") from None


@dataclass(frozen=True)
class PlacedArt:
    """Encoded pixels and where they go: the image's box on the page and the box it is seen through."""

    image: PdfImage
    box: Rect
    clip: Rect | None


def pixels_wanted(rect: Rect, dpi: int) -> tuple[int, int]:
    """Pixels that fill `rect` (points) at `dpi`."""
    return max(1, round(rect.w / 72 * dpi)), max(1, round(rect.h / 72 * dpi))


def effective_dpi(rect: Rect, size: tuple[int, int]) -> float:
    """The resolution of an image of `size` pixels when it covers `rect` (cropped to its shape)."""
    scale, _, _ = image_to_page(rect, size)  # points per pixel
    return 72 / scale


def pdf_art(art: TakeArt, rect: Rect, dpi: int, art_dpi: int | None, quality: int) -> PlacedArt:
    """How the take goes into the PDF over `rect`; see the module docstring."""
    size = art.size
    stored = _stored(art) if art_dpi is None else None
    if stored is not None and stored.lossless and len(stored.data) <= FLAT_BYTES_PER_PIXEL * size[0] * size[1]:
        image = stored  # flat art: its own file is smaller than any resampling of it would be
    else:
        if art_dpi is None:
            resample = effective_dpi(rect, size) > dpi * DPI_TOLERANCE
            want = pixels_wanted(rect, dpi)
        else:
            want = pixels_wanted(rect, art_dpi)
            resample = cover_size(size, rect.w / rect.h) != want
        if resample:
            fitted = cover_crop(art.image(), rect.w / rect.h).resize(want, Image.LANCZOS, reducing_gap=3.0)
            return PlacedArt(encode(fitted, quality, art.take.drawn), rect, None)
        image = _at_own_size(art, stored if art_dpi is None else _stored(art), quality)
    scale, ox, oy = image_to_page(rect, (image.width, image.height))
    box = Rect(ox, oy, image.width * scale, image.height * scale)
    return PlacedArt(image, box, None if _same(box, rect) else rect)


def _stored(art: TakeArt) -> PdfImage | None:
    """The take's file as a PDF image, when a PDF can carry its bytes as they are (see png_image, jpeg_image)."""
    take = art.take
    if take.header.orientation != 1 or take.header.format not in ("PNG", "JPEG"):
        return None
    data = art.file_data()
    stored = png_image(data) if take.header.format == "PNG" else jpeg_image(data, take.header)
    return stored if stored is not None and (stored.width, stored.height) == take.size else None


def _at_own_size(art: TakeArt, stored: PdfImage | None, quality: int) -> PdfImage:
    """The take at its own pixels: a JPEG file as it is, a PNG's data when smaller than a JPEG of it, else encoded."""
    if stored is not None and not stored.lossless:
        return stored
    image = art.image()
    if stored is not None:  # a lossless PNG that is not flat (photographic): the smaller of it and a JPEG
        jpeg = encode_jpeg(image, quality)
        return stored if len(stored.data) <= len(jpeg.data) else jpeg
    return encode(image, quality, art.take.drawn)


def _same(a: Rect, b: Rect) -> bool:
    return all(abs(p - q) < 1e-6 for p, q in ((a.x, b.x), (a.y, b.y), (a.w, b.w), (a.h, b.h)))


# ---------------------------------------------------------------- encoding


def encode(image: Image.Image, quality: int, drawn: bool) -> PdfImage:
    """Lossless for flat-colour art, and for drawn art when smaller; JPEG otherwise."""
    image = image.convert("RGB")
    colours = image.getcolors(256)
    if colours is not None:
        return encode_palette(image, [c for _, c in colours])
    jpeg = encode_jpeg(image, quality)
    if drawn:
        lossless = encode_lossless(image)
        if len(lossless.data) < len(jpeg.data):
            return lossless
    return jpeg


def encode_jpeg(image: Image.Image, quality: int) -> PdfImage:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality, optimize=True, subsampling=0 if quality >= 90 else 2)
    return PdfImage(image.width, image.height, "/DeviceRGB", 8, "/DCTDecode", buffer.getvalue())


def encode_lossless(image: Image.Image) -> PdfImage:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=6)
    stored = png_image(buffer.getvalue())
    assert stored is not None, "Pillow writes PNGs a PDF can carry"
    return stored


def encode_palette(image: Image.Image, colours: list[tuple[int, int, int]]) -> PdfImage:
    """An image of at most 256 colours as palette indices: exact, a third of the bytes before compression."""
    packed = np.asarray(image, dtype=np.uint32)
    keys = (packed[..., 0] << 16) | (packed[..., 1] << 8) | packed[..., 2]
    palette = np.array(sorted((r << 16) | (g << 8) | b for r, g, b in colours), dtype=np.uint32)
    indices = Image.fromarray(np.searchsorted(palette, keys).astype(np.uint8), "P")
    indices.putpalette(np.stack([(palette >> 16) & 255, (palette >> 8) & 255, palette & 255], axis=1)
                       .astype(np.uint8).tobytes())
    buffer = io.BytesIO()
    indices.save(buffer, format="PNG", compress_level=6)
    stored = png_image(buffer.getvalue())
    assert stored is not None, "Pillow writes palette PNGs a PDF can carry"
    return stored


def png_image(data: bytes) -> PdfImage | None:
    """A PNG's own compressed pixels as a PDF image, or None when a PDF cannot carry them as they are (alpha,
    transparency, 16-bit samples, interlacing, an EXIF orientation, animation) or the file is damaged."""
    if data[:8] != PNG_SIGNATURE:
        return None
    pos, idat, header, palette, ended = 8, [], None, None, False
    while pos + 12 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc = data[pos + 8 + length:pos + 12 + length]
        if len(body) != length or len(crc) != 4 or zlib.crc32(kind + body) != struct.unpack(">I", crc)[0]:
            return None
        pos += 12 + length
        if kind == b"IHDR":
            header = body
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind in (b"tRNS", b"eXIf", b"acTL"):
            return None
        elif kind == b"IEND":
            ended = True
            break
    if not ended or header is None or len(header) != 13 or not idat:
        return None
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", header)
    if compression or filtering or interlace or colour not in (0, 2, 3) or depth not in (1, 2, 4, 8):
        return None
    if colour == 2 and depth != 8:
        return None
    if colour == 3:
        if palette is None or len(palette) % 3 or not 3 <= len(palette) <= 768:
            return None
        space = f"[/Indexed /DeviceRGB {len(palette) // 3 - 1} <{palette.hex()}>]"
    else:
        space = "/DeviceRGB" if colour == 2 else "/DeviceGray"
    colours = 3 if colour == 2 else 1
    stream = b"".join(idat)
    if not _inflates_to(stream, height * (1 + (width * colours * depth + 7) // 8)):
        return None
    parms = f"<< /Predictor 15 /Colors {colours} /BitsPerComponent {depth} /Columns {width} >>"
    return PdfImage(width, height, space, depth, "/FlateDecode", stream, parms)


def _inflates_to(stream: bytes, expected: int) -> bool:
    """True when the zlib stream is whole and holds exactly `expected` bytes (checked in bounded pieces)."""
    inflater = zlib.decompressobj()
    total, rest = 0, stream
    try:
        while True:
            piece = inflater.decompress(rest, 1 << 20)
            total += len(piece)
            if total > expected:
                return False
            rest = inflater.unconsumed_tail
            if not rest:
                break
        total += len(inflater.flush())
    except zlib.error:
        return False
    return inflater.eof and total == expected


def jpeg_image(data: bytes, header: ImageHeader) -> PdfImage | None:
    """A JPEG as it is, or None when a PDF should not carry it as it is (CMYK, not upright, cut short)."""
    if header.format != "JPEG" or header.mode not in ("RGB", "L") or header.orientation != 1:
        return None
    if not data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return None  # no end-of-image marker: cut short
    width, height = header.size
    return PdfImage(width, height, "/DeviceRGB" if header.mode == "RGB" else "/DeviceGray", 8, "/DCTDecode", data)


# ---------------------------------------------------------------- fitting


def cover_size(size: tuple[int, int], aspect: float) -> tuple[int, int]:
    """The size of cover_crop's result for an image of `size`."""
    w, h = size
    if abs(w / h - aspect) < 1e-3:
        return size
    if w / h > aspect:
        return max(1, round(h * aspect)), h
    return w, max(1, round(w / aspect))


def cover_crop(image: Image.Image, aspect: float) -> Image.Image:
    """The centre of `image` cut to `aspect` (width / height): art is cropped to fit, never stretched."""
    w, h = image.size
    new_w, new_h = cover_size((w, h), aspect)
    if (new_w, new_h) == (w, h):
        return image
    left, top = (w - new_w) // 2, (h - new_h) // 2
    return image.crop((left, top, left + new_w, top + new_h))


def contain_rect(box: Rect, image_size: tuple[int, int]) -> Rect:
    """The largest rectangle of the image's aspect centred in `box` (for sheet thumbnails: the whole frame)."""
    iw, ih = image_size
    scale = min(box.w / iw, box.h / ih)
    w, h = iw * scale, ih * scale
    return Rect(box.x + (box.w - w) / 2, box.y + (box.h - h) / 2, w, h)
