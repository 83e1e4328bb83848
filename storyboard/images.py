"""Reading images: the one place that opens uploads and a project's photos, masks, outfits and takes.

`open_image(path, what)`

1. reads the header first and refuses an image of more than `max_pixels` pixels before decoding it (a PNG
   of a few kilobytes can claim 30000 x 30000 pixels and fill the memory when decoded);
2. opens only the formats the app documents (PNG, JPEG, WebP, GIF, BMP, TIFF), so Pillow's other plugins
   (EPS, for one, runs Ghostscript) never see an untrusted file;
3. decodes the first frame of an animated or multi-page file and turns it upright by its EXIF orientation;
4. converts the pixels to "RGB" (a picture: photo, outfit, take) or to an "L" "mask" (white = the
   character), by the file's mode:

   =====================  ==========================================  ======================================
   mode in the file       "RGB"                                       "mask"
   =====================  ==========================================  ======================================
   L, RGB, P, 1           as stored (1-bit: 0 or 255)                 its grey (ITU-R 601 luma)
   I;16, I;16B/L/N        16-bit samples scaled: v / 257, so 0x8080   the same grey
                          is 128 and 0xFFFF is 255
   I (32-bit integers)    taken as 16-bit samples (what 16-bit PNG    the same grey
                          and TIFF give), v / 257, clipped to 0..255
   F (32-bit floats)      0.0 is black, 1.0 white (the float-image    the same grey
                          convention); clipped, NaN is black
   RGBA, LA, PA, La,      laid on white: a transparent pixel is       its alpha when any pixel is not fully
   RGBa, and P, L, RGB    white, a half-transparent one half-way      opaque (a cut-out: opaque = the
   or 16-bit grey with    to white                                    character); else the grey of its
   a transparent colour                                               colours
   CMYK (JPEG, TIFF)      R = (255 - C)(255 - K) / 255 and so on      the grey of that
                          (Pillow undoes Adobe's inverted JPEGs)
   YCbCr, LAB, HSV        Pillow's conversion to RGB                  the grey of that
   16-bit RGB(A) PNG      Pillow keeps each sample's high byte        as RGB(A)
   =====================  ==========================================  ======================================

   Embedded colour profiles are not applied: RGB pixels are taken as sRGB, as everywhere in the app.

Every refusal is an ImageError (or the caller's StoryboardError subclass) whose message names the file
and says what to do.
"""

from __future__ import annotations

import io
import logging
import re
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from storyboard.errors import ImageError, StoryboardError

log = logging.getLogger(__name__)

PROJECT_MAX_PIXELS = 100_000_000
"""The most pixels an image already in a project (a take, a cast image) may have. Renders and scaled uploads
are far smaller; Pillow itself warns at 89 megapixels and refuses at 179."""

FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP", "DIB", "TIFF")  # JPEG opens phones' MPO files too
FORMAT_NAMES = "PNG, JPEG, WebP, GIF, BMP or TIFF"
MODES = ("RGB", "mask")
DEFAULT_ADVICE = "Replace the file with a PNG or JPEG image."

_WIDE_GREY = ("I;16", "I;16L", "I;16B", "I;16N", "I")
_ALPHA = ("RGBA", "LA", "PA", "La", "RGBa")
# What Pillow's plugins raise on a malformed or cut-short file (struct.error and IndexError from headers
# that lie about their lengths, among others).
_DAMAGED = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError, struct.error,
            ZeroDivisionError)


class _Unusable(Exception):
    """Why a file cannot be used, as a phrase that follows its name (e.g. "does not exist")."""


def open_image(path: Path | str, what: str, *, mode: str = "RGB", max_pixels: int = PROJECT_MAX_PIXELS,
               advice: str = "", data: bytes | None = None, upright: bool = True,
               error: type[StoryboardError] = ImageError) -> Image.Image:
    """The image at `path` (decoded from `data` when given) as "RGB" or as an "L" "mask"; see the module doc.

    `what` names the thing and its file for messages ("the photo of Mia (mia.jpg)"); `advice` says what to
    do about a file that cannot be used. Raises `error` (ImageError by default) with both."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    try:
        image = _decode(path, data, max_pixels, upright)
        return to_mask(image) if mode == "mask" else to_rgb(image)
    except _Unusable as exc:
        reason = str(exc)
    message = f"{what[:1].upper()}{what[1:]} {reason}. {advice or DEFAULT_ADVICE}"
    raise (error(message, reason) if issubclass(error, ImageError) else error(message)) from None


@dataclass(frozen=True)
class ImageHeader:
    """What an image file says of itself before a pixel is decoded."""

    format: str  # as Pillow names it: "PNG", "JPEG" ...
    size: tuple[int, int]  # (width, height) upright, as open_image returns the picture
    mode: str  # the pixel format stored in the file
    orientation: int  # the EXIF orientation, 1 when stored upright


def read_header(path: Path | str, what: str, *, max_pixels: int = PROJECT_MAX_PIXELS, advice: str = "",
                error: type[StoryboardError] = ImageError) -> ImageHeader:
    """The header of the image at `path`, checked as open_image checks it (format, pixel bound), nothing decoded."""
    try:
        with _open(path, None, max_pixels) as opened:
            orientation = _orientation(opened)
            width, height = opened.size
            size = (height, width) if orientation in (5, 6, 7, 8) else (width, height)
            return ImageHeader(str(opened.format), size, opened.mode, orientation)
    except _Unusable as exc:
        reason = str(exc)
    message = f"{what[:1].upper()}{what[1:]} {reason}. {advice or DEFAULT_ADVICE}"
    raise (error(message, reason) if issubclass(error, ImageError) else error(message)) from None


def to_rgb(image: Image.Image) -> Image.Image:
    """A picture's pixels as RGB: wide samples scaled to 8 bits, transparency laid on white."""
    image = _eight_bit(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba).convert("RGB")
    return image.convert("RGB")


def to_mask(image: Image.Image) -> Image.Image:
    """A mask's pixels as L: the alpha of a cut-out (any pixel not opaque), else the grey of its colours."""
    image = _eight_bit(image)
    if _has_alpha(image):
        rgba = image.convert("RGBA")
        alpha = rgba.getchannel("A")
        if alpha.getextrema() != (255, 255):
            return alpha
        image = rgba.convert("RGB")
    return image if image.mode == "L" else image.convert("RGB").convert("L")


# ---------------------------------------------------------------- helpers


def _decode(path: Path | str, data: bytes | None, max_pixels: int, upright: bool) -> Image.Image:
    """The first frame, decoded and upright; _Unusable says why not. Nothing is decoded past the size check."""
    with _open(path, data, max_pixels) as opened:
        try:
            opened.load()  # the first frame of an animated or multi-page file
        except _DAMAGED as exc:
            raise _Unusable(f"is damaged or cut short, so it is not a readable image ({exc})") from None
        return _upright(opened, path) if upright else opened.copy()


def _open(path: Path | str, data: bytes | None, max_pixels: int) -> Image.Image:
    """The file opened (its header read, no pixel decoded) and within `max_pixels`; _Unusable says why not."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the size check below is ours
            opened = Image.open(io.BytesIO(data) if data is not None else path, formats=FORMATS)
    except FileNotFoundError:
        raise _Unusable("does not exist") from None
    except Image.DecompressionBombError as exc:  # Pillow's own limit, above ours: its message has the count
        claimed = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{_megapixels(int(claimed.group(1)))} megapixels" if claimed else "far more pixels"
        raise _Unusable(f"claims {count}, more than the {max_pixels / 1e6:g} megapixels this app opens, so decoding "
                        "it could fill the memory (a decompression bomb, or a picture far larger than needed)") from None
    except UnidentifiedImageError:
        raise _Unusable(f"is not an image this app can read (not a readable image in {FORMAT_NAMES} format)") from None
    except OSError as exc:
        if exc.strerror:  # the file system's error: a folder, no permission ...
            raise _Unusable(f"could not be read ({exc.strerror})") from None
        raise _Unusable(f"is damaged, so it is not a readable image ({exc})") from None
    except _DAMAGED as exc:
        raise _Unusable(f"is damaged, so it is not a readable image ({exc})") from None
    width, height = opened.size
    if width * height > max_pixels:
        opened.close()
        raise _Unusable(f"is {width}x{height} pixels ({_megapixels(width * height)} megapixels), more than the "
                        f"{max_pixels / 1e6:g} megapixels this app opens, so decoding it could fill the memory "
                        "(a decompression bomb, or a picture far larger than needed)")
    return opened


def _orientation(opened: Image.Image) -> int:
    """The EXIF orientation from the header; a PNG's is read only when its eXIf chunk comes before the pixels."""
    if opened.format == "PNG" and "exif" not in opened.info:
        return 1  # asking Pillow would decode the whole image to look for a late eXIf chunk
    try:
        value = opened.getexif().get(0x0112, 1)
    except _DAMAGED:
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1e6:.0f}" if pixels >= 10_000_000 else f"{pixels / 1e6:.2g}"


def _upright(image: Image.Image, path: Path | str) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image)
    except _DAMAGED as exc:  # only the orientation tag is unreadable: the pixels are fine
        log.warning("%s: its EXIF orientation could not be read (%s); the image is used as stored.", path, exc)
        return image.copy()


def _eight_bit(image: Image.Image) -> Image.Image:
    """Wide grey samples (16- and 32-bit integers, floats) as 8-bit L; premultiplied alpha undone."""
    if image.mode in _WIDE_GREY:
        samples = np.asarray(image).astype(np.float64)
        grey = Image.fromarray(np.clip(np.rint(samples / 257.0), 0, 255).astype(np.uint8))
        transparent = image.info.get("transparency")
        if isinstance(transparent, int):  # a 16-bit grey PNG's tRNS: pixels of that value are transparent
            alpha = Image.fromarray(np.where(samples == transparent, 0, 255).astype(np.uint8))
            return Image.merge("LA", (grey, alpha))
        return grey
    if image.mode == "F":
        samples = np.nan_to_num(np.asarray(image, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
        return Image.fromarray(np.clip(np.rint(samples * 255.0), 0, 255).astype(np.uint8))
    if image.mode == "La":
        return image.convert("LA")
    if image.mode == "RGBa":
        return image.convert("RGBA")
    return image


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in _ALPHA or "transparency" in image.info
