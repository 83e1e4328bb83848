"""Writing export files safely: checked before any work, written beside their name and renamed when whole.

A failed or killed export leaves the previous files as they were (a temp file beside the output is all a
kill -9 can leave, never under the output's name); art waits in an unnamed spool file that vanishes with
the process.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from PIL import Image

from storyboard.errors import ExportError


def check_writable(path: Path, what: str) -> None:
    """Fail now, before any rendering, if `path` cannot be written; nothing is created or changed."""
    folder = path.parent
    if path.is_dir():
        raise ExportError(f"The {what} {path} is a folder; give a file name, e.g. {path / 'comic.pdf'}.")
    if not folder.is_dir():
        raise ExportError(f"Cannot write the {what} {path}: the folder {folder} does not exist. Create it or choose another path.")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise ExportError(f"Cannot write the {what} {path}: {exc.strerror or exc}. Choose a folder you can write to.") from None
    os.close(fd)
    os.unlink(tmp)
    if path.exists() and not os.access(path, os.W_OK):
        raise ExportError(f"Cannot write the {what} {path}: the file is read-only. Choose another name or make it writable.")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """A temp file beside `path` that replaces it only when the block finishes without an error."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def spool_beside(path: Path) -> Iterator[IO[bytes]]:
    """An unnamed temp file beside the output for the art until the PDF is written (gone when closed or killed)."""
    try:
        spool = tempfile.TemporaryFile(dir=path.parent)
    except OSError as exc:
        raise ExportError(f"Cannot write the PDF {path}: {exc.strerror or exc}. Choose a folder you can write to.") from None
    with spool:
        try:
            yield spool
        except OSError as exc:
            if exc.errno is None:
                raise
            raise ExportError(f"Could not write {path}: {exc.strerror or exc}. The previous file, if any, is unchanged.") from None


class PngPages:
    """PNG pages written to temp files as they are drawn, named page-001.png ... only when the whole export is done."""

    def __init__(self, folder: Path | None):
        self.folder = folder
        self.pending: list[tuple[Path, Path]] = []

    def add(self, image: Image.Image) -> None:
        assert self.folder is not None
        path = self.folder / f"page-{len(self.pending) + 1:03d}.png"
        try:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=self.folder)
            os.close(fd)
            self.pending.append((Path(tmp), path))
            image.save(tmp, format="PNG", optimize=False)
        except OSError as exc:
            raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from None

    def publish(self) -> list[Path]:
        umask = os.umask(0)
        os.umask(umask)
        written = []
        for tmp, path in self.pending:
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is an ordinary file
            os.replace(tmp, path)
            written.append(path)
        self.pending = []
        return written

    def discard(self) -> None:
        for tmp, _ in self.pending:
            tmp.unlink(missing_ok=True)
        self.pending = []
