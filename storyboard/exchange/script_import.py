"""A screenplay into panels: scenes set the setting, action paragraphs become panels, dialogue becomes balloons.

- A scene heading (INT. KITCHEN - NIGHT) starts a scene: its panels' notes begin with "Scene N: <heading>"
  and their prompts end with the setting ("Interior, kitchen, night.").
- Each action paragraph is one panel; its text is the prompt, cast names in it become {id} and those cast
  members the panel's characters (at most two, in order of mention). The shot is guessed from the text
  where it says so ("CLOSE ON", "wide shot", "over the shoulder", "ESTABLISHING" ...), else medium.
- Dialogue goes on the scene's last panel (a new "{id} speaks" panel when there is none yet, or when that
  panel already holds MAX_BALLOONS balloons); a speaker joins the panel's characters while there is room,
  except in a close-up of a thing where no one is named (an insert: the voice comes from off-panel).
  Parentheticals and extensions choose the balloon: (whispering) whisper, (shouting) shout, (thinking)
  thought; V.O. becomes the panel's caption; O.S./O.C. an off-panel balloon.
- A speaker is matched to a cast member by name or id, ignoring case; a new name becomes a cast member
  without a photo (draft mode draws them; StoryMaker needs a photo, added later in the Cast tab).
- Transitions (CUT TO:) go into the notes of the panel they follow.

Importing appends to a project and never overwrites: new panels and cast get ids not used yet.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from storyboard.exchange.fountain import Action, Scene, Script, ScriptError, Speech, Transition, read_script
from storyboard.model import (
    DEFAULT_SHOT,
    ID_PATTERN,
    MAX_CHARACTERS_PER_PANEL,
    STORY_FILE,
    Balloon,
    Character,
    Panel,
    Project,
    next_color,
)
from storyboard.settings import Settings, load_settings, max_chars

log = logging.getLogger(__name__)

MAX_BALLOONS = 3  # balloons one panel takes from the script before dialogue moves to a new panel

# (pattern, shot): the earliest cue in an action paragraph wins. Phrases ignore case; abbreviations must be capitals.
SHOT_CUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\bextreme[- ]close(?:[- ]?ups?| on)\b", re.I), "extreme-close-up"),
    (re.compile(r"\b(?:ECU|XCU|MACRO)\b"), "extreme-close-up"),
    (re.compile(r"\bover[- ]the[- ]shoulder\b", re.I), "over-the-shoulder"),
    (re.compile(r"\bOTS\b"), "over-the-shoulder"),
    (re.compile(r"\bclose[- ]?ups?\b|\bclose on\b|\bclose shot\b|\btight on\b", re.I), "close-up"),
    (re.compile(r"\b(?:CU|INSERT)\b"), "close-up"),
    (re.compile(r"\bestablishing\b|\baerial\b", re.I), "establishing"),
    (re.compile(r"\bwide[- ](?:shot|angle|view)\b|\bwide on\b|\blong shot\b|^\s*wide\s*[:.\-\u2013\u2014]", re.I), "wide"),
    (re.compile(r"\bWIDE\b|\bWS\b|\bLS\b"), "wide"),
    (re.compile(r"\bfull[- ](?:shot|figure|length)\b|\bhead to toe\b", re.I), "full"),
    (re.compile(r"\bmedium(?:[- ]shot| on)\b|\bmid[- ]shot\b|\bwaist[- ]up\b|\btwo[- ]shot\b", re.I), "medium"),
    (re.compile(r"\b(?:MS|MCU)\b"), "medium"),
)

# Words in a parenthetical or extension, and the balloon kind they choose.
KIND_CUES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"whisper|quiet|softly|hushed|murmur|mutter|sotto voce|under (?:his|her|their|my) breath|barely audible",
                re.I), "whisper"),
    (re.compile(r"shout|yell|scream|bellow|roar|loud|screech|hollering|calling out|at the top of", re.I), "shout"),
    (re.compile(r"think|thought|to (?:him|her|them|my)sel(?:f|ves)|inner|internal|in (?:his|her|their|my) head|silently",
                re.I), "thought"),
)
VOICE_OVER = {"VO", "V/O", "VOICEOVER", "NARRATING", "NARRATOR", "NARRATION"}
OFF_PANEL = {"OS", "OC", "OFF", "OFFSCREEN", "OFFCAMERA", "OFFPANEL", "OOV"}

_HEADING = re.compile(r"^(INT\.?\s*/\s*EXT|EXT\.?\s*/\s*INT|I\s*/\s*E|INT|EXT|EST)\.?\s+(.*)$", re.I)
_PLACE_WORDS = {"INT": "interior", "EXT": "exterior", "EST": "exterior"}
_TIMES_DROPPED = {"CONTINUOUS", "LATER", "MOMENTS LATER", "SAME", "SAME TIME", "CONT'D", "CONTINUING"}
_EXTENSION = re.compile(r"\(([^()]*)\)")
_CAMERA_LINE = re.compile(r"\A(?:ANGLE ON|BACK TO|REVERSE ON|POV|PAN (?:TO|ACROSS)|TRACKING|MEDIUM ON|ON )\b")


@dataclass(frozen=True)
class SceneInfo:
    """A scene of the imported script and the panels it became."""

    number: str
    heading: str
    line: int
    panels: tuple[str, ...]


@dataclass(frozen=True)
class ScriptImport:
    """What an import added: the project as saved, the new panels and cast (without photos), scenes, warnings."""

    root: Path
    project: Project
    created: bool
    panels: tuple[str, ...]
    new_cast: tuple[Character, ...]
    scenes: tuple[SceneInfo, ...]
    warnings: tuple[str, ...] = ()
    lines: tuple[tuple[str, int], ...] = ()  # (panel id, the script line it starts at)


def guess_shot(text: str) -> str:
    """The shot type an action paragraph asks for ("CLOSE ON ...", "Wide shot: ..."), else the default."""
    found = [(m.start(), i, shot) for i, (pattern, shot) in enumerate(SHOT_CUES) if (m := pattern.search(text))]
    return min(found)[2] if found else DEFAULT_SHOT


def balloon_kind(cues: str) -> str | None:
    """The balloon kind a parenthetical or extension asks for: whisper, shout, thought, or None for plain speech."""
    found = [(m.start(), kind) for pattern, kind in KIND_CUES if (m := pattern.search(cues))]
    return min(found)[1] if found else None


def split_character(text: str) -> tuple[str, tuple[str, ...]]:
    """'NORA (V.O.) (CONT'D)' -> ('NORA', ('VO', "CONTD")): the name and its extensions, squeezed to capitals."""
    text = text.strip().removeprefix("@").rstrip("^").strip()
    name = text.split("(", 1)[0].strip()
    extensions = tuple(re.sub(r"[\s.'\u2019-]", "", e).upper() for e in _EXTENSION.findall(text))
    return name, extensions


def setting_of(heading: str) -> str:
    """'INT. LIGHTHOUSE - LAMP ROOM - NIGHT' -> 'Interior, lighthouse, lamp room, night'."""
    match = _HEADING.match(heading.strip())
    prefix, rest = (match.group(1), match.group(2)) if match else ("", heading.strip())
    parts = [p.strip() for p in re.split(r"\s+[-\u2013\u2014]+\s+", rest) if p.strip()]
    if parts and parts[-1].upper() in _TIMES_DROPPED:
        parts.pop()
    key = re.sub(r"[\s.]", "", prefix.upper())
    words = [_PLACE_WORDS.get(key, "interior and exterior" if "/" in key else "")] + [p.lower() for p in parts]
    words = [w for w in words if w]
    return ", ".join(words)[:1].upper() + ", ".join(words)[1:] if words else ""


def display_name(name: str) -> str:
    """A character line's name as the cast shows it: 'DR. JONES' -> 'Dr. Jones'; mixed case stays as written."""
    return name.title() if name.isupper() else name


def make_id(name: str, taken: set[str]) -> str:
    """A cast or panel id from a name (lowercase letters, digits, '-'), unique among `taken`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:32] or "cast"
    if not ID_PATTERN.match(base):
        base = "cast"
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


@dataclass
class _Draft:
    """A panel being built (mutable while the script is read)."""

    id: str
    line: int
    prompt: str
    shot: str = DEFAULT_SHOT
    characters: list[str] = field(default_factory=list)
    balloons: list[Balloon] = field(default_factory=list)
    caption: str = ""
    notes: list[str] = field(default_factory=list)
    insert: bool = False  # a close-up of a thing (no one named): whoever speaks stays off-panel

    def panel(self) -> Panel:
        return Panel(id=self.id, prompt=self.prompt, characters=tuple(self.characters), shot=self.shot,
                     caption=self.caption, balloons=tuple(self.balloons), notes="\n".join(self.notes))


class _Builder:
    """Reads the script's elements in order and builds panels and cast."""

    def __init__(self, script: Script, project: Project, settings: Settings):
        self.script = script
        self.source = script.source
        self.settings = settings
        self.cast: list[Character] = list(project.cast)
        self.new_cast: list[Character] = []
        self.panel_ids = {p.id for p in project.panels}
        self.next_number = 1 + max((int(m.group(1)) for p in project.panels if (m := re.fullmatch(r"p(\d+)", p.id))),
                                   default=0)
        self.drafts: list[_Draft] = []
        self.scenes: list[tuple[str, str, int, list[str]]] = []
        self.current: _Draft | None = None
        self.setting = ""
        self.scene_note = ""
        self.pending_notes: list[str] = []
        self.warnings: list[str] = []
        self.spelling_ids: dict[str, str] = {}
        self.existing_panels = len(project.panels)

    # ---- cast

    def where(self, line: int) -> str:
        return f"{self.source}, line {line}"

    def member(self, name: str, line: int) -> Character:
        """The cast member called `name` (by name or id, ignoring case), added without a photo if new."""
        wanted = name.strip().lower()
        for member in self.cast:
            if member.name.lower() == wanted or member.id == wanted:
                return member
        if len(name) > max_chars("name"):
            raise ScriptError(f"{self.where(line)}: the character name {name[:40]!r}... is {len(name)} characters; a "
                              f"name holds at most {max_chars('name')}. Shorten it in the script.")
        if len(self.cast) >= self.settings.max_cast:
            raise ScriptError(f"{self.where(line)}: {display_name(name)!r} would be cast member number "
                              f"{len(self.cast) + 1}; a project holds at most {self.settings.max_cast} "
                              "(STORYBOARD_MAX_CAST). Merge minor parts in the script or raise the limit.")
        member = Character(id=make_id(name, {c.id for c in self.cast}), name=display_name(name),
                           color=next_color(tuple(self.cast)))
        self.cast.append(member)
        self.new_cast.append(member)
        return member

    def name_pattern(self) -> re.Pattern[str] | None:
        """Every spelling of every cast name as it may stand in action text (as cast, capitals, title case)."""
        spellings: dict[str, str] = {}
        for member in self.cast:
            for form in {member.name, member.name.upper(), member.name.title()}:
                if form.strip():
                    spellings.setdefault(form, member.id)
        if not spellings:
            return None
        self.spelling_ids = spellings
        alternatives = "|".join(re.escape(s) for s in sorted(spellings, key=len, reverse=True))
        return re.compile(rf"(?<![\w{{])({alternatives})(?:'[sS]|\u2019[sS])?(?![\w}}])")

    # ---- panels

    def new_panel(self, line: int, prompt: str, shot: str) -> _Draft:
        if self.existing_panels + len(self.drafts) >= self.settings.max_panels:
            raise ScriptError(f"{self.where(line)}: this would be panel number {self.existing_panels + len(self.drafts) + 1}; "
                              f"a project holds at most {self.settings.max_panels} (STORYBOARD_MAX_PANELS). Import the "
                              "script in parts into separate projects, or raise the limit.")
        while f"p{self.next_number}" in self.panel_ids:
            self.next_number += 1
        pid = f"p{self.next_number}"
        self.panel_ids.add(pid)
        draft = _Draft(pid, line, self._with_setting(prompt, line), shot)
        if self.scene_note:
            draft.notes.append(self.scene_note)
        draft.notes += self.pending_notes
        self.pending_notes = []
        self.drafts.append(draft)
        if self.scenes:
            self.scenes[-1][3].append(pid)
        self.current = draft
        return draft

    def _with_setting(self, prompt: str, line: int) -> str:
        limit = max_chars("prompt")
        if len(prompt) > limit:
            raise ScriptError(f"{self.where(line)}: this action paragraph is {len(prompt):,} characters; a panel's "
                              f"prompt holds at most {limit:,}. Split it into two paragraphs (each becomes a panel).")
        if not prompt.strip():
            return f"{self.setting}." if self.setting else "Narration"
        full = f"{prompt.rstrip()} {self.setting}." if self.setting else prompt
        return full if len(full) <= limit else prompt

    def action(self, element: Action, pattern: re.Pattern[str] | None) -> None:
        text = " ".join(element.text.split())
        mentioned: list[str] = []

        def placeholder(match: re.Match[str]) -> str:
            cid = self.spelling_ids[match.group(1)]
            if cid not in mentioned:
                mentioned.append(cid)
            return "{" + cid + "}" + ("'s" if len(match.group(0)) > len(match.group(1)) else "")

        prompt = pattern.sub(placeholder, text) if pattern else text
        draft = self.new_panel(element.line, prompt, guess_shot(text))
        draft.characters = mentioned[:MAX_CHARACTERS_PER_PANEL]
        draft.insert = not mentioned and draft.shot in ("close-up", "extreme-close-up")

    def speech(self, element: Speech) -> None:
        name, extensions = split_character(element.character)
        if not name:
            raise ScriptError(f"{self.where(element.line)}: this dialogue has no character name before its "
                              "extension; write the name in capitals on the line above the dialogue.")
        speaker = self.member(name, element.line)
        voice_over = any(e in VOICE_OVER for e in extensions)
        off_panel = any(e in OFF_PANEL for e in extensions)
        base_kind = balloon_kind(" ".join(extensions)) or "speech"
        kind, words, first_line = base_kind, [], element.line + 1
        said = False
        for parenthetical, text, line in element.blocks + ((True, "", -1),):
            if parenthetical:
                if words:
                    self.say(speaker, kind, " ".join(words), first_line, voice_over, off_panel, element.dual)
                    said = True
                words = []
                kind = balloon_kind(text) or base_kind if text else kind
                first_line = line + 1
            elif text:
                words.append(text)
        if not said:
            self.warnings.append(f"{self.where(element.line)}: {speaker.name} has a parenthetical but no line to "
                                 "say; nothing was added.")

    def say(self, speaker: Character, kind: str, text: str, line: int, voice_over: bool, off_panel: bool,
            dual: bool) -> None:
        if voice_over:
            panel = self.current or self.new_panel(line, "", DEFAULT_SHOT)
            joined = f"{panel.caption} {text}".strip()
            if len(joined) > max_chars("caption"):
                if len(text) > max_chars("caption"):
                    raise ScriptError(f"{self.where(line)}: this voice-over is {len(text):,} characters; a caption "
                                      f"holds at most {max_chars('caption')}. Split it into two speeches.")
                panel = self.new_panel(line, "", panel.shot)
                joined = text
            panel.caption = joined
            return
        if len(text) > max_chars("balloon"):
            raise ScriptError(f"{self.where(line)}: {speaker.name}'s line is {len(text):,} characters; a balloon holds "
                              f"at most {max_chars('balloon')}. Split the speech with a (beat) or into two speeches.")
        panel = self.current
        if panel is None or (len(panel.balloons) >= MAX_BALLOONS and not dual):
            panel = self.new_panel(line, f"{{{speaker.id}}} speaks", DEFAULT_SHOT)
        if not (off_panel or panel.insert) and speaker.id not in panel.characters \
                and len(panel.characters) < MAX_CHARACTERS_PER_PANEL:
            panel.characters.append(speaker.id)
        panel.balloons.append(Balloon(text=text, speaker=speaker.id, kind=kind))

    def scene(self, element: Scene) -> None:
        number = element.number or str(len(self.scenes) + 1)
        self.setting = setting_of(element.heading)
        self.scene_note = f"Scene {number}: {element.heading}"
        self.scenes.append((number, element.heading, element.line, []))
        self.current = None

    def transition(self, element: Transition) -> None:
        if self.current is not None:
            self.current.notes.append(element.text)
        else:
            self.pending_notes.append(element.text)

    def build(self) -> list[Panel]:
        elements = [_shot_line_as_action(e) for e in self.script.elements]
        # speakers first, so a name in action text is recognised before that character first speaks
        for element in elements:
            if isinstance(element, Speech):
                name, _ = split_character(element.character)
                if name:
                    self.member(name, element.line)
        pattern = self.name_pattern()
        for element in elements:
            if isinstance(element, Scene):
                self.scene(element)
            elif isinstance(element, Action):
                self.action(element, pattern)
            elif isinstance(element, Speech):
                self.speech(element)
            elif isinstance(element, Transition):
                self.transition(element)
        if self.pending_notes and self.drafts:
            self.drafts[-1].notes += self.pending_notes
        for draft in self.drafts:
            if len("\n".join(draft.notes)) > max_chars("notes"):
                draft.notes = ["\n".join(draft.notes)[: max_chars("notes") - 1] + "\u2026"]
        return [d.panel() for d in self.drafts]


def _shot_line_as_action(element: object) -> object:
    """'CLOSE ON MIA' right above a line of action reads as a character and dialogue in Fountain; it is action."""
    if not isinstance(element, Speech):
        return element
    name, _ = split_character(element.character)
    if guess_shot(name) == DEFAULT_SHOT and not _CAMERA_LINE.match(name):
        return element
    return Action(element.line, "\n".join([element.character] + [text for _, text, _ in element.blocks]))


def plan_import(script: Script, project: Project, settings: Settings | None = None) -> ScriptImport:
    """The project with the script's panels and cast appended (nothing is written); ScriptError names the line."""
    builder = _Builder(script, project, settings or load_settings())
    panels = builder.build()
    if not panels:
        raise ScriptError(f"{script.source} has no action or dialogue to turn into panels. A Fountain script has scene "
                          "headings (INT. ROOM - DAY), action paragraphs and dialogue (a NAME in capitals, then the line).")
    # A new cast member whose name never stood in front of a line (only in action) is not created.
    changed = dataclasses.replace(project, cast=tuple(builder.cast), panels=project.panels + tuple(panels))
    scenes = tuple(SceneInfo(n, h, line, tuple(ids)) for n, h, line, ids in builder.scenes if ids)
    return ScriptImport(root=Path("."), project=changed, created=False, panels=tuple(p.id for p in panels),
                        new_cast=tuple(builder.new_cast), scenes=scenes, warnings=tuple(builder.warnings),
                        lines=tuple((d.id, d.line) for d in builder.drafts))


def import_script(script: Script | Path | str, root: Path | str, settings: Settings | None = None,
                  title: str | None = None) -> ScriptImport:
    """Append a Fountain script's panels and cast to the project at `root`, creating the project if there is none.

    A new project takes its title from `title`, else the script's title page, else the folder name. Nothing
    is written when the script has a problem (ScriptError names the file and line)."""
    from storyboard.errors import ProjectError
    from storyboard.store import project_lock
    from storyboard.storyfile import load_project, new_project, save_project

    root = Path(root)
    script = script if isinstance(script, Script) else read_script(script)
    settings = settings or load_settings()
    created = not (root / STORY_FILE).is_file()
    if created:
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ProjectError(f"{root} holds files but no {STORY_FILE}, so it is not a project; importing would mix the "
                               "script into an unrelated folder. Choose a new folder name or an existing project.")
        name = (title or script.title or "").strip()
        if len(name) > max_chars("title"):
            raise ScriptError(f"{script.source}: the title {name[:40]!r}... is {len(name)} characters; a title holds at "
                              f"most {max_chars('title')}. Shorten it on the title page, or give --title.")
        plan_import(script, Project(title=name or "check"), settings)  # fail before creating anything
        new_project(root, title=name or None)
    with project_lock(root):
        project = load_project(root)
        if created and script.author and not project.author:
            project = dataclasses.replace(project, author=script.author[: max_chars("title")])
        plan = plan_import(script, project, settings)
        label = f"Import {Path(script.source).name}: {len(plan.panels)} panel(s)"
        save_project(root, plan.project, history=label)
    log.info("Imported %s into %s: %d panel(s), %d new cast member(s), %d scene(s).", script.source, root,
             len(plan.panels), len(plan.new_cast), len(plan.scenes))
    return dataclasses.replace(plan, root=root, created=created)
