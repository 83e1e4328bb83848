"""The shape of story.yaml, both ways: plain data checked into model objects (the SCHEMA table: every key a
file may hold, its type and its help), and model objects back into plain data (to_data).

Errors name the file, the line and the key or id, and say what to do. Parsing YAML text and reading and
writing files is storyboard.storyfile's; this module only knows data.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

import yaml

from storyboard import model
from storyboard.errors import PresetError, ProjectError
from storyboard.model import (
    BALLOON_KINDS,
    COLOR_PATTERN,
    ID_PATTERN,
    MAX_CHARACTERS_PER_PANEL,
    READING_ORDERS,
    SCHEMA_VERSION,
    SHOT_TYPES,
    STORYMAKER_CHARACTERS,
    Balloon,
    Character,
    PageSettings,
    Panel,
    Project,
    Take,
    lettering_problem,
)
from storyboard.paths import check_relative
from storyboard.presets import StylePreset, with_overrides

# libyaml's safe loader and dumper when PyYAML was built with it: the same safe subset, many times faster
SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
SafeDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)

MAX_SEED = 2**32 - 1
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
TEXT, INT, NUMBER, BOOL, LIST, MAP = "text", "integer", "number", "true/false", "list", "mapping"


@dataclass(frozen=True)
class Key:
    """One key a story.yaml mapping may hold."""

    name: str
    kind: str
    required: bool = False
    help: str = ""


SCHEMA: dict[str, tuple[Key, ...]] = {
    "project": (
        Key("schema", INT, True, f"file format version; this app reads and writes {SCHEMA_VERSION}"),
        Key("title", TEXT, True, "the story's title"),
        Key("author", TEXT, help="shown on the title page and in PDF metadata"),
        Key("style", TEXT, help="a style preset in presets/styles/"),
        Key("style_overrides", MAP, help="this project's sampler settings over the style's: steps, guidance, scales"),
        Key("page", MAP, help="page settings: size, template, reading"),
        Key("cast", LIST, help="the characters"),
        Key("panels", LIST, help="the panels, in reading order"),
    ),
    "page": (
        Key("size", TEXT, help="a4, letter, comic, b5, a5 or WxHmm"),
        Key("template", TEXT, help="a page template in presets/templates/, or auto"),
        Key("reading", TEXT, help="ltr, or rtl for manga"),
    ),
    "character": (
        Key("id", TEXT, True, "short lowercase id used in prompts as {id}"),
        Key("name", TEXT, True, "the name shown on name tags and balloons"),
        Key("reference", TEXT, help="reference photo, relative to the project folder (StoryMaker needs it; draft mode does not)"),
        Key("mask", TEXT, help="optional mask of the character in the photo"),
        Key("outfit", TEXT, help="optional clothing image (outfit swap)"),
        Key("description", TEXT, help="a short description"),
        Key("color", TEXT, help="#rrggbb colour for stick figures and tags"),
    ),
    "panel": (
        Key("id", TEXT, True, "short lowercase panel id"),
        Key("prompt", TEXT, help="what happens; {id} inserts a cast member"),
        Key("characters", LIST, help=f"0 to {MAX_CHARACTERS_PER_PANEL} cast ids, in skeleton order (StoryMaker adds "
                                      f"those past {STORYMAKER_CHARACTERS} by regional passes: weaker likeness)"),
        Key("pose", TEXT, help="optional OpenPose JSON file"),
        Key("shot", TEXT, help="shot type: " + ", ".join(SHOT_TYPES)),
        Key("caption", TEXT, help="caption box text"),
        Key("caption_at", LIST, help="[x, y]: the caption box's centre placed by hand, as fractions of the panel's "
            "width and height (0 to 1); left out, it is placed automatically"),
        Key("caption_size", LIST, help="[w, h]: the caption box's size as fractions of the panel's (0.03 to 1); "
            "left out, it fits its text"),
        Key("balloons", LIST, help="speech, thought, shout or whisper balloons"),
        Key("notes", TEXT, help="action and camera notes for the storyboard sheet"),
        Key("duration", NUMBER, help="seconds on screen, for storyboards"),
        Key("seed", INT, help=f"0 to {MAX_SEED}"),
        Key("seed_locked", BOOL, help="keep the seed when rendering again"),
        Key("takes", LIST, help="rendered images, relative to the project folder"),
        Key("selected", INT, help="index of the chosen take, from 0"),
    ),
    "balloon": (
        Key("text", TEXT, True, "what is said"),
        Key("speaker", TEXT, help="cast id of the speaker, or empty for off-panel"),
        Key("kind", TEXT, help="speech, thought, shout or whisper"),
        Key("at", LIST, help="[x, y]: the balloon's centre placed by hand, as fractions of the panel's width and "
            "height (0 to 1); left out, it is placed automatically"),
        Key("size", LIST, help="[w, h]: the balloon's size as fractions of the panel's (0.03 to 1); left out, it "
            "fits its text"),
        Key("tail", LIST, help="[x, y]: where the tail points, as fractions of the panel (-0.5 to 1.5, so a little "
            "outside it); left out, it points at the speaker"),
    ),
    "take": (
        Key("file", TEXT, True, "the image, relative to the project folder"),
        Key("seed", INT, help="the seed it was rendered with"),
        Key("engine", TEXT, help="the engine that rendered it"),
        Key("inputs", TEXT, help="digest of what it was rendered from"),
        Key("scores", MAP, help="consistency scores (face_sim, clip_i, clip_t ...), filled in by the app"),
        Key("scored", TEXT, help="digest of what the scores were measured on, filled in by the app"),
        Key("faces", MAP, help="faces found in the image per cast id, [x, y, w, h] as fractions of the image; "
            "filled in by the app (lettering keeps off them)"),
    ),
}

_PY_TYPES: dict[str, tuple[type, ...]] = {
    TEXT: (str,),
    INT: (int,),
    NUMBER: (int, float),
    BOOL: (bool,),
    LIST: (list,),
    MAP: (dict,),
}


class _Reader:
    """Turns parsed YAML into model objects, with file and line in every error."""

    def __init__(self, source: str, lines: dict[tuple, int]):
        self.source = source
        self.lines = lines

    def line(self, path: tuple) -> int | None:
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get(())

    def fail(self, path: tuple, message: str) -> ProjectError:
        line = self.line(path)
        where = f"{self.source}, line {line}" if line else self.source
        return ProjectError(f"{where}: {message}")

    def fields(self, data: Any, path: tuple, spec_name: str, what: str) -> dict[str, Any]:
        spec = {k.name: k for k in SCHEMA[spec_name]}
        if not isinstance(data, dict):
            raise self.fail(path, f"{what} must be a mapping of keys ({', '.join(spec)}), not {_kind(data)}.")
        out: dict[str, Any] = {}
        for key, value in data.items():
            if key not in spec:
                raise self.fail(
                    path + (key,),
                    f"unknown key {key!r} in {what}. Allowed keys: {', '.join(spec)}. "
                    "Fix the spelling or remove the line.",
                )
            kind = spec[key].kind
            if value is None:
                continue
            if not isinstance(value, _PY_TYPES[kind]) or (kind in (INT, NUMBER) and isinstance(value, bool)):
                hint = " Put text in quotes." if kind == TEXT else ""
                raise self.fail(
                    path + (key,), f"{key!r} in {what} must be {_article(kind)}, got {_kind(value)} {value!r}.{hint}"
                )
            if kind == NUMBER and not math.isfinite(value):
                raise self.fail(path + (key,), f"{key!r} in {what} must be a finite number, got {value!r}.")
            out[key] = value
        for key in spec.values():
            if key.required and out.get(key.name) in (None, ""):
                raise self.fail(path, f"{what} has no {key.name!r} ({key.help}). Add it.")
        return out

    def relpath(self, value: str, path: tuple, what: str) -> str:
        problem = check_relative(value)
        if problem:
            raise self.fail(
                path,
                f"{what} {value!r} {problem}. Paths in a project are relative to its folder and stay inside it; "
                "copy the file into the project folder.",
            )
        return value.replace("\\", "/")

    def ident(self, value: str, path: tuple, what: str) -> str:
        if not ID_PATTERN.match(value):
            raise self.fail(
                path,
                f"{what} id {value!r} is not valid: use 1-40 lowercase letters, digits, '-' or '_', "
                "starting with a letter or digit.",
            )
        return value

    def project(self, data: Any) -> Project:
        f = self.fields(data, (), "project", "the story")
        if f["schema"] != SCHEMA_VERSION:
            raise self.fail(
                ("schema",),
                f"schema {f['schema']} is not supported; this app reads schema {SCHEMA_VERSION}. "
                "Upgrade the app or convert the file.",
            )
        overrides = f.get("style_overrides", {})
        try:
            with_overrides(_override_check_style(), overrides, "style_overrides")
        except PresetError as exc:
            raise self.fail(("style_overrides",), str(exc).removeprefix("style_overrides: ")) from None
        page = self.page(f.get("page", {}))
        cast = tuple(self.character(c, ("cast", i)) for i, c in enumerate(f.get("cast", [])))
        panels = tuple(self.panel(p, ("panels", i)) for i, p in enumerate(f.get("panels", [])))
        project = Project(
            title=f["title"],
            author=f.get("author", ""),
            style=f.get("style", Project.style),
            style_overrides=tuple(overrides.items()),
            page=page,
            cast=cast,
            panels=panels,
        )
        self.cross_check(project)
        return project

    def page(self, data: Any) -> PageSettings:
        f = self.fields(data, ("page",), "page", "page")
        reading = f.get("reading", PageSettings.reading)
        if reading not in READING_ORDERS:
            raise self.fail(("page", "reading"), f"page reading {reading!r} must be 'ltr' or 'rtl'.")
        return PageSettings(
            size=f.get("size", PageSettings.size),
            template=f.get("template", PageSettings.template),
            reading=reading,
        )

    def character(self, data: Any, path: tuple) -> Character:
        f = self.fields(data, path, "character", _label(data, "cast member", path[1]))
        cid = self.ident(f["id"], path + ("id",), "cast member")
        what = f"cast member {cid!r}"
        color = f.get("color", model.CAST_COLORS[path[1] % len(model.CAST_COLORS)])
        if not COLOR_PATTERN.match(color):
            raise self.fail(path + ("color",), f"{what} colour {color!r} must look like \"#e4572e\" (quoted).")
        return Character(
            id=cid,
            name=f["name"],
            reference=self.relpath(f["reference"], path + ("reference",), f"{what} reference") if f.get("reference") else None,
            mask=self.relpath(f["mask"], path + ("mask",), f"{what} mask") if "mask" in f else None,
            outfit=self.relpath(f["outfit"], path + ("outfit",), f"{what} outfit") if "outfit" in f else None,
            description=f.get("description", ""),
            color=color.lower(),
        )

    def panel(self, data: Any, path: tuple) -> Panel:
        f = self.fields(data, path, "panel", _label(data, "panel", path[1]))
        pid = self.ident(f["id"], path + ("id",), "panel")
        what = f"panel {pid!r}"
        characters = f.get("characters", [])
        for i, cid in enumerate(characters):
            if not isinstance(cid, str):
                raise self.fail(path + ("characters", i), f"{what} characters must be cast ids, got {cid!r}.")
        shot = f.get("shot", model.DEFAULT_SHOT)
        if shot not in SHOT_TYPES:
            raise self.fail(path + ("shot",), f"{what} shot {shot!r} is not a shot type; use one of: {', '.join(SHOT_TYPES)}.")
        seed = f.get("seed")
        if seed is not None and not 0 <= seed <= MAX_SEED:
            raise self.fail(path + ("seed",), f"{what} seed {seed} must be between 0 and {MAX_SEED}.")
        duration = f.get("duration")
        if duration is not None and duration <= 0:
            raise self.fail(path + ("duration",), f"{what} duration must be a positive number of seconds, got {duration}.")
        balloons = tuple(
            self.balloon(b, path + ("balloons", i), f"{what} balloon {i + 1}") for i, b in enumerate(f.get("balloons", []))
        )
        takes = tuple(self.take(t, path + ("takes", i), f"{what} take {i + 1}") for i, t in enumerate(f.get("takes", [])))
        selected = f.get("selected")
        if selected is not None and not 0 <= selected < len(takes):
            raise self.fail(
                path + ("selected",),
                f"{what} selected take {selected} does not exist; it has {len(takes)} take(s), numbered from 0.",
            )
        if selected is None and takes:
            selected = len(takes) - 1
        return Panel(
            id=pid,
            prompt=f.get("prompt", ""),
            characters=tuple(characters),
            pose=self.relpath(f["pose"], path + ("pose",), f"{what} pose") if "pose" in f else None,
            shot=shot,
            caption=f.get("caption", ""),
            caption_at=self.pair(f, "caption_at", "at", path, f"{what} caption_at"),
            caption_size=self.pair(f, "caption_size", "size", path, f"{what} caption_size"),
            balloons=balloons,
            notes=f.get("notes", ""),
            duration=float(duration) if duration is not None else None,
            seed=seed,
            seed_locked=f.get("seed_locked", False),
            takes=takes,
            selected=selected,
        )

    def balloon(self, data: Any, path: tuple, what: str) -> Balloon:
        f = self.fields(data, path, "balloon", what)
        kind = f.get("kind", "speech")
        if kind not in BALLOON_KINDS:
            raise self.fail(path + ("kind",), f"{what} kind {kind!r} must be one of: {', '.join(BALLOON_KINDS)}.")
        return Balloon(text=f["text"], speaker=f.get("speaker"), kind=kind, at=self.pair(f, "at", "at", path, f"{what} at"),
                       size=self.pair(f, "size", "size", path, f"{what} size"),
                       tail=self.pair(f, "tail", "tail", path, f"{what} tail"))

    def pair(self, f: dict[str, Any], key: str, kind: str, path: tuple, what: str) -> tuple[float, float] | None:
        """A hand-placed lettering pair (model.LETTERING_RANGES), or None when the key is left out."""
        value = f.get(key)
        if value is None:
            return None
        problem = lettering_problem(kind, value)
        if problem:
            raise self.fail(path + (key,), f"{what} {problem}. Fix the numbers, or remove the line to place it "
                                           "automatically.")
        return float(value[0]), float(value[1])

    def faces(self, data: dict[str, Any], path: tuple, what: str) -> tuple[tuple[str, tuple[float, float, float, float]], ...]:
        out = []
        for cid, box in data.items():
            if not isinstance(cid, str) or not ID_PATTERN.match(cid):
                raise self.fail(path + (cid,), f"{what} faces: {cid!r} is not a cast id.")
            ok = isinstance(box, list) and len(box) == 4 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and 0 <= v <= 1 for v in box)
            if not ok or box[2] <= 0 or box[3] <= 0:
                raise self.fail(path + (cid,), f"{what} face of {cid!r} must be [x, y, w, h] as fractions of the image "
                                               f"(0 to 1, w and h above 0), got {box!r}. Remove the line; scoring the "
                                               "take finds it again.")
            out.append((cid, (float(box[0]), float(box[1]), float(box[2]), float(box[3]))))
        return tuple(out)

    def take(self, data: Any, path: tuple, what: str) -> Take:
        if isinstance(data, str):  # a plain path: an image added by hand, inputs unknown
            return Take(file=self.relpath(data, path, what))
        f = self.fields(data, path, "take", what)
        scores = f.get("scores", {})
        for name, value in scores.items():
            if (not isinstance(name, str) or not isinstance(value, (int, float)) or isinstance(value, bool)
                    or not math.isfinite(value)):
                raise self.fail(path + ("scores", name), f"{what} score {name!r} must be a number, got {value!r}.")
        return Take(
            file=self.relpath(f["file"], path + ("file",), what),
            seed=f.get("seed"),
            engine=f.get("engine"),
            inputs=f.get("inputs"),
            scores=tuple((name, float(value)) for name, value in scores.items()),
            scored=f.get("scored"),
            faces=self.faces(f.get("faces", {}), path + ("faces",), what),
        )

    def cross_check(self, project: Project) -> None:
        cast_ids: dict[str, int] = {}
        for i, member in enumerate(project.cast):
            if member.id in cast_ids:
                raise self.fail(("cast", i, "id"), f"cast id {member.id!r} is used twice; give each cast member its own id.")
            cast_ids[member.id] = i
        panel_ids: set[str] = set()
        for i, panel in enumerate(project.panels):
            path = ("panels", i)
            if panel.id in panel_ids:
                raise self.fail(path + ("id",), f"panel id {panel.id!r} is used twice; give each panel its own id.")
            panel_ids.add(panel.id)
            if len(panel.characters) > MAX_CHARACTERS_PER_PANEL:
                raise self.fail(
                    path + ("characters",),
                    f"panel {panel.id!r} has {len(panel.characters)} characters; a panel holds at most "
                    f"{MAX_CHARACTERS_PER_PANEL}. Split the scene over two panels.",
                )
            for j, cid in enumerate(panel.characters):
                if cid not in cast_ids:
                    raise self.fail(
                        path + ("characters", j),
                        f"panel {panel.id!r} names character {cid!r}, who is not in the cast "
                        f"({', '.join(cast_ids) or 'the cast is empty'}). Add them to the cast or fix the id.",
                    )
                if cid in panel.characters[:j]:
                    raise self.fail(path + ("characters", j), f"panel {panel.id!r} names {cid!r} twice.")
            for name in PLACEHOLDER.findall(panel.prompt):
                if name not in cast_ids:
                    raise self.fail(
                        path + ("prompt",),
                        f"panel {panel.id!r} prompt names {{{name}}}, who is not in the cast "
                        f"({', '.join(cast_ids) or 'the cast is empty'}). Use a cast id in braces, like {{mia}}.",
                    )
            for j, balloon in enumerate(panel.balloons):
                if balloon.speaker is not None and balloon.speaker not in cast_ids:
                    raise self.fail(
                        path + ("balloons", j, "speaker"),
                        f"panel {panel.id!r} balloon {j + 1} speaker {balloon.speaker!r} is not in the cast "
                        f"({', '.join(cast_ids) or 'the cast is empty'}).",
                    )


def _override_check_style() -> StylePreset:
    """A style to check overrides against (the ranges do not depend on the preset)."""
    return StylePreset(id="check", name="check", description="", prompt="{prompt}")


def _label(data: Any, what: str, index: int) -> str:
    """'panel 'p3'' when the item has a usable id, else 'panel 3' (1-based)."""
    ident = data.get("id") if isinstance(data, dict) else None
    return f"{what} {ident!r}" if isinstance(ident, str) and ident else f"{what} {index + 1}"


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return "true/false"
    return {str: "text", int: "an integer", float: "a number", list: "a list", dict: "a mapping"}.get(
        type(value), type(value).__name__
    )


def _article(kind: str) -> str:
    return {TEXT: "text", INT: "an integer", NUMBER: "a number", BOOL: "true or false", LIST: "a list", MAP: "a mapping"}[
        kind
    ]


def project_paths(project: Project) -> list[str]:
    """Every file path a project names (cast images, poses, takes)."""
    paths: list[str] = []
    for member in project.cast:
        paths += [p for p in (member.reference, member.mask, member.outfit) if p]
    for panel in project.panels:
        if panel.pose:
            paths.append(panel.pose)
        paths += [t.file for t in panel.takes]
    return paths


def to_data(project: Project) -> dict[str, Any]:
    """The plain-data form of a project as written to story.yaml (defaults left out where noise)."""

    def character(c: Character) -> dict[str, Any]:
        out: dict[str, Any] = {"id": c.id, "name": c.name}
        if c.reference:
            out["reference"] = c.reference
        if c.mask:
            out["mask"] = c.mask
        if c.outfit:
            out["outfit"] = c.outfit
        out["description"] = c.description
        out["color"] = c.color
        return out

    def take(t: Take) -> Any:
        if t.seed is None and t.engine is None and t.inputs is None and not t.scores and t.scored is None and not t.faces:
            return t.file
        return take_data(t)

    def balloon(b: Balloon) -> dict[str, Any]:
        out: dict[str, Any] = {"speaker": b.speaker} if b.speaker else {}
        out.update(kind=b.kind, text=b.text)
        for key, value in (("at", b.at), ("size", b.size), ("tail", b.tail)):
            if value is not None:
                out[key] = _pair(value)
        return out

    def panel(p: Panel) -> dict[str, Any]:
        out: dict[str, Any] = {"id": p.id, "prompt": p.prompt, "characters": list(p.characters)}
        if p.pose:
            out["pose"] = p.pose
        out["shot"] = p.shot
        out["caption"] = p.caption
        for key, value in (("caption_at", p.caption_at), ("caption_size", p.caption_size)):
            if value is not None:
                out[key] = _pair(value)
        out["balloons"] = [balloon(b) for b in p.balloons]
        out["notes"] = p.notes
        if p.duration is not None:
            out["duration"] = p.duration
        if p.seed is not None:
            out["seed"] = p.seed
        out["seed_locked"] = p.seed_locked
        out["takes"] = [take(t) for t in p.takes]
        if p.selected is not None:
            out["selected"] = p.selected
        return out

    data: dict[str, Any] = {"schema": project.schema, "title": project.title}
    if project.author:
        data["author"] = project.author
    data["style"] = project.style
    if project.style_overrides:
        data["style_overrides"] = dict(project.style_overrides)
    data["page"] = dataclasses.asdict(project.page)
    data["cast"] = [character(c) for c in project.cast]
    data["panels"] = [panel(p) for p in project.panels]
    return data


def _pair(value: tuple[float, float]) -> list[float]:
    return [round(value[0], 4), round(value[1], 4)]


def take_data(t: Take) -> dict[str, Any]:
    """A take's plain data as a mapping (story.yaml and the journal of takes)."""
    out: dict[str, Any] = {k: v for k, v in dataclasses.asdict(t).items() if v is not None and k not in ("scores", "faces")}
    if t.scores:
        out["scores"] = {name: round(value, 4) for name, value in t.scores}
    if t.faces:
        out["faces"] = {cid: [round(v, 4) for v in box] for cid, box in t.faces}
    return out


def read_take(data: Any, what: str) -> Take:
    """A take from its plain data (a journal entry), checked like one in story.yaml."""
    return _Reader(what, {}).take(data, (), what)
