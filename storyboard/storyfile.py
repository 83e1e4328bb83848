"""Read and write `story.yaml`: parse the YAML text safely and boundedly, load a project folder (with the
journal of takes on top), save it atomically (a project as one `.zip`: storyboard.archive).

What the data may hold is storyboard.schema's; errors name the file, the line and the key, and say what to do.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat
from pathlib import Path
from typing import Any

import yaml

from storyboard import journal
from storyboard.errors import ProjectError
from storyboard.history import record as record_change
from storyboard.locking import holds_lock, project_lock
from storyboard.model import SCHEMA_VERSION, STORY_FILE, Project
from storyboard.paths import atomic_write, resolve_inside
from storyboard.schema import MAX_SEED, PLACEHOLDER, SafeDumper, SafeLoader, _Reader, project_paths, to_data

# Also what callers have always imported from here: the seed range, the {id} pattern, atomic_write, to_data.
__all__ = ["MAX_SEED", "PLACEHOLDER", "atomic_write", "dump_data", "dump_story", "load_project", "max_story_bytes",
           "new_project", "parse_story", "project_folder", "project_paths", "save_project", "to_data"]

log = logging.getLogger(__name__)

MAX_DEPTH = 32  # story.yaml nests 5 deep; anything far deeper is not a story


def _line_map(root: yaml.Node, source: str) -> dict[tuple, int]:
    """Map each key path (('panels', 0, 'prompt') ...) to its 1-based line, checking the tree on the way.

    Refuses what story.yaml never needs and a hostile file uses to blow up: aliases (a node reached twice:
    a few hundred bytes of nested aliases expand to billions of nodes), merge keys, duplicate keys (the
    second would silently replace the first) and absurd nesting. Each node is visited once, iteratively.
    """
    out: dict[tuple, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        line = node.start_mark.line + 1
        if id(node) in seen:
            where = " > ".join(map(str, path)) or "the top"
            raise ProjectError(f"{source}: {where} reuses the value written at line {line} through a YAML alias "
                               "(*name), which story.yaml does not allow; write the value out in full instead.")
        seen.add(id(node))
        if len(path) > MAX_DEPTH:
            raise ProjectError(f"{source}, line {line}: the file nests more than {MAX_DEPTH} levels deep; story.yaml "
                               "needs 5. It is not a story file.")
        out.setdefault(path, line)
        if isinstance(node, yaml.MappingNode):
            first: dict[str, int] = {}
            for key_node, value_node in node.value:
                key_line = key_node.start_mark.line + 1
                if isinstance(key_node, yaml.ScalarNode):
                    key = key_node.value
                    if key == "<<" and key_node.tag == "tag:yaml.org,2002:merge":
                        raise ProjectError(f"{source}, line {key_line}: merge keys ('<<') are not allowed in story.yaml; "
                                           "write the keys out in full.")
                    if key in first:
                        raise ProjectError(f"{source}, lines {first[key]} and {key_line}: the key {key!r} appears twice "
                                           "in the same mapping, and the second would silently replace the first. "
                                           "Merge them into one or remove one.")
                    first[key] = key_line
                else:
                    if id(key_node) in seen:
                        raise ProjectError(f"{source}, line {key_line}: this uses a YAML alias (*name) as a key, which "
                                           "story.yaml does not allow.")
                    seen.add(id(key_node))
                    key = f"(a {type(key_node).__name__.removesuffix('Node').lower()} as a key, line {key_line})"
                out[path + (key,)] = key_line
                stack.append((value_node, path + (key,)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, path + (i,)) for i, item in enumerate(node.value))
    return out


def _yaml_error(exc: yaml.YAMLError, source: str) -> ProjectError:
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return ProjectError(
            f"{source}{line}: this is not valid YAML ({exc.problem or exc.context}). "
            "Check indentation and quotes on that line (text with ':' or '#' needs quotes)."
        )
    return ProjectError(f"{source}: this is not valid YAML ({exc}).")


def parse_story(text: str, source: str = STORY_FILE) -> Project:
    """Parse story.yaml text into a Project; ProjectError names the source and line of any problem.

    The text is composed once into nodes, checked (see _line_map), and only then turned into data."""
    limit = max_story_bytes()
    if len(text) > limit:
        raise _too_large(source, len(text.encode("utf-8")), limit)
    loader = SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ProjectError(f"{source} is empty; it needs at least 'schema: {SCHEMA_VERSION}' and a title.")
        lines = _line_map(node, source)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    except RecursionError:  # only the pure-Python loader recurses; libyaml stops at 1000 levels itself
        raise ProjectError(f"{source}: the file nests too deeply to be a story file.") from None
    finally:
        loader.dispose()
    if data is None:
        raise ProjectError(f"{source} is empty; it needs at least 'schema: {SCHEMA_VERSION}' and a title.")
    return _Reader(source, lines).project(data)


def max_story_bytes() -> int:
    """The largest story.yaml that is opened (the setting STORYBOARD_MAX_STORY_MB)."""
    from storyboard.settings import load_settings

    return load_settings().max_story_mb * 1024 * 1024


def _too_large(source: str, size: int, limit: int) -> ProjectError:
    return ProjectError(
        f"{source} is {size / 1024 / 1024:.1f} MB; story files larger than {limit // 1024 // 1024} MB are not opened "
        "(a 400-panel story takes about 0.3 MB). If it really is yours, raise STORYBOARD_MAX_STORY_MB; otherwise "
        "it is not a story file."
    )


def project_folder(path: Path | str) -> Path:
    """The project folder for a path that names it or its story.yaml."""
    path = Path(path)
    if path.name == STORY_FILE and path.is_file():
        return path.parent
    return path


# Parsed stories by (folder, sha256 of the text): a re-read of an unchanged story costs one read and one hash.
_parsed: dict[tuple[str, str], Project] = {}
_PARSED_MAX = 64


def load_project(root: Path | str) -> Project:
    """Read `root/story.yaml` (or `root` itself when it is the story.yaml); every path is checked to stay inside."""
    root = project_folder(root)
    story = root / STORY_FILE
    try:
        info = story.stat()
    except OSError:
        info = None
    if info is not None and not stat.S_ISREG(info.st_mode):
        raise ProjectError(f"{story} is not a regular file (a folder, pipe or device?); a project's {STORY_FILE} "
                           "must be a plain text file. Replace it with the real story.yaml.")
    if info is None:
        raise ProjectError(
            f"{root} is not a project folder: there is no {STORY_FILE} in it. "
            "Create one with 'python -m storyboard new DIR' or point at the folder that holds story.yaml."
        )
    folder = os.path.realpath(root)
    files = _file_ids(info, journal.path(root))
    seen = _unchanged.get(folder)
    if seen is not None and seen[0] == files:
        return seen[1]  # neither file changed since the last read: every save replaces story.yaml (a new inode)
    limit = max_story_bytes()
    if info.st_size > limit:
        raise _too_large(str(story), info.st_size, limit)
    try:
        with open(story, "rb") as handle:
            raw = handle.read(limit + 1)
    except OSError as exc:
        raise ProjectError(f"Could not read {story}: {exc.strerror or exc}.") from None
    if len(raw) > limit:
        raise _too_large(str(story), len(raw), limit)
    key = (folder, hashlib.sha256(raw).hexdigest())
    project = _parsed.get(key)
    if project is None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ProjectError(f"{story} is not UTF-8 text; save it as UTF-8.") from None
        project = parse_story(text, source=str(story))
        for rel in project_paths(project):
            resolve_inside(root, rel)  # catches symlinks that lead outside
        _remember(key, project)
    project = _with_journal(root, key, project, limit)
    _unchanged[folder] = (files, project)
    return project


# Per project folder: the identity of story.yaml and of the journal when last read, and what they held.
_unchanged: dict[str, tuple[tuple, Project]] = {}


def _file_ids(story: os.stat_result, journal_file: Path) -> tuple:
    """What tells a file changed without reading it: device, inode, size and modification time."""
    try:
        log_info = journal_file.stat()
        journal_id = (log_info.st_dev, log_info.st_ino, log_info.st_size, log_info.st_mtime_ns)
    except OSError:
        journal_id = None
    return (story.st_dev, story.st_ino, story.st_size, story.st_mtime_ns), journal_id


# Per project folder: (story digest, journal bytes applied, their digest, the story with them applied), so a
# render's re-read applies only the takes recorded since the last one.
_merged: dict[str, tuple[str, int, str, Project]] = {}


def _with_journal(root: Path, key: tuple[str, str], project: Project, limit: int) -> Project:
    data = journal.read_bytes(root, limit)
    if not data:
        return project
    folder, digest = key
    known = _merged.get(folder)
    start = 0
    if known is not None and known[0] == digest and len(data) >= known[1] \
            and hashlib.sha256(data[: known[1]]).hexdigest() == known[2]:
        start, project = known[1], known[3]
    if start < len(data):
        entries = journal.entries(data[start:])
        project = journal.apply(project, entries, str(journal.path(root)))
        for rel in journal.files(entries):  # the story's own paths were checked when it was parsed
            resolve_inside(root, rel)
    _merged[folder] = (digest, len(data), hashlib.sha256(data).hexdigest(), project)
    return project


def _remember(key: tuple[str, str], project: Project) -> None:
    if len(_parsed) >= _PARSED_MAX:
        _parsed.pop(next(iter(_parsed)))
    _parsed[key] = project


def dump_story(project: Project) -> str:
    """The story.yaml text for a project."""
    return dump_data(to_data(project))


class StoryDumper(SafeDumper):  # type: ignore[misc, valid-type]
    """The safe dumper, writing short lists of numbers (lettering positions, face boxes) on one line: [0.3, 0.25]."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    numbers = 0 < len(data) <= 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=True if numbers else None)


StoryDumper.add_representer(list, _represent_list)


def dump_data(data: dict[str, Any]) -> str:
    """story.yaml text for a story's plain data (see to_data)."""
    return yaml.dump(data, Dumper=StoryDumper, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False)


def save_project(root: Path | str, project: Project, history: str | None = None) -> None:
    """Validate and atomically write `root/story.yaml`; a project that would not load again is refused.

    Only the project's one writer saves: the caller holds storyboard.locking.project_lock and built `project`
    from the story it read under that lock (see storyboard.store.update_project). `history` labels a change
    a person made ("Delete panel 3"), which undo can then revert (storyboard.history)."""
    root = Path(root)
    if not holds_lock(root):
        raise RuntimeError(f"save_project({root}) without the project's lock: a change must re-read the story under "
                           "storyboard.locking.project_lock and save under it, or it may overwrite another change.")
    before = load_project(root) if history and (root / STORY_FILE).is_file() else None
    text = dump_story(project)
    parse_story(text, source=f"{root / STORY_FILE} (about to be saved)")  # never write what we cannot read back
    data = text.encode("utf-8")
    try:
        atomic_write(root / STORY_FILE, data)
    except OSError as exc:
        raise ProjectError(
            f"Could not save {root / STORY_FILE}: {exc.strerror or exc}. The previous version is unchanged; "
            "check that the folder is writable and the disk has room."
        ) from exc
    _remember((os.path.realpath(root), hashlib.sha256(data).hexdigest()), project)
    journal.clear(root)  # its takes were read into `project` under the lock, so they are in story.yaml now
    _merged.pop(os.path.realpath(root), None)
    _unchanged.pop(os.path.realpath(root), None)
    if before is not None and before != project:
        try:
            record_change(root, before, project, history)
        except OSError as exc:  # the change is saved; only its undo is lost
            log.warning("Could not keep %r for undo in %s: %s", history, root, exc)


def new_project(root: Path | str, title: str | None = None, style: str = Project.style) -> Project:
    """Create an empty project folder with a story.yaml; refuses a folder that already holds one."""
    root = Path(root)
    if (root / STORY_FILE).exists():
        raise ProjectError(f"{root} already holds a {STORY_FILE}; choose another folder or open that project.")
    if root.exists() and not root.is_dir():
        raise ProjectError(f"{root} exists and is not a folder; choose another name.")
    project = Project(title=title or root.name.replace("-", " ").replace("_", " ").strip().title() or "Untitled", style=style)
    for sub in ("cast", "poses", "renders"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    with project_lock(root):
        save_project(root, project)
    return project

