"""Paths inside a project folder (nothing a project file names may point outside it), and atomic writes."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path, PurePosixPath

from storyboard.errors import ProjectError

_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:")


def check_relative(rel: str) -> str | None:
    """Why `rel` is not a safe project-relative path, or None if it is."""
    if not isinstance(rel, str) or not rel.strip():
        return "is empty"
    if "\x00" in rel:
        return "contains a NUL character"
    if rel.startswith(("/", "\\")) or _WINDOWS_DRIVE.match(rel):
        return "is an absolute path"
    parts = PurePosixPath(rel.replace("\\", "/")).parts
    depth = 0
    for part in parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return "leads outside the project folder"
        elif part != ".":
            depth += 1
    return None


def resolve_inside(root: Path, rel: str) -> Path:
    """The absolute path of `rel` under `root`; ProjectError if it would escape (symlinks included)."""
    problem = check_relative(rel)
    if problem:
        raise ProjectError(f"The path {rel!r} {problem}; project files must stay inside {root}.")
    root_real = Path(os.path.realpath(root))
    target = Path(os.path.realpath(root_real / rel.replace("\\", "/")))
    if target != root_real and root_real not in target.parents:
        raise ProjectError(
            f"The path {rel!r} leads outside the project folder {root} (through a link?); "
            "copy the file into the project folder and name it relative to it."
        )
    return target


def relative_to_project(root: Path, path: Path) -> str:
    """The project-relative, forward-slash form of an absolute path inside `root`."""
    return Path(os.path.realpath(path)).relative_to(Path(os.path.realpath(root))).as_posix()


def atomic_write(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that a failure at any point leaves the old file as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
