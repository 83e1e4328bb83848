"""The project model: frozen dataclasses for a story, its cast, panels and pages.

Objects refer to each other by id (a panel names cast ids), are updated with
`dataclasses.replace`, and hold paths relative to the project folder.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field

SCHEMA_VERSION = 1
# A panel holds up to 4 characters. StoryMaker (trained on one or two) draws the first STORYMAKER_CHARACTERS in one
# pass and adds each further one by a regional inpainting pass (storyboard.engines.storymaker.regional), so
# likeness is weaker past two, and each further character costs one more pass: the bound keeps that cost bounded.
MAX_CHARACTERS_PER_PANEL = 4
STORYMAKER_CHARACTERS = 2
STORY_FILE = "story.yaml"

# Shot types, widest first; the draft engine frames figures from this table and layout uses it too.
SHOT_TYPES: dict[str, str] = {
    "establishing": "very wide view of the place; people are tiny or absent",
    "wide": "whole scene, people small in it",
    "full": "whole figures, head to toe",
    "medium": "from the waist up",
    "close-up": "head and shoulders",
    "extreme-close-up": "a face or a detail fills the frame",
    "over-the-shoulder": "behind one character, looking at the other",
}
DEFAULT_SHOT = "medium"

BALLOON_KINDS: dict[str, str] = {
    "speech": "oval balloon with a tail",
    "thought": "cloud with little bubbles",
    "shout": "jagged balloon",
    "whisper": "dashed outline",
}

READING_ORDERS = ("ltr", "rtl")

# Lettering placed by hand: fractions of the panel's width and height (0-1), so a position survives a new take
# and a layout change. (low, high, what) per kind of pair; a tail tip may point a little outside its panel.
LETTERING_RANGES: dict[str, tuple[float, float, str]] = {
    "at": (0.0, 1.0, "the centre, as fractions of the panel's width and height"),
    "size": (0.03, 1.0, "width and height, as fractions of the panel's"),
    "tail": (-0.5, 1.5, "the tail's tip, as fractions of the panel's width and height"),
}

# A cast palette that stays distinct on white and in print; new characters take the next free one.
CAST_COLORS = ("#e4572e", "#2e86ab", "#76b041", "#a23b72", "#f1c40f", "#5d4e8c", "#17bebb", "#ff8c42")

# \Z, not $: "$" also matches before a final newline, so "p1\n" would pass as an id
ID_PATTERN = re.compile(r"\A[a-z0-9][a-z0-9_-]{0,39}\Z")
COLOR_PATTERN = re.compile(r"\A#[0-9a-fA-F]{6}\Z")


@dataclass(frozen=True)
class Character:
    """A cast member: the reference photo StoryMaker keeps consistent across panels (draft mode needs none)."""

    id: str
    name: str
    reference: str | None = None
    mask: str | None = None
    outfit: str | None = None
    description: str = ""
    color: str = CAST_COLORS[0]


@dataclass(frozen=True)
class Balloon:
    """A speech, thought, shout or whisper balloon; `speaker` is a cast id or None for off-panel."""

    text: str
    speaker: str | None = None
    kind: str = "speech"
    at: tuple[float, float] | None = None  # centre, panel fractions; None: placed automatically
    size: tuple[float, float] | None = None  # width, height, panel fractions; None: sized to fit its text
    tail: tuple[float, float] | None = None  # the tail's tip, panel fractions; None: aimed at the speaker

    @property
    def placed_by_hand(self) -> bool:
        return self.at is not None or self.size is not None or self.tail is not None


@dataclass(frozen=True)
class Take:
    """One rendered image of a panel, with what produced it (to tell when it is stale)."""

    file: str
    seed: int | None = None
    engine: str | None = None
    inputs: str | None = None  # digest of the render inputs; None for images added by hand
    scores: tuple[tuple[str, float], ...] = ()  # consistency metrics, e.g. (("face_sim", 0.71), ...)
    scored: str | None = None  # digest of what the scores were measured on; a mismatch means measure again
    # faces found in the image, per cast id: (x, y, w, h) as fractions of the image (lettering keeps off them)
    faces: tuple[tuple[str, tuple[float, float, float, float]], ...] = ()

    def score(self, name: str) -> float | None:
        return dict(self.scores).get(name)

    def face(self, character_id: str) -> tuple[float, float, float, float] | None:
        return dict(self.faces).get(character_id)


@dataclass(frozen=True)
class Panel:
    """One panel: prompt, cast in skeleton order, optional pose, lettering and its takes."""

    id: str
    prompt: str = ""
    characters: tuple[str, ...] = ()
    pose: str | None = None
    shot: str = DEFAULT_SHOT
    caption: str = ""
    caption_at: tuple[float, float] | None = None  # the caption box's centre, panel fractions; None: automatic
    caption_size: tuple[float, float] | None = None  # its width and height, panel fractions; None: fits the text
    balloons: tuple[Balloon, ...] = ()
    notes: str = ""
    duration: float | None = None
    seed: int | None = None
    seed_locked: bool = False
    takes: tuple[Take, ...] = ()
    selected: int | None = None

    @property
    def selected_take(self) -> Take | None:
        if self.selected is None or not self.takes:
            return None
        return self.takes[self.selected]


@dataclass(frozen=True)
class PageSettings:
    """How panels go onto pages: paper size, layout template, reading order."""

    size: str = "a4"
    template: str = "auto"
    reading: str = "ltr"


@dataclass(frozen=True)
class Project:
    """A whole story: title, style preset, page settings, cast and ordered panels."""

    title: str
    style: str = "ink-comic"
    author: str = ""
    style_overrides: tuple[tuple[str, float | int | str], ...] = ()  # the project's sampler settings over the style's
    page: PageSettings = field(default_factory=PageSettings)
    cast: tuple[Character, ...] = ()
    panels: tuple[Panel, ...] = ()
    schema: int = SCHEMA_VERSION

    def character(self, character_id: str) -> Character:
        for member in self.cast:
            if member.id == character_id:
                return member
        raise KeyError(character_id)

    def panel(self, panel_id: str) -> Panel:
        for panel in self.panels:
            if panel.id == panel_id:
                return panel
        raise KeyError(panel_id)

    def replace_panel(self, panel: Panel) -> Project:
        """Return a copy with the panel of the same id replaced."""
        panels = tuple(panel if p.id == panel.id else p for p in self.panels)
        return dataclasses.replace(self, panels=panels)


def lettering_problem(kind: str, value: object) -> str | None:
    """Why `value` cannot be a hand-placed lettering pair of `kind` (at, size, tail); None when it can."""
    low, high, what = LETTERING_RANGES[kind]
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        return f"must be two numbers from {low:g} to {high:g} ({what}), got {value!r}"
    for number in value:
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
            return f"must be two finite numbers from {low:g} to {high:g} ({what}), got {list(value)!r}"
        if not low <= number <= high:
            return f"must lie from {low:g} to {high:g} ({what}), got {list(value)!r}"
    return None


def add_take(panel: Panel, take: Take) -> Panel:
    """Return the panel with `take` appended (or refreshed if its file is already listed) and selected."""
    takes = [t for t in panel.takes if t.file != take.file]
    takes.append(take)
    return dataclasses.replace(panel, takes=tuple(takes), selected=len(takes) - 1)


def next_color(cast: tuple[Character, ...]) -> str:
    """The first palette colour no cast member uses yet."""
    used = {c.color.lower() for c in cast}
    for color in CAST_COLORS:
        if color not in used:
            return color
    return CAST_COLORS[len(cast) % len(CAST_COLORS)]
