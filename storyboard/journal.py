"""Takes and scores recorded while a render runs: one line appended to `<project>/.takes.jsonl` each,
instead of rewriting the whole story.yaml per take, so recording costs the same at panel 400 as at panel 1.

`load_project` reads story.yaml and then this journal on top of it; the next save of the story (any change,
or `storyboard.store.compact` at the end of a render) writes the takes into story.yaml and empties the journal.
Replaying is idempotent: a take whose file the panel already lists is skipped whole (its selection is not
applied again), so a crash between writing story.yaml and removing the journal changes nothing.
Appends happen under the project's lock, after the take's image is written in full; a line cut short by
kill -9 has no newline and is ignored.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from storyboard.errors import ProjectError
from storyboard.model import Project, Take, add_take
from storyboard.paths import check_relative
from storyboard.schema import read_take

log = logging.getLogger(__name__)

JOURNAL_FILE = ".takes.jsonl"
FOLD_AFTER_BYTES = 256 * 1024  # about 600 takes; then the journal is written into story.yaml (amortised O(1))


def path(root: Path | str) -> Path:
    return Path(root) / JOURNAL_FILE


def read_bytes(root: Path | str, limit: int) -> bytes:
    """The journal's complete lines (b'' when there is none); ProjectError when it is over `limit` bytes."""
    file = path(root)
    try:
        with open(file, "rb") as handle:
            if not os.path.isfile(file):
                raise ProjectError(f"{file} is not a regular file; remove it (renders record their takes there).")
            data = handle.read(limit + 1)
    except FileNotFoundError:
        return b""
    except OSError as exc:
        raise ProjectError(f"Could not read {file}: {exc.strerror or exc}.") from None
    if len(data) > limit:
        raise ProjectError(f"{file} is over {limit // 1024 // 1024} MB; it is not a journal of takes this app wrote. "
                           "Remove it (the images stay in renders/).")
    return data[: data.rfind(b"\n") + 1]


def entries(data: bytes) -> list[dict[str, Any]]:
    """The journal's entries; a line that is not one (edited by hand, cut short) is left out with a warning."""
    out = []
    for number, line in enumerate(data.splitlines(), start=1):
        try:
            entry = json.loads(line)
        except ValueError:
            log.warning("%s line %d is not a journal entry; it was ignored.", JOURNAL_FILE, number)
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def files(items: list[dict[str, Any]]) -> list[str]:
    """The take files the entries name (those that are relative paths at all: apply leaves the others out)."""
    return [entry["take"]["file"] for entry in items
            if isinstance(entry.get("take"), dict) and isinstance(entry["take"].get("file"), str)
            and check_relative(entry["take"]["file"]) is None]


def append(root: Path | str, entry: dict[str, Any]) -> int:
    """Append one entry durably (the caller holds the project's lock); returns the journal's size in bytes."""
    line = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"
    file = path(root)
    with open(file, "ab") as handle:
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())
        return handle.tell()


def clear(root: Path | str) -> None:
    """Forget the journal (its takes are in story.yaml now)."""
    path(root).unlink(missing_ok=True)


def take_entry(panel_id: str, take: Take, keep_seed: bool) -> dict[str, Any]:
    return {"panel": panel_id, "take": _take_data(take), "keep_seed": keep_seed}


def scores_entry(panel_id: str, take: Take) -> dict[str, Any]:
    return {"panel": panel_id, "scores": _take_data(take)}


def _take_data(take: Take) -> dict[str, Any]:
    data = {k: v for k, v in dataclasses.asdict(take).items() if v is not None and k not in ("scores", "faces")}
    data["scores"] = {name: value for name, value in take.scores}
    if take.faces:
        data["faces"] = {cid: list(box) for cid, box in take.faces}
    return data


def apply(project: Project, items: list[dict[str, Any]], source: str) -> Project:
    """`project` with the journal's entries applied in order (see the module's rules)."""
    panels = {p.id: p for p in project.panels}
    for number, entry in enumerate(items, start=1):
        panel = panels.get(entry.get("panel"))
        if panel is None:
            continue  # deleted since
        kind = "take" if "take" in entry else "scores" if "scores" in entry else None
        if kind is None:
            continue
        try:
            take = read_take(entry[kind], f"{source}, entry {number}")
        except ProjectError as exc:
            log.warning("%s", exc)
            continue
        if kind == "take":
            if any(t.file == take.file for t in panel.takes):
                continue  # already in story.yaml
            keep = bool(entry.get("keep_seed")) and panel.seed is not None
            panel = add_take(panel if keep else dataclasses.replace(panel, seed=take.seed), take)
        else:
            takes = tuple(dataclasses.replace(t, scores=take.scores, scored=take.scored, faces=take.faces)
                          if t.file == take.file and t.inputs == take.inputs else t for t in panel.takes)
            panel = dataclasses.replace(panel, takes=takes)
        panels[panel.id] = panel
    return dataclasses.replace(project, panels=tuple(panels[p.id] for p in project.panels))
