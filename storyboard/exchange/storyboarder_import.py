"""A `.storyboarder` file into a project: each board becomes a panel with its image as a take.

Storyboarder's fields give the panel: `action` the prompt (shot guessed from it), `dialogue` the balloons
("NAME: line" names the speaker, matched to the cast by name or added without a photo; "Caption: ...",
"V.O.: ..." or "Narrator: ..." is the caption), `notes` the notes,
`duration` (ms) the duration. A file this app wrote also carries the `storyboardStudio` keys (shot, prompt
with {id}s, characters, caption, balloon kinds, cast), which then win. The board's picture is its only
drawing layer, else Storyboarder's flattened posterframe, else its layers laid over each other.
Importing appends to a project (new or existing) and never overwrites; nothing is saved unless every
board could be read.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import math
import os
import re
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

from storyboard.exchange.script_import import display_name, guess_shot, make_id
from storyboard.exchange.storyboarder import (CAPTION_SPEAKERS, DEFAULT_ASPECT, DEFAULT_FPS, EXTRA, LAYER_ORDER,
                                              StoryboarderError, StoryboarderImport, read_storyboarder)
from storyboard.model import (BALLOON_KINDS, MAX_CHARACTERS_PER_PANEL, SHOT_TYPES, STORY_FILE, Balloon, Character,
                              Panel, Project, Take, next_color)
from storyboard.settings import Settings, load_settings, max_chars

log = logging.getLogger(__name__)

_SAFE_NAME = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9._ -]{0,200}\Z")
_SPEAKER_LINE = re.compile(r"\A\s*([^:\n]{1,60}?)\s*:\s*(\S.*)\Z")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _number(value: Any, default: float, low: float, high: float) -> float:
    """A number Storyboarder may have written as text ("2000"), else the default."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return default
    return number if math.isfinite(number) and low <= number <= high else default


class _Reader:
    """Turns boards into panels and cast, checking every field against the app's limits."""

    def __init__(self, source: Path, data: dict[str, Any], project: Project, settings: Settings):
        self.source = source
        self.data = data
        self.settings = settings
        self.cast = list(project.cast)
        self.new_cast: list[Character] = []
        self.ids: dict[str, str] = {}  # cast id in the file -> cast id in the project
        self.taken = {p.id for p in project.panels}
        self.next_number = 1 + max((int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))),
                                   default=0)
        self.existing = len(project.panels)
        self.warnings: list[str] = []

    def text(self, value: Any, field: str, limit_field: str, where: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str):
            raise StoryboarderError(f"{self.source}, {where}: '{field}' must be text, got {type(value).__name__}.")
        if len(value) > max_chars(limit_field):
            raise StoryboarderError(f"{self.source}, {where}: '{field}' is {len(value):,} characters; this app holds at "
                                    f"most {max_chars(limit_field):,} there. Shorten it in Storyboarder and export again.")
        return value

    def member(self, name: str, where: str, wanted_id: str | None = None, color: str | None = None,
               description: str = "") -> Character:
        name = self.text(name, "name", "name", where).strip()
        for member in self.cast:
            if member.name.lower() == name.lower() or member.id == name.lower():
                return member
        if len(self.cast) >= self.settings.max_cast:
            raise StoryboarderError(f"{self.source}, {where}: {name!r} would be cast member number {len(self.cast) + 1}; "
                                    f"a project holds at most {self.settings.max_cast} (STORYBOARD_MAX_CAST).")
        taken = {c.id for c in self.cast}
        cid = wanted_id if wanted_id and wanted_id not in taken and re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,39}", wanted_id) \
            else make_id(name, taken)
        good_color = isinstance(color, str) and re.fullmatch(r"#[0-9a-fA-F]{6}", color)
        member = Character(id=cid, name=display_name(name), color=color.lower() if good_color else next_color(tuple(self.cast)),
                           description=self.text(description, "description", "description", where))
        self.cast.append(member)
        self.new_cast.append(member)
        return member

    def file_cast(self, extra: dict[str, Any]) -> None:
        people = extra.get("cast")
        for i, person in enumerate(people if isinstance(people, list) else [], start=1):
            if isinstance(person, dict) and isinstance(person.get("name"), str) and person["name"].strip():
                member = self.member(person["name"], f"cast member {i}", person.get("id"), person.get("color"),
                                     person.get("description") or "")
                if isinstance(person.get("id"), str):
                    self.ids[person["id"]] = member.id

    def panel_id(self) -> str:
        while f"p{self.next_number}" in self.taken:
            self.next_number += 1
        pid = f"p{self.next_number}"
        self.taken.add(pid)
        return pid

    def board(self, board: Any, number: int) -> Panel:
        where = f"board {number}"
        if not isinstance(board, dict):
            raise StoryboarderError(f"{self.source}, {where}: a board must be a JSON object, not {type(board).__name__}.")
        if self.existing + number > self.settings.max_panels:
            raise StoryboarderError(f"{self.source}, {where}: this would be panel number {self.existing + number}; a "
                                    f"project holds at most {self.settings.max_panels} (STORYBOARD_MAX_PANELS). Import "
                                    "into a project with fewer panels, or raise the limit.")
        action = " ".join(self.text(board.get("action"), "action", "prompt", where).split())
        notes = self.text(board.get("notes"), "notes", "notes", where)
        dialogue = self.text(board.get("dialogue"), "dialogue", "notes", where)
        duration_ms = _number(board.get("duration"), 0.0, 1.0, 3_600_000.0)
        known = {c.id for c in self.cast}
        prompt = _PLACEHOLDER.sub(lambda m: m.group(0) if m.group(1) in known else m.group(1), action)
        panel = Panel(id=self.panel_id(), prompt=prompt, shot=guess_shot(action), notes=notes,
                      duration=round(duration_ms / 1000, 3) if duration_ms else None)
        extra = board.get(EXTRA)
        if isinstance(extra, dict):
            return self.studio_board(panel, extra, where)
        balloons, characters, captions = [], [], []
        for line in (x.strip() for x in dialogue.splitlines()):
            match = _SPEAKER_LINE.match(line) if line else None
            if match and match.group(1).strip().lower() in CAPTION_SPEAKERS:
                captions.append(match.group(2).strip())
            elif match and match.group(1).strip() and not match.group(1).strip().isdigit():
                speaker = self.member(match.group(1), where)
                said = self.text(match.group(2).strip(), "dialogue line", "balloon", where)
                balloons.append(Balloon(text=said, speaker=speaker.id))
                if speaker.id not in characters and len(characters) < MAX_CHARACTERS_PER_PANEL:
                    characters.append(speaker.id)
            elif line:
                balloons.append(Balloon(text=self.text(line, "dialogue line", "balloon", where)))
        caption = self.text(" ".join(captions), "dialogue caption", "caption", where)
        return dataclasses.replace(panel, balloons=tuple(balloons), characters=tuple(characters), caption=caption)

    def studio_board(self, panel: Panel, extra: dict[str, Any], where: str) -> Panel:
        """A board this app wrote: its own keys restore what Storyboarder has no field for."""
        def cast_id(old: Any) -> str | None:
            return self.ids.get(old) if isinstance(old, str) else None

        prompt = self.text(extra.get("prompt"), "prompt", "prompt", where) or panel.prompt
        prompt = _PLACEHOLDER.sub(lambda m: "{" + cast_id(m.group(1)) + "}" if cast_id(m.group(1)) else m.group(1), prompt)
        shot = extra.get("shot") if extra.get("shot") in SHOT_TYPES else panel.shot
        characters = [cast_id(c) for c in extra.get("characters") or [] if cast_id(c)]
        balloons = []
        for item in extra.get("balloons") if isinstance(extra.get("balloons"), list) else []:
            if isinstance(item, dict) and isinstance(item.get("text"), str):
                kind = item.get("kind") if item.get("kind") in BALLOON_KINDS else "speech"
                balloons.append(Balloon(text=self.text(item["text"], "balloon", "balloon", where),
                                        speaker=cast_id(item.get("speaker")), kind=kind))
        caption = self.text(extra.get("caption"), "caption", "caption", where)
        return dataclasses.replace(panel, prompt=prompt, shot=shot, caption=caption, balloons=tuple(balloons),
                                   characters=tuple(dict.fromkeys(characters))[:MAX_CHARACTERS_PER_PANEL])

    def picture(self, board: dict[str, Any], number: int) -> Image.Image | None:
        """The board's picture (see the module doc), or None with a warning when it has none."""
        from storyboard.images import open_image

        folder = self.source.parent / "images"
        url = board.get("url") if isinstance(board.get("url"), str) else ""
        layers = board.get("layers") if isinstance(board.get("layers"), dict) else {}
        declared = [(layers[name].get("url"), layers[name].get("opacity", 1)) for name in LAYER_ORDER
                    if isinstance(layers.get(name), dict) and isinstance(layers[name].get("url"), str)]
        drawing = [(self.image_path(folder, u, number), _number(o, 1.0, 0.0, 1.0)) for u, o in declared]
        drawing = [(p, o) for p, o in drawing if p is not None]
        poster = self.image_path(folder, url.replace(".png", "-posterframe.jpg"), number) if url else None
        main = self.image_path(folder, url, number) if url else None
        limit = self.settings.max_image_megapixels * 1_000_000

        def load(path: Path) -> Image.Image:
            return open_image(path, f"board {number}'s image {path.name}", max_pixels=limit, error=StoryboarderError,
                              advice="Export the board again from Storyboarder, or remove it; nothing was imported.")

        if len(declared) == 1 and drawing:
            path, opacity = drawing[0]
            return _faded(load(path), opacity)
        if poster is not None:
            return load(poster)
        if drawing:
            canvas: Image.Image | None = None
            for path, opacity in drawing:
                layer = _faded(load(path), opacity)
                canvas = layer if canvas is None else ImageChops.multiply(canvas, layer.resize(canvas.size))
            return canvas
        if main is not None:
            return load(main)
        self.warnings.append(f"{self.source}, board {number}: no image was found in {folder}; its panel has no take "
                             "(render it).")
        return None

    def image_path(self, folder: Path, name: str, number: int) -> Path | None:
        """`folder/name` when it is a plain file name that exists there (no path, no link out of the folder)."""
        if not _SAFE_NAME.match(name or "") or ".." in name:
            raise StoryboarderError(f"{self.source}, board {number}: the image name {name[:60]!r} is not a plain file "
                                    "name; a board's images are files in the images folder beside the .storyboarder "
                                    "file. Export it again from Storyboarder.")
        path = folder / name
        if not path.is_file():
            return None
        if Path(os.path.realpath(path)).parent != Path(os.path.realpath(folder)):
            raise StoryboarderError(f"{self.source}, board {number}: the image {name} leads outside {folder} (a link); "
                                    "copy the real file there.")
        return path


def _faded(image: Image.Image, opacity: float) -> Image.Image:
    """A layer on white at its opacity."""
    if opacity >= 1:
        return image
    return Image.blend(Image.new("RGB", image.size, (255, 255, 255)), image, opacity)


def import_storyboarder(file: Path | str, root: Path | str, settings: Settings | None = None,
                        title: str | None = None) -> StoryboarderImport:
    """Append a .storyboarder file's boards to the project at `root` (created when there is none) as panels with
    their images as takes; StoryboarderError names the file, the board and the field of any problem."""
    from storyboard.errors import ProjectError
    from storyboard.store import project_lock
    from storyboard.storyfile import atomic_write, load_project, new_project, save_project

    file, root = Path(file), Path(root)
    settings = settings or load_settings()
    data = read_storyboarder(file)
    extra = data.get(EXTRA) if isinstance(data.get(EXTRA), dict) else {}
    fps = _number(data.get("fps"), DEFAULT_FPS, 1, 240)
    aspect = _number(data.get("aspectRatio"), DEFAULT_ASPECT, 0.2, 5)
    created = not (root / STORY_FILE).is_file()
    if created:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ProjectError(f"{root} holds files but no {STORY_FILE}, so it is not a project; choose a new folder "
                               "name or an existing project.")
        name = (title or (extra.get("title") if isinstance(extra.get("title"), str) else "") or file.stem).strip()
        reader, _ = _plan(file, data, extra, Project(title="check"), settings)  # fail before creating anything
        for number, board in enumerate(data["boards"], start=1):
            reader.picture(board, number)
        new_project(root, title=name[: max_chars("title")] or None)
    written: list[Path] = []
    with project_lock(root):
        project = load_project(root)
        if created and isinstance(extra.get("author"), str) and extra["author"].strip():
            project = dataclasses.replace(project, author=extra["author"].strip()[: max_chars("title")])
        reader, panels = _plan(file, data, extra, project, settings)
        try:
            for number, (board, panel) in enumerate(zip(data["boards"], panels), start=1):
                picture = reader.picture(board, number)
                if picture is None:
                    continue
                buffer = io.BytesIO()
                picture.save(buffer, format="PNG")
                uid = re.sub(r"[^A-Za-z0-9]", "", str(board.get("uid") or ""))[:16] or f"board{number}"
                rel = f"renders/{panel.id}/storyboarder-{uid}.png"
                atomic_write(root / rel, buffer.getvalue())
                written.append(root / rel)
                panels[number - 1] = dataclasses.replace(panel, takes=(Take(file=rel),), selected=0)
            changed = dataclasses.replace(project, cast=tuple(reader.cast), panels=project.panels + tuple(panels))
            save_project(root, changed, history=f"Import {file.name}: {len(panels)} board(s)")
        except BaseException:
            for path in written:
                path.unlink(missing_ok=True)
            raise
    log.info("Imported %s into %s: %d board(s) as panels, %d new cast member(s).", file, root, len(panels),
             len(reader.new_cast))
    return StoryboarderImport(root, changed, created, tuple(p.id for p in panels), tuple(reader.new_cast), fps, aspect,
                              tuple(reader.warnings))


def _plan(file: Path, data: dict[str, Any], extra: dict[str, Any], project: Project,
          settings: Settings) -> tuple[_Reader, list[Panel]]:
    reader = _Reader(file, data, project, settings)
    reader.file_cast(extra)
    if not data["boards"]:
        raise StoryboarderError(f"{file} has no boards to import.")
    return reader, [reader.board(board, number) for number, board in enumerate(data["boards"], start=1)]
