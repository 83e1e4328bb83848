"""Files for the browser: private copies of what a session's own handlers return, never the workspace's files.

The workspace is never served by path (ui.studio.launch_options blocks it). A handler that shows or offers a file
returns `files.copy(path)`: a hard link (or a copy) under a name no one can guess (a secret of this app, the file's
path, size and time). The folder lies inside Gradio's own cache folder, so Gradio serves the copies as they are:
files outside it it hashes and copies once more every time they are returned (2 ms a take: a second for a gallery
of 400 panels). Copies older than `keep_s` are removed as new ones are made.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


class BrowserFiles:
    """A private folder of copies handed to Gradio; one per app."""

    def __init__(self, folder: Path | str | None = None, keep_s: float = 6 * 3600, prune_every_s: float = 600) -> None:
        self.folder = Path(folder) if folder is not None else Path(tempfile.mkdtemp(prefix="storyboard-browser-",
                                                                                    dir=gradio_cache()))
        self.folder.mkdir(parents=True, exist_ok=True)
        self._secret = secrets.token_bytes(16)
        self.keep_s = keep_s
        self.prune_every_s = prune_every_s
        self._pruned = time.monotonic()
        self._lock = threading.Lock()

    def copy(self, path: Path | str) -> str:
        """The path of a private copy of `path` (same name, same bytes), for a handler to return to the browser."""
        source = Path(path)
        stat = source.stat()
        key = hashlib.sha256(self._secret + f"{os.path.realpath(source)}\0{stat.st_size}\0{stat.st_mtime_ns}".encode()
                             ).hexdigest()[:32]
        dest = self.folder / key / source.name
        if dest.is_file():
            os.utime(dest.parent)  # in use again: not pruned for another keep_s
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            staging = dest.with_name(f".{secrets.token_hex(8)}.tmp")
            try:
                os.link(source, staging)  # same file system: no bytes copied
            except OSError:
                shutil.copyfile(source, staging)
            os.replace(staging, dest)
        self._prune()
        return str(dest)

    def _prune(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._pruned < self.prune_every_s:
                return
            self._pruned = now
        cutoff = time.time() - self.keep_s
        for entry in self.folder.iterdir():
            try:
                if entry.is_dir() and entry.stat().st_mtime < cutoff:
                    shutil.rmtree(entry)
            except OSError as exc:
                log.warning("Could not remove the old browser copy %s: %s", entry, exc)


def gradio_cache() -> Path:
    """Gradio's cache folder (GRADIO_TEMP_DIR, else <tmp>/gradio), where it keeps what it serves; made if missing."""
    folder = Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    return folder
