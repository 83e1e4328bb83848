"""A project as one `.zip`: export it, and import one that may be hostile without writing anything bad.

An import checks the whole archive before it writes a byte: the directory's size, the number of entries,
every name (absolute, escaping, links, duplicates, a file that is also a folder), encryption, the
compression method, the total size against STORYBOARD_MAX_PROJECT_MB and the compression ratios (zip
bombs). It then unpacks into a hidden folder beside the destination, counting the bytes actually written
(a header can lie), opens the story with the normal bounded loader, and only then moves the folder into
place. Whatever fails, nothing is left behind.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import struct
import tempfile
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from storyboard.errors import ProjectError
from storyboard.model import STORY_FILE, Project
from storyboard.paths import check_relative
from storyboard.storyfile import load_project

log = logging.getLogger(__name__)

ZIP_MAX_ENTRIES = 10_000  # 200 panels x 8 takes, the cast, poses and history fit many times over
ZIP_MAX_DIRECTORY_BYTES = 8 * 1024 * 1024  # the zip's directory, read whole by zipfile: about 100 bytes an entry
ZIP_MAX_NAME_BYTES = 255  # per folder or file name, as most file systems allow
# Zip bombs: an entry may expand to at most MAX_RATIO times its compressed size (once over FREE_BYTES), and the
# whole archive to MAX_TOTAL_RATIO times (once over TOTAL_FREE_BYTES). PNG takes hardly compress (1:1), story.yaml
# and pose JSON about 5-10:1; deflate's own limit is about 1030:1.
ZIP_MAX_RATIO = 200
ZIP_FREE_BYTES = 1024 * 1024
ZIP_MAX_TOTAL_RATIO = 50
ZIP_TOTAL_FREE_BYTES = 16 * 1024 * 1024
# Only these are read: zipfile inflates deflate in bounded steps, but bzip2 and lzma whole chunks at a time (a few
# KB of bzip2 can become gigabytes in memory before any size check), and other methods it cannot read at all.
ZIP_METHODS = {zipfile.ZIP_STORED: "stored", zipfile.ZIP_DEFLATED: "deflate"}
ZIP_FLAG_ENCRYPTED = 0x1  # general purpose flag bit 0: the entry is encrypted (traditional PKWARE or AES)
ZIP_FLAG_STRONG_ENCRYPTION = 0x40  # bit 6: PKWARE strong encryption
_CHUNK = 1024 * 1024
# Not packed and not unpacked: caches rebuilt on demand, the lock, undo history, other tools' litter
_SKIP_IN_ZIP = {"__pycache__", ".DS_Store", ".cache", ".story.lock", ".history", "__MACOSX"}

TRUST = "Only import projects you trust, exported by this app."
REZIP = "Export the project again from the studio (or zip its folder again with an ordinary zip tool)."
DAMAGED = "The file is damaged; copy or download it again, or export the project again."


def max_project_bytes() -> int:
    """The most bytes an imported project may unpack to (the setting STORYBOARD_MAX_PROJECT_MB)."""
    from storyboard.settings import load_settings

    return load_settings().max_project_mb * 1024 * 1024


def export_zip(root: Path | str, dest: Path | str) -> Path:
    """Write the project folder (story.yaml and everything beside it) to one `.zip`, atomically."""
    root, dest = Path(root), Path(dest)
    load_project(root)  # refuse to package something that does not open
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for path in sorted(root.rglob("*")):
                rel = path.relative_to(root)
                if any(part in _SKIP_IN_ZIP or part.endswith(".tmp") for part in rel.parts):
                    continue
                if path.is_symlink() or not path.is_file() or path.resolve() == dest.resolve():
                    continue
                archive.write(path, rel.as_posix())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return dest


@dataclass(frozen=True)
class _Entry:
    """An archive entry to unpack: its zip record and its path in the project folder."""

    info: zipfile.ZipInfo
    rel: str  # normalised, '/'-separated, relative to the project folder
    folder: bool


STALE_IMPORT_S = 3600  # an import still unpacking after an hour was killed


def remove_stale_imports(folder: Path | str, older_than_s: float = STALE_IMPORT_S) -> list[Path]:
    """Remove the hidden folders of imports killed while unpacking (kill -9 skips their clean-up)."""
    import time

    removed = []
    for path in Path(folder).glob(".*.importing-*"):
        try:
            if path.is_dir() and not path.is_symlink() and time.time() - path.stat().st_mtime > older_than_s:
                shutil.rmtree(path)
                removed.append(path)
        except OSError as exc:
            log.warning("Could not remove %s, left by an interrupted import: %s", path, exc)
    return removed


def import_zip(archive_path: Path | str, dest: Path | str, max_bytes: int | None = None) -> Project:
    """Unpack a project `.zip` into the new (or empty) folder `dest` and return its story.

    ProjectError names the archive, the entry and what to do for anything unsafe or damaged; nothing is then
    left behind. `max_bytes` caps what the project unpacks to (default: STORYBOARD_MAX_PROJECT_MB)."""
    archive_path, dest = Path(archive_path), Path(dest)
    cap = max_project_bytes() if max_bytes is None else max_bytes

    # 1. Check inputs: a regular file (opening a FIFO would block), a new or empty destination
    try:
        info = os.stat(archive_path)
    except OSError as exc:
        raise ProjectError(f"Could not read {archive_path}: {exc.strerror or exc}; choose the project's .zip file.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ProjectError(f"{archive_path} is not a regular file (a folder, pipe or device); choose the project's .zip file.")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ProjectError(f"{dest} is not empty; import the project into a new folder.")
    _check_directory_size(archive_path)

    # 2. Read the directory and check every entry before anything is written
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise ProjectError(f"{archive_path} is not a readable .zip file ({exc}); export the project again.") from None
    with archive:
        entries = _checked_entries(archive, archive_path, cap)

        # 3. Unpack into a hidden folder beside dest, counting what is written; 4. open the story; move it in place
        made_parent = not dest.parent.exists()
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.importing-", dir=dest.parent))
        try:
            _unpack(archive, archive_path, entries, staging, cap)
            project = _open_unpacked(staging, archive_path)
            if dest.exists():
                dest.rmdir()  # empty, checked above
            os.rename(staging, dest)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            if made_parent:
                try:
                    dest.parent.rmdir()
                except OSError:
                    pass
            raise
    log.info("Imported %s into %s: %d files.", archive_path, dest, sum(not e.folder for e in entries))
    return project


def _refuse(archive_path: Path, name: str, problem: str, advice: str) -> ProjectError:
    return ProjectError(f"{archive_path} holds the entry {name!r}, which {problem}; nothing was imported. {advice}")


def _check_directory_size(archive_path: Path) -> None:
    """Refuse a zip whose directory (which zipfile reads whole, one object per entry) is too large to be a project's."""
    declared = _directory_record(archive_path)
    if declared is None:
        return  # no end record: zipfile says so in its own words
    entries, size = declared
    if entries > ZIP_MAX_ENTRIES or size > ZIP_MAX_DIRECTORY_BYTES:
        raise ProjectError(
            f"{archive_path} lists {entries} entries in a {size / 1024 / 1024:.1f} MB directory; a project has at most "
            f"{ZIP_MAX_ENTRIES} files. Nothing was imported. Remove unused takes, or zip only the project folder."
        )


def _directory_record(archive_path: Path) -> tuple[int, int] | None:
    """(entries, directory bytes) from the zip's end record (zip64 too), found the way zipfile finds it."""
    end_size, end_sig = 22, b"PK\x05\x06"
    with open(archive_path, "rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        window = min(size, end_size + 0xFFFF)  # the record, then at most a 64 KB comment
        handle.seek(size - window)
        tail = handle.read(window)
        at = len(tail) - end_size if tail[-end_size:-end_size + 4] == end_sig else tail.rfind(end_sig)
        if at < 0 or len(tail) - at < end_size:
            return None
        *_, entries, directory, _, _ = struct.unpack("<4s4H2LH", tail[at : at + end_size])
        locator_at = size - window + at - 20
        if (entries == 0xFFFF or directory == 0xFFFFFFFF) and locator_at >= 56:
            handle.seek(locator_at)
            if handle.read(4) == b"PK\x06\x07":  # zip64: the real numbers sit in the record before the locator
                handle.seek(locator_at - 56)
                record = handle.read(56)
                if record[:4] == b"PK\x06\x06":
                    entries, directory = struct.unpack("<QQ", record[32:48])
        return entries, directory


def _checked_entries(archive: zipfile.ZipFile, archive_path: Path, cap: int) -> list[_Entry]:
    """The entries to unpack, after every check that needs no decompression; ProjectError for the first problem."""
    infos = archive.infolist()
    if len(infos) > ZIP_MAX_ENTRIES:
        raise ProjectError(f"{archive_path} holds {len(infos)} entries; a project has at most {ZIP_MAX_ENTRIES} files. "
                           "Nothing was imported. Remove unused takes, or zip only the project folder.")
    files: dict[str, str] = {}  # case-folded path -> the entry's name
    folders: dict[str, str] = {}  # every folder an entry names or implies -> that entry's name
    checked: list[tuple[zipfile.ZipInfo, str, bool]] = []
    total = compressed = 0
    for info in infos:
        name = info.filename
        path = name.replace("\\", "/")
        folder = path.endswith("/")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        mode = info.external_attr >> 16
        problem = check_relative(path) or ("contains a '..' part" if ".." in parts else None)
        if problem:
            raise _refuse(archive_path, name, problem, TRUST)
        if stat.S_ISLNK(mode):
            raise _refuse(archive_path, name, "is a symbolic link", TRUST)
        if stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
            raise _refuse(archive_path, name, "is a special file (a device or a pipe)", TRUST)
        if any(len(p.encode("utf-8", "surrogateescape")) > ZIP_MAX_NAME_BYTES for p in parts):
            raise _refuse(archive_path, name, f"has a name longer than {ZIP_MAX_NAME_BYTES} bytes", REZIP)
        if info.flag_bits & (ZIP_FLAG_ENCRYPTED | ZIP_FLAG_STRONG_ENCRYPTION):
            raise _refuse(archive_path, name, "is encrypted (the zip has a password)",
                          "Zip the project folder again without a password, or export it from the studio.")
        if info.compress_type not in ZIP_METHODS:
            method = zipfile.compressor_names.get(info.compress_type, "unknown")
            raise _refuse(archive_path, name, f"is compressed with method {info.compress_type} ({method}); this app "
                          f"unpacks only {' and '.join(ZIP_METHODS.values())} entries",
                          "Zip the project folder again with ordinary (deflate) compression, or export it from the studio.")
        key = "/".join(parts).casefold()
        if folder:
            folders.setdefault(key, name)
        elif key in files:
            other = files[key]
            raise _refuse(archive_path, name, "appears twice in the archive" if other == name else
                          f"has the same name as the entry {other!r}"
                          + (" (the names differ only in case)" if other.replace("\\", "/").casefold() == path.casefold()
                             and other.replace("\\", "/") != path else ""), REZIP)
        else:
            files[key] = name
            for i in range(1, len(parts)):
                folders.setdefault("/".join(parts[:i]).casefold(), name)
        if not folder and info.file_size > ZIP_FREE_BYTES and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
            raise _refuse(archive_path, name, f"expands {info.compress_size} bytes to {info.file_size / 1024 / 1024:.1f} MB "
                          f"(over {ZIP_MAX_RATIO}:1, a zip bomb)", TRUST)
        total += info.file_size
        compressed += info.compress_size
        checked.append((info, "/".join(parts), folder))
    for key, name in files.items():
        if key in folders:
            raise _refuse(archive_path, name, f"is a file, and the entry {folders[key]!r} needs a folder of that name", REZIP)
    if total > cap:
        raise ProjectError(
            f"{archive_path} unpacks to {total / 1024 / 1024:.1f} MB; this app imports projects of up to "
            f"{cap / 1024 / 1024:.0f} MB (STORYBOARD_MAX_PROJECT_MB). Nothing was imported. Remove unused takes "
            "from the project, or raise STORYBOARD_MAX_PROJECT_MB if it really is a project."
        )
    if total > ZIP_TOTAL_FREE_BYTES and total > ZIP_MAX_TOTAL_RATIO * max(compressed, 1):
        raise ProjectError(f"{archive_path} expands {compressed / 1024 / 1024:.1f} MB to {total / 1024 / 1024:.1f} MB "
                           f"(over {ZIP_MAX_TOTAL_RATIO}:1, a zip bomb); nothing was imported. {TRUST}")
    prefix = _story_prefix({rel for _, rel, folder in checked if not folder}, archive_path)
    entries = []
    for info, rel, folder in checked:
        if prefix and not (rel + "/").startswith(prefix):
            continue
        inner = rel[len(prefix):] if prefix else rel
        if inner and not any(part in _SKIP_IN_ZIP for part in inner.split("/")):
            entries.append(_Entry(info, inner, folder))
    return entries


def _story_prefix(names: set[str], archive_path: Path) -> str:
    """'' if story.yaml is at the zip's root, 'folder/' if it sits in one top folder."""
    if STORY_FILE in names:
        return ""
    tops = {n.split("/", 1)[0] + "/" for n in names if n.count("/") == 1 and n.endswith("/" + STORY_FILE)}
    if len(tops) == 1:
        return tops.pop()
    raise ProjectError(f"{archive_path} holds no {STORY_FILE} at its top; it is not a project exported by this app.")


def _unpack(archive: zipfile.ZipFile, archive_path: Path, entries: list[_Entry], into: Path, cap: int) -> None:
    """Write the entries under `into`, counting the bytes actually written against each entry's size and `cap`."""
    written = 0
    for entry in entries:
        target = into / entry.rel
        if entry.folder:
            target.mkdir(parents=True, exist_ok=True)
            continue
        name = entry.info.filename
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            out = open(target, "xb")
        except OSError as exc:
            raise _refuse(archive_path, name, f"could not be written ({exc.strerror or exc})", REZIP) from None
        with out:
            try:
                source = archive.open(entry.info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error) as exc:
                raise _refuse(archive_path, name, f"cannot be read ({exc})", DAMAGED) from None
            with source:
                size = 0
                while True:
                    try:
                        chunk = source.read(_CHUNK)
                    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                        problem = "fails its checksum (CRC)" if "CRC" in str(exc) else f"is damaged ({exc})"
                        raise _refuse(archive_path, name, problem, DAMAGED) from None
                    if not chunk:
                        break
                    size += len(chunk)
                    written += len(chunk)
                    if size > entry.info.file_size:
                        raise _refuse(archive_path, name, f"holds more than the {entry.info.file_size} bytes its header "
                                      "says", DAMAGED)
                    if written > cap:
                        raise ProjectError(f"{archive_path} unpacks to more than {cap / 1024 / 1024:.0f} MB "
                                           "(STORYBOARD_MAX_PROJECT_MB); nothing was imported. Remove unused takes "
                                           "from the project, or raise STORYBOARD_MAX_PROJECT_MB if it really is a project.")
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise ProjectError(f"Could not unpack {archive_path} into {into.parent}: {exc.strerror or exc}. "
                                           "Nothing was imported; check that the disk has room.") from None


def _open_unpacked(staging: Path, archive_path: Path) -> Project:
    """The unpacked story, read by the normal bounded loader; its messages name the archive, not the hidden folder."""
    try:
        return load_project(staging)
    except ProjectError as exc:
        message = str(exc).replace(str(staging / STORY_FILE), f"The {STORY_FILE} in {archive_path}")
        message = message.replace(str(staging), str(archive_path))
        raise ProjectError(f"{message} Nothing was imported.") from None
