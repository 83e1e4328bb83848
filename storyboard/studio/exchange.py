"""Exchange from the studio: a Fountain screenplay or a Storyboarder file in; a comic archive or a Storyboarder file out.

The same importers and exporters as the CLI (storyboard.exchange), with what a shared web studio adds: uploads are
bounded by the settings, messages name the user's file (not the upload's temporary path), a new project goes into the
session's folder, and a Storyboarder export is one .zip (the .storyboarder file and its images/ folder) to download.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import stat
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from storyboard.engines import Engine, RenderContext
from storyboard.exchange.fountain import MAX_SCRIPT_BYTES, SCRIPT_SUFFIXES, Script, decode_script, parse_script
from storyboard.exchange.script_import import ScriptImport, import_script
from storyboard.exchange.storyboarder import EXTRA, StoryboarderError, StoryboarderImport, read_storyboarder
from storyboard.model import STORY_FILE
from storyboard.render import PanelEvent
from storyboard.settings import Settings, max_chars
from storyboard.storyfile import load_project
from storyboard.studio.common import StudioError, _unique, prepare_export, slug

log = logging.getLogger(__name__)

EXCHANGE_EXPORT_KINDS = ("cbz", "storyboarder")  # studio.export's kinds done here (labels: EXPORT_KINDS)
BOARD_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_PLAIN_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\Z")  # as Storyboarder names board images
_ZIP_MAX_ENTRIES = 5_000
_CHUNK = 1024 * 1024


# ---------------------------------------------------------------- uploads


def upload_name(path: Path | str) -> str:
    """The name the user gave the uploaded file (Gradio keeps it as the file's name in its upload folder)."""
    return Path(path).name


def check_upload_size(path: Path | str, settings: Settings) -> int:
    """The upload's size in bytes; StudioError when it is not a regular file or larger than the studio takes."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StudioError(f"Could not read the upload {path.name}: {exc.strerror or exc}. Upload it again.") from None
    if not stat.S_ISREG(info.st_mode):
        raise StudioError(f"{path.name} is not a file; upload the file itself.")
    if info.st_size > settings.max_upload_mb * 1_000_000:
        raise StudioError(f"{path.name} is {info.st_size / 1e6:.1f} MB; this studio takes uploads of up to "
                          f"{settings.max_upload_mb} MB (STORYBOARD_MAX_UPLOAD_MB).")
    return info.st_size


def _new_project_folder(session_dir: Path, title: str, fallback: str) -> Path:
    """A free folder name in the session for a new project titled `title` (nothing is created)."""
    session_dir.mkdir(parents=True, exist_ok=True)
    taken = {p.name for p in session_dir.iterdir()}
    return session_dir / _unique(slug(title, fallback), taken)


def _title_from(name: str) -> str:
    """A title from a file name: 'the-lamp_goes-out.fountain' -> 'The Lamp Goes Out'."""
    words = re.sub(r"[-_.]+", " ", Path(name).stem).strip()
    return (words[:1].upper() + words[1:])[: max_chars("title")] if words else "Imported story"


def _remove_new(folder: Path, existed: bool) -> None:
    """Undo a half-made new project (an import that failed after creating the folder)."""
    if not existed and folder.exists():
        shutil.rmtree(folder, ignore_errors=True)


# ---------------------------------------------------------------- a Fountain screenplay in


def read_uploaded_script(path: Path | str, settings: Settings) -> Script:
    """The uploaded screenplay, parsed; ScriptError/StudioError name the user's file (and the line) of any problem."""
    name = upload_name(path)
    if not name.lower().endswith(SCRIPT_SUFFIXES):
        raise StudioError(f"{name} is not a Fountain screenplay; upload a {', '.join(SCRIPT_SUFFIXES)} file (plain "
                          "text in Fountain, as Highland, Slugline, Fade In or WriterSolo export it).")
    check_upload_size(path, settings)
    with open(path, "rb") as handle:
        raw = handle.read(MAX_SCRIPT_BYTES + 1)
    return parse_script(decode_script(raw, name), source=name)


def import_script_upload(session_dir: Path | str, path: Path | str, settings: Settings,
                         into: Path | str | None = None) -> ScriptImport:
    """An uploaded Fountain screenplay as a new project in the session (`into` None) or appended to `into`.

    Nothing is written when the script has a problem; the message names the file and line."""
    script = read_uploaded_script(path, settings)
    if into is not None:
        return import_script(script, Path(into), settings)
    title = (script.title or _title_from(upload_name(path))).strip()
    if len(title) > max_chars("title"):
        title = title[: max_chars("title")].rstrip()
    dest = _new_project_folder(Path(session_dir), title, "script")
    try:
        return import_script(script, dest, settings, title=title)
    except BaseException:
        _remove_new(dest, existed=False)
        raise


# ---------------------------------------------------------------- a Storyboarder file in


def _gather_storyboarder(uploads: list[Path], into: Path, settings: Settings) -> tuple[Path, str]:
    """Lay the uploads out as Storyboarder keeps them: `into/NAME.storyboarder` and `into/images/`; (file, its name).

    The uploads are a .storyboarder file and its board images, or one .zip holding them (as the studio exports)."""
    total = sum(check_upload_size(p, settings) for p in uploads)
    if total > settings.max_upload_mb * 1_000_000:
        raise StudioError(f"These files come to {total / 1e6:.1f} MB; this studio takes uploads of up to "
                          f"{settings.max_upload_mb} MB at once (STORYBOARD_MAX_UPLOAD_MB).")
    images = into / "images"
    images.mkdir(parents=True)
    zips = [p for p in uploads if upload_name(p).lower().endswith(".zip")]
    if zips:
        if len(uploads) > 1:
            raise StudioError("Upload either one .zip (a .storyboarder file with its images folder) or the "
                              ".storyboarder file and its images, not both.")
        return _unzip_storyboarder(zips[0], into, settings)
    boards = [p for p in uploads if upload_name(p).lower().endswith(".storyboarder")]
    if len(boards) != 1:
        found = ", ".join(upload_name(p) for p in boards) or "none"
        raise StudioError(f"Upload one .storyboarder file (with its board images, or all of them in a .zip); found "
                          f"{found}.")
    for upload in uploads:
        name = upload_name(upload)
        if upload in boards:
            continue
        if not name.lower().endswith(BOARD_IMAGE_SUFFIXES) or not _PLAIN_NAME.match(name):
            raise StudioError(f"{name} is not a board image (a .png or .jpg from the .storyboarder file's images "
                              "folder); upload only the .storyboarder file and its images.")
        shutil.copyfile(upload, images / name)
    name = upload_name(boards[0])
    if not _PLAIN_NAME.match(name):
        name = "board.storyboarder"
    shutil.copyfile(boards[0], into / name)
    return into / name, upload_name(boards[0])


def _unzip_storyboarder(archive_path: Path, into: Path, settings: Settings) -> tuple[Path, str]:
    """The .storyboarder file and the board images of a .zip, unpacked (by their plain names only) into `into`."""
    from storyboard.archive import (
        ZIP_FLAG_ENCRYPTED,
        ZIP_FLAG_STRONG_ENCRYPTION,
        ZIP_FREE_BYTES,
        ZIP_MAX_RATIO,
        ZIP_METHODS,
    )

    zip_name = upload_name(archive_path)
    cap = settings.max_project_mb * 1024 * 1024
    try:
        archive = zipfile.ZipFile(archive_path)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
        raise StudioError(f"{zip_name} is not a readable .zip file ({exc}); zip the Storyboarder folder again.") from None
    with archive:
        infos = archive.infolist()
        if len(infos) > _ZIP_MAX_ENTRIES:
            raise StudioError(f"{zip_name} holds {len(infos)} entries; a Storyboarder folder has far fewer. Zip only the "
                              ".storyboarder file and its images folder.")
        wanted: list[tuple[zipfile.ZipInfo, Path]] = []
        boards: list[zipfile.ZipInfo] = []
        total = 0
        for info in infos:
            parts = [p for p in info.filename.replace("\\", "/").split("/") if p]
            if info.is_dir() or not parts or "__MACOSX" in parts or ".." in parts:
                continue
            name = parts[-1]
            if name.lower().endswith(".storyboarder"):
                boards.append(info)
                target = into / (name if _PLAIN_NAME.match(name) else "board.storyboarder")
            elif len(parts) >= 2 and parts[-2] == "images" and name.lower().endswith(BOARD_IMAGE_SUFFIXES) \
                    and _PLAIN_NAME.match(name):
                target = into / "images" / name
            else:
                continue  # anything else in the folder (other tools' files) is not read
            if info.flag_bits & (ZIP_FLAG_ENCRYPTED | ZIP_FLAG_STRONG_ENCRYPTION) or info.compress_type not in ZIP_METHODS:
                raise StudioError(f"{zip_name}: {info.filename} is encrypted or compressed in a way this studio does not "
                                  "unpack; zip the folder again with ordinary compression and no password.")
            if info.file_size > ZIP_FREE_BYTES and info.file_size > ZIP_MAX_RATIO * max(info.compress_size, 1):
                raise StudioError(f"{zip_name}: {info.filename} expands far more than a picture does (a zip bomb); "
                                  "nothing was imported.")
            total += info.file_size
            wanted.append((info, target))
        if len(boards) != 1:
            raise StudioError(f"{zip_name} holds {len(boards) or 'no'} .storyboarder file{'s' if len(boards) > 1 else ''}; "
                              "zip one Storyboarder folder: its .storyboarder file and its images folder.")
        if total > cap:
            raise StudioError(f"{zip_name} unpacks to {total / 1024 / 1024:.1f} MB; this studio imports up to "
                              f"{settings.max_project_mb} MB (STORYBOARD_MAX_PROJECT_MB).")
        for info, target in wanted:
            if target.exists():
                raise StudioError(f"{zip_name} holds {target.name} twice; zip one Storyboarder folder.")
            written = 0
            try:
                with archive.open(info) as source, open(target, "xb") as out:
                    while chunk := source.read(_CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            raise StudioError(f"{zip_name}: {info.filename} holds more than its header says; the "
                                              "file is damaged. Zip the folder again.")
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError) as exc:
                raise StudioError(f"{zip_name}: {info.filename} cannot be read ({exc}); the file is damaged. Zip the "
                                  "folder again.") from None
    board = into / (upload_name(boards[0].filename) if _PLAIN_NAME.match(upload_name(boards[0].filename))
                    else "board.storyboarder")
    return board, f"{zip_name}: {upload_name(boards[0].filename)}"


def import_storyboarder_upload(session_dir: Path | str, uploads: list[Path | str], settings: Settings,
                               into: Path | str | None = None) -> StoryboarderImport:
    """Uploaded Storyboarder boards as a new project in the session (`into` None) or appended to `into`.

    `uploads`: the .storyboarder file and its board images, or one .zip of them. Boards become panels, their
    pictures takes; nothing is written when a board cannot be read (the message names the file and board)."""
    from storyboard.exchange.storyboarder_import import import_storyboarder

    paths = [Path(p) for p in uploads if p]
    if not paths:
        raise StudioError("Choose a .storyboarder file (with its images), or a .zip of its folder, to import.")
    with tempfile.TemporaryDirectory(prefix="storyboard-boards-") as tmp:
        folder = Path(tmp)
        board, shown = _gather_storyboarder(paths, folder, settings)
        try:
            extra = read_storyboarder(board).get(EXTRA)
        except StoryboarderError as exc:
            raise StoryboarderError(_user_paths(str(exc), board, shown)) from None
        title = extra.get("title") if isinstance(extra, dict) and isinstance(extra.get("title"), str) else ""
        title = (title.strip() or _title_from(board.name))[: max_chars("title")]  # a file this studio wrote keeps its title
        dest = Path(into) if into is not None else _new_project_folder(Path(session_dir), title, "boards")
        existed = (dest / STORY_FILE).is_file()
        try:
            result = import_storyboarder(board, dest, settings, title=title)
        except StoryboarderError as exc:
            _remove_new(dest, existed)
            raise StoryboarderError(_user_paths(str(exc), board, shown)) from None
        except BaseException:
            _remove_new(dest, existed)
            raise
        warnings = tuple(_user_paths(w, board, shown) for w in result.warnings)
    from dataclasses import replace

    return replace(result, warnings=warnings)


def _user_paths(message: str, board: Path, shown: str) -> str:
    """A message about the unpacked copy, naming what the user uploaded instead."""
    return message.replace(str(board.parent / "images"), "the images uploaded with it").replace(str(board), shown)


# ---------------------------------------------------------------- a comic archive or a Storyboarder file out


def export_exchange(root: Path | str, out_dir: Path | str, kind: str, engine: Engine,
                    context: RenderContext | None = None, on_panel: Callable[[PanelEvent], None] | None = None,
                    settings: Settings | None = None) -> tuple[tuple[Path, ...], int, tuple[str, ...], tuple[str, ...]]:
    """Export a CBZ (`kind` "cbz") or a Storyboarder .zip ("storyboarder") into `out_dir`, rendering panels without a
    take first; (files, pages or boards, panels rendered first, notes)."""
    if kind not in EXCHANGE_EXPORT_KINDS:
        raise StudioError(f"Unknown export {kind!r}; choose one of {', '.join(EXCHANGE_EXPORT_KINDS)}.")
    root, out_dir = Path(root), Path(out_dir)
    if not (project := load_project(root)).panels:
        raise StudioError(f"{project.title!r} has no panels to export; add panels in the Panels tab first.")
    project, name = prepare_export(root, out_dir, settings)
    if kind == "cbz":
        from storyboard.exchange.cbz import export_cbz

        limits = {"max_png_megapixels": settings.max_page_megapixels} if settings is not None else {}
        result = export_cbz(root, project, out_dir / f"{name}.cbz", engine, render_missing=True, on_panel=on_panel,
                            context=context, **limits)
        return (result.path,), len(result.pages), tuple(result.rendered), tuple(str(i) for i in result.issues)
    from storyboard.exchange.storyboarder import export_storyboarder
    from storyboard.paths import atomic_write

    folder = out_dir / f"{name}-storyboarder"
    if folder.is_dir():
        shutil.rmtree(folder)  # the last export's board images: their names change with the boards
    folder.mkdir()
    result = export_storyboarder(root, project, folder / f"{name}.storyboarder", engine=engine, render_missing=True,
                                 on_panel=on_panel, context=context)
    bundle = out_dir / f"{name}-storyboarder.zip"
    with tempfile.SpooledTemporaryFile(max_size=64 * 1024 * 1024) as buffer:
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.write(result.path, f"{name}/{result.path.name}", compress_type=zipfile.ZIP_DEFLATED)
            for image in result.images:
                archive.write(image, f"{name}/images/{image.name}", compress_type=zipfile.ZIP_STORED)
        buffer.seek(0)
        atomic_write(bundle, buffer.read())
    return (bundle,), result.boards, tuple(result.rendered), ()
