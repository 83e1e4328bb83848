"""A reportlab canvas that writes a PDF of any length in bounded memory (issue 13).

reportlab keeps every object of a document in memory until `save()` and then builds the whole file as one
string. Here the art, which is nearly all of a comic's bytes, goes to a spool file as each image is placed,
and `save()` writes the document object by object straight to its file, reading each image back from the
spool as its turn comes. Pages' drawing and text stay reportlab's (text stays text; fonts are subset).

Images arrive already encoded (`PdfImage`): JPEG as `/DCTDecode`, lossless pixels as `/FlateDecode` with
PNG predictors, so a PNG's own compressed data can go into the PDF without being decoded.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from reportlab.lib.rl_accel import fp_str
from reportlab.pdfbase import pdfdoc
from reportlab.pdfgen.canvas import Canvas


@dataclass(frozen=True)
class PdfImage:
    """An image XObject's pixels, encoded as the PDF carries them."""

    width: int
    height: int
    color_space: str  # "/DeviceRGB", "/DeviceGray" or "[/Indexed /DeviceRGB 15 <...>]"
    bits: int
    filter: str  # "/DCTDecode" or "/FlateDecode"
    data: bytes
    decode_parms: str = ""  # e.g. "<< /Predictor 15 /Colors 3 /BitsPerComponent 8 /Columns 1024 >>"

    @property
    def lossless(self) -> bool:
        return self.filter == "/FlateDecode"


@contextlib.contextmanager
def binary_streams() -> Iterator[None]:
    """reportlab wraps page streams in ASCII85 by default (+25% size); binary streams are fine in PDF."""
    from reportlab import rl_config

    saved = rl_config.useA85
    rl_config.useA85 = 0
    try:
        yield
    finally:
        rl_config.useA85 = saved



class SpooledCanvas(Canvas):
    """A reportlab Canvas whose images wait in `spool` (a binary file) and whose save writes object by object."""

    def __init__(self, path: Path | str, pagesize: tuple[float, float], spool: IO[bytes], **kwargs: Any):
        super().__init__(str(path), pagesize=pagesize, pageCompression=1, **kwargs)
        self._doc = _StreamedDocument(compression=1, filename=str(path))
        self._spool = spool
        self._image_count = 0

    def place_image(self, image: PdfImage, x: float, y: float, width: float, height: float,
                    clip: tuple[float, float, float, float] | None = None) -> None:
        """Draw `image` over the box (x, y, width, height) in PDF points (origin bottom-left), seen only inside `clip`."""
        self._image_count += 1
        name = f"art{self._image_count}"
        offset = self._spool.seek(0, 2)
        self._spool.write(image.data)
        xobject = _SpooledImage(image, self._spool, offset)
        ref_name = self._doc.getXObjectName(name)
        self._doc.Reference(xobject, ref_name)
        self._formsinuse.append(name)
        self._currentPageHasImages = 1
        ops = ["q"]
        if clip is not None:
            ops.append(f"{fp_str(*clip)} re W n")
        ops.append(f"{fp_str(width, 0, 0, height, x, y)} cm /{ref_name} Do Q")
        self._code.append(" ".join(ops))


class _SpooledImage(pdfdoc.PDFObject):
    """An image XObject whose stream is read from the spool only while it is written out."""

    def __init__(self, image: PdfImage, spool: IO[bytes], offset: int):
        self.header = (f"<< /Type /XObject /Subtype /Image /Width {image.width} /Height {image.height} "
                       f"/ColorSpace {image.color_space} /BitsPerComponent {image.bits} /Filter {image.filter}"
                       + (f" /DecodeParms {image.decode_parms}" if image.decode_parms else "")
                       + f" /Length {len(image.data)} >>").encode("latin-1")
        self.spool = spool
        self.offset = offset
        self.length = len(image.data)

    def format(self, document: Any) -> bytes:
        self.spool.seek(self.offset)
        data = self.spool.read(self.length)
        if len(data) != self.length:
            raise OSError(f"the image spool lost {self.length - len(data)} bytes")
        return self.header + b"\nstream\n" + data + b"\nendstream"


class _FileSink(pdfdoc.PDFFile):
    """reportlab's output collector, writing to a file as it goes instead of collecting strings."""

    def __init__(self, version: Any, sink: IO[bytes]):
        super().__init__(version)  # collects the file header
        for chunk in self.strings:
            sink.write(chunk)
        self.strings = []
        self.write = sink.write

    def format(self, document: Any) -> bytes:
        return b""


class _StreamedDocument(pdfdoc.PDFDocument):
    """reportlab's PDFDocument, saved object by object into the file rather than built whole in memory."""

    def SaveToFile(self, filename: str, canvas: Any) -> None:  # noqa: N802 (reportlab's name)
        with open(filename, "wb") as sink:
            self._sink = sink
            try:
                self.GetPDFData(canvas)  # realises fonts and outlines, then calls format()
            finally:
                del self._sink

    def format(self) -> bytes:
        """reportlab's PDFDocument.format (5.x), each object written to the sink once formatted."""
        self.encrypt.prepare(self)
        catalog, info = self.Catalog, self.info
        self.Reference(catalog)
        self.Reference(info)
        encrypt_info = self.encrypt.info()
        encrypt_ref = self.Reference(encrypt_info) if encrypt_info else None
        out = self.__accum__ = _FileSink(self._pdfVersion, self._sink)
        ids = []
        number = 0
        while True:  # objects may be registered while earlier ones are formatted
            number += 1
            if number not in self.numberToId:
                break
            oid = self.numberToId[number]
            self.idToOffset[oid] = out.add(pdfdoc.PDFIndirectObject(oid, self.idToObject[oid]).format(self))
            ids.append(oid)
        del self.__accum__
        if number - 1 != len(self.numberToId):
            raise ValueError(f"object count {number - 1} does not match the {len(self.numberToId)} registered")
        xref = pdfdoc.PDFCrossReferenceTable()
        xref.addsection(0, ids)
        xref_offset = out.add(xref.format(self))
        trailer = pdfdoc.PDFTrailer(startxref=xref_offset, Size=len(self.numberToId) + 1, Root=self.Reference(catalog),
                                    Info=self.Reference(info), Encrypt=encrypt_ref, ID=self.ID())
        out.add(trailer.format(self))
        return b""
