"""Undo and redo of every change a person makes to a project, kept (bounded) in `<project>/.history/`.

Each change the studio saves with a label ("Delete panel 3") leaves one entry: the story before and after it
(plain data, JSON). Undo reverts *that change only*, onto the story as it is now: every value the change
set is put back, unless something later changed it again; so takes rendered since, and edits made after
it to other things, stay. Redo re-applies it the same way. Renders and scores are not changes a person
undoes: they leave no entry, and undo never removes a take.

Files a change stopped naming (an old photo, a pose, a deleted panel's takes) are kept while an entry
still names them, and removed when the last entry that does is dropped (MAX_ENTRIES per stack).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.errors import ProjectError
from storyboard.model import Project
from storyboard.paths import atomic_write, check_relative, resolve_inside
from storyboard.schema import to_data

log = logging.getLogger(__name__)

HISTORY_DIR = ".history"
MAX_ENTRIES = 100  # per stack; pruned in batches of PRUNE_BATCH so file clean-up runs rarely
PRUNE_BATCH = 20
_NAME = re.compile(r"\A(\d{6,})\.json\Z")
_ABSENT = object()  # a key missing from one side of a mapping


class NothingToUndo(ProjectError):
    """The undo (or redo) stack is empty."""


@dataclass(frozen=True)
class Entry:
    """One change: its label and the story's data before and after it."""

    label: str
    before: dict[str, Any]
    after: dict[str, Any]


# ---------------------------------------------------------------- the stacks on disk


def _stack(root: Path, which: str) -> Path:
    return Path(root) / HISTORY_DIR / which


def _files(root: Path, which: str) -> list[Path]:
    folder = _stack(root, which)
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _NAME.match(p.name)), key=lambda p: int(_NAME.match(p.name).group(1)))


def _read(path: Path) -> Entry:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Entry(str(data["label"]), data["before"], data["after"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ProjectError(f"The history entry {path} cannot be read ({exc}); it was skipped.") from None


def _push(root: Path, which: str, entry: Entry) -> None:
    files = _files(root, which)
    number = int(_NAME.match(files[-1].name).group(1)) + 1 if files else 1
    data = json.dumps({"label": entry.label, "before": entry.before, "after": entry.after}, ensure_ascii=False)
    atomic_write(_stack(root, which) / f"{number:06d}.json", data.encode("utf-8"))


def labels(root: Path | str) -> tuple[list[str], list[str]]:
    """The labels of what undo and redo would do, newest first."""
    out = []
    for which in ("undo", "redo"):
        names = []
        for path in reversed(_files(Path(root), which)):
            try:
                names.append(_read(path).label)
            except ProjectError:
                continue
        out.append(names)
    return out[0], out[1]


# ---------------------------------------------------------------- recording, undoing, redoing


def record(root: Path | str, before: Project, after: Project, label: str) -> None:
    """Remember a change a person made (called by save_project, under the project's lock)."""
    root = Path(root)
    _push(root, "undo", Entry(label, to_data(before), to_data(after)))
    dropped = [_drop(p) for p in _files(root, "redo")]
    undo = _files(root, "undo")
    if len(undo) > MAX_ENTRIES + PRUNE_BATCH:
        dropped += [_drop(p) for p in undo[: len(undo) - MAX_ENTRIES]]
    if any(dropped):
        _remove_orphans(root, after, [e for e in dropped if e is not None])


def _drop(path: Path) -> Entry | None:
    try:
        entry = _read(path)
    except ProjectError:
        entry = None
    path.unlink(missing_ok=True)
    return entry


def newest(root: Path, which: str) -> tuple[Entry, Path]:
    """The newest entry of the undo or redo stack and its file; NothingToUndo when the stack is empty."""
    files = _files(root, which)
    if not files:
        raise NothingToUndo(f"There is nothing to {which} in this project.")
    return _read(files[-1]), files[-1]


def move(root: Path, path: Path, target: str, entry: Entry, done: dict[str, Any], now: dict[str, Any]) -> None:
    """After an undo (redo) stepped from `now` to `done`: drop its entry, and push onto the redo (undo) stack
    what the step really did, so the opposite step returns to exactly `now`."""
    path.unlink()
    _push(root, target, Entry(entry.label, done, now) if target == "redo" else Entry(entry.label, now, done))


def revert(old: Any, new: Any, current: Any) -> Any:
    """`current` with the change old -> new applied, value by value, where it does not undo a later change.

    Where the change touched a value that has not changed since (`current == old`), the value becomes `new`;
    where it did not touch it (`old == new`) or it changed since, the current value stays. Mappings merge key
    by key; lists of mappings with an id (cast, panels, takes by file) merge item by item and keep the order
    the change gave them."""
    if current == old:
        return new
    if old == new:
        return current
    if isinstance(old, dict) and isinstance(new, dict) and isinstance(current, dict):
        out: dict[str, Any] = {}
        for key in list(current) + [k for k in new if k not in current]:
            value = revert(old.get(key, _ABSENT), new.get(key, _ABSENT), current.get(key, _ABSENT))
            if value is not _ABSENT:
                out[key] = value
        return out
    if all(isinstance(v, list) and _keyed(v) for v in (old, new, current)):
        return _revert_items(old, new, current)
    return current  # changed since in another way: the later change wins


def _key(item: Any) -> str | None:
    if isinstance(item, dict):
        return item.get("id") or item.get("file")
    return item if isinstance(item, str) else None


def _keyed(items: list) -> bool:
    keys = [_key(i) for i in items]
    return all(k is not None for k in keys) and len(set(keys)) == len(keys)


def _revert_items(old: list, new: list, current: list) -> list:
    olds, news, currents = ({_key(i): i for i in items} for items in (old, new, current))
    current_order = list(currents)
    if [k for k in current_order if k in olds] == [k for k in olds if k in currents]:
        # what the change knew is still in the order it left it: take the change's order, and keep items added
        # since by other changes right after the item they follow now
        order = [k for k in news if k in currents or k not in olds]
        for index, key in enumerate(current_order):
            if key not in olds and key not in news:
                before = next((k for k in reversed(current_order[:index]) if k in order), None)
                order.insert(order.index(before) + 1 if before is not None else 0, key)
    else:  # reordered since: the later order wins; items the change brings back go at the end
        order = current_order + [k for k in news if k not in olds and k not in currents]
    result = []
    for key in order:
        if key in olds and key not in news:
            continue  # the change removes it (redo brings back the version removed: see _step)
        if key not in currents:
            result.append(news[key])  # the change brings it back
            continue
        value = revert(olds.get(key, _ABSENT), news.get(key, _ABSENT), currents[key])
        if value is not _ABSENT:
            result.append(value)
    return result


# ---------------------------------------------------------------- files only history names


_PATH_KEYS = ("reference", "mask", "outfit", "pose", "file")


def named_paths(data: Any) -> set[str]:
    """Every project file path a story's plain data names."""
    found: set[str] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key in _PATH_KEYS and isinstance(value, str):
                    found.add(value)
                elif key == "takes" and isinstance(value, list):
                    found.update(t for t in value if isinstance(t, str))
                    stack.extend(t for t in value if isinstance(t, dict))
                elif isinstance(value, (dict, list)):
                    stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _remove_orphans(root: Path, current: Project, dropped: list[Entry]) -> None:
    """Delete files that only dropped entries named (not the story, nor an entry still kept)."""
    candidates: set[str] = set()
    for entry in dropped:
        candidates |= named_paths(entry.before) | named_paths(entry.after)
    if not candidates:
        return
    keep = named_paths(to_data(current))
    for which in ("undo", "redo"):
        for path in _files(root, which):
            try:
                entry = _read(path)
            except ProjectError:
                continue
            keep |= named_paths(entry.before) | named_paths(entry.after)
    for rel in sorted(candidates - keep):
        if check_relative(rel):
            continue
        try:
            resolve_inside(root, rel).unlink(missing_ok=True)
        except (OSError, ProjectError) as exc:
            log.warning("Could not remove %s: %s", rel, exc)
