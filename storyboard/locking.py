"""One writer per project folder: a lock that threads and processes share (a lock file, through filelock),
re-entrant per thread, and the clean-up of what a crash left behind.

storyboard.store builds the project's changes on it; storyfile.save_project refuses to write without it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from storyboard.errors import ProjectError

log = logging.getLogger(__name__)

LOCK_FILE = ".story.lock"
LOCK_TIMEOUT_S = 60.0  # a writer holds the lock for milliseconds (one save, one take); a minute means trouble
TEMP_FOLDERS = ("cast", "poses", "renders", ".history")  # where the app writes files with atomic_write


class ProjectBusy(ProjectError):
    """Another writer held the project's lock for longer than the timeout."""


_registry = threading.Lock()
_thread_locks: dict[str, threading.Lock] = {}
_held = threading.local()  # per thread: {project key: depth}
_swept: set[str] = set()


def project_key(root: Path | str) -> str:
    """One name per project folder, whatever path leads to it."""
    return os.path.realpath(root)


def holds_lock(root: Path | str) -> bool:
    """True when this thread holds the project's lock."""
    return _depths().get(project_key(root), 0) > 0


def _depths() -> dict[str, int]:
    if not hasattr(_held, "depths"):
        _held.depths = {}
    return _held.depths


@contextmanager
def project_lock(root: Path | str, timeout: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the project's lock: one writer at a time across threads and processes (re-entrant per thread)."""
    key = project_key(root)
    depths = _depths()
    if depths.get(key, 0) > 0:
        depths[key] += 1
        try:
            yield
        finally:
            depths[key] -= 1
        return
    if not os.path.isdir(key):
        raise ProjectError(f"{root} is not a project folder (it does not exist); open or create the project again.")
    with _registry:
        thread_lock = _thread_locks.setdefault(key, threading.Lock())
    started = time.monotonic()
    if not thread_lock.acquire(timeout=timeout):
        raise _busy(root, timeout)
    try:
        file_lock = FileLock(os.path.join(key, LOCK_FILE), timeout=max(0.0, timeout - (time.monotonic() - started)),
                             thread_local=False)
        try:
            file_lock.acquire()
        except Timeout:
            raise _busy(root, timeout) from None
        except OSError as exc:
            raise ProjectError(f"Cannot lock {root} for writing ({exc.strerror or exc}); check that the folder is "
                               "writable.") from None
        try:
            depths[key] = 1
            if key not in _swept:
                sweep_temp_files(Path(key))
                _swept.add(key)
            yield
        finally:
            depths[key] = 0
            file_lock.release()
    finally:
        thread_lock.release()


def _busy(root: Path | str, timeout: float) -> ProjectBusy:
    return ProjectBusy(f"{root} is being changed by another program or window (its lock {LOCK_FILE} was held for "
                       f"{timeout:.0f} s); nothing was changed. Try again in a moment.")


def sweep_temp_files(root: Path) -> list[Path]:
    """Remove what a crash during a save left behind (`.NAME.xxxx.tmp` beside story.yaml, takes, photos, poses).

    Called with the lock held: every write of the app happens under it, so no such file is in use."""
    found = [p for p in root.glob(".*.tmp") if p.is_file()]
    for folder in TEMP_FOLDERS:
        if (root / folder).is_dir():
            found += [p for p in (root / folder).rglob(".*.tmp") if p.is_file() and not p.is_symlink()]
    for path in found:
        try:
            path.unlink()
        except OSError as exc:
            log.warning("Could not remove the leftover %s: %s", path, exc)
    if found:
        log.info("Removed %d file(s) left by an interrupted save in %s.", len(found), root)
    return found
