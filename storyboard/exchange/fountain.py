"""Read a Fountain screenplay (the plain-text screenplay format, fountain.io) into elements with line numbers.

screenplain (a maintained Fountain parser on PyPI) classifies each paragraph: scene heading, action,
dialogue with parentheticals, transition. This module only checks the text first (size, encoding, binary
bytes, unclosed comments and notes), feeds screenplain one paragraph at a time so every element keeps the
line it starts on, and turns its objects into the small frozen dataclasses below.
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from storyboard.exchange import ExchangeError

MAX_SCRIPT_BYTES = 2 * 1024 * 1024  # a feature film's script is about 200 KB
MAX_LINE_CHARS = 10_000
MAX_ELEMENTS = 20_000
SCRIPT_SUFFIXES = (".fountain", ".spmd", ".txt")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")
_BONEYARD = re.compile(r"/\*.*?\*/", re.DOTALL)  # Fountain's comment: /* ... */, may span lines
_NOTE = re.compile(r"\[\[.*?\]\]", re.DOTALL)


class ScriptError(ExchangeError):
    """A screenplay cannot be read or imported; the message names the file and the line."""


@dataclass(frozen=True)
class Scene:
    """A scene heading (slugline) such as INT. KITCHEN - NIGHT, with its #number# if the script gives one."""

    line: int
    heading: str
    number: str | None = None


@dataclass(frozen=True)
class Action:
    """One action paragraph (description of what is seen)."""

    line: int
    text: str


@dataclass(frozen=True)
class Speech:
    """One character's dialogue: the character line as written, then (is parenthetical, text, line) blocks."""

    line: int
    character: str
    blocks: tuple[tuple[bool, str, int], ...]
    dual: bool = False  # the right-hand side of dual (simultaneous) dialogue


@dataclass(frozen=True)
class Transition:
    """A transition such as CUT TO: or > FADE OUT."""

    line: int
    text: str


Element = Scene | Action | Speech | Transition


@dataclass(frozen=True)
class Script:
    """A parsed screenplay: its title page and its elements in order."""

    source: str
    title: str = ""
    author: str = ""
    elements: tuple[Element, ...] = ()


def read_script(path: Path | str) -> Script:
    """Read and parse a Fountain file; ScriptError names the file (and the line) of any problem."""
    path = Path(path)
    try:
        info = path.stat()
    except OSError as exc:
        raise ScriptError(f"Cannot read the script {path}: {exc.strerror or exc}. Check the path.") from None
    if not stat.S_ISREG(info.st_mode):
        raise ScriptError(f"The script {path} is not a regular file (a folder, pipe or device?); give a .fountain file.")
    if info.st_size > MAX_SCRIPT_BYTES:
        raise _too_large(str(path), info.st_size)
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_SCRIPT_BYTES + 1)
    except OSError as exc:
        raise ScriptError(f"Cannot read the script {path}: {exc.strerror or exc}.") from None
    if len(raw) > MAX_SCRIPT_BYTES:
        raise _too_large(str(path), len(raw))
    return parse_script(decode_script(raw, str(path)), source=str(path))


def decode_script(raw: bytes, source: str) -> str:
    """UTF-8 text (a byte-order mark dropped); ScriptError gives the line of the first byte that is not."""
    if len(raw) > MAX_SCRIPT_BYTES:
        raise _too_large(source, len(raw))
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScriptError(f"{source}, line {line}: this is not UTF-8 text (byte {raw[exc.start]:#04x}). Save the script "
                          "as UTF-8 (Fountain files are plain UTF-8 text) and import it again.") from None


def _too_large(source: str, size: int) -> ScriptError:
    return ScriptError(f"The script {source} is {size / 1024 / 1024:.1f} MB; scripts larger than "
                       f"{MAX_SCRIPT_BYTES // 1024 // 1024} MB are not read (a feature film takes about 0.2 MB). "
                       "Split it into parts and import them one after another.")


def parse_script(text: str, source: str = "script") -> Script:
    """Parse Fountain text into a Script; ScriptError names `source` and the line of any problem."""
    from screenplain.parsers.fountain import parse_title_page

    if len(text) > MAX_SCRIPT_BYTES:
        raise _too_large(source, len(text.encode("utf-8")))
    # 1. Check the raw text line by line.
    text = _check_text(text, source)
    # 2. Remove /* comments */, keeping their line breaks so every line keeps its number.
    text = _drop_boneyard(text, source)
    lines = [line.expandtabs(4) for line in re.split("\r\n|\n|\r", text)]
    # 3. The title page: key: value lines up to the first empty line, as screenplain reads it.
    head = list(itertools.takewhile(lambda line: line != "", lines))
    title_page = parse_title_page(head) if head else None
    first = len(head) + 1 if title_page else 0
    title = _title_value(title_page, "Title")
    author = _title_value(title_page, "Author") or _title_value(title_page, "Authors")
    # 4. The body, one paragraph at a time.
    elements = _body(lines[first:], first + 1, source)
    return Script(source=source, title=title, author=author, elements=tuple(elements))


def _check_text(text: str, source: str) -> str:
    for number, line in enumerate(re.split("\r\n|\n|\r", text), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise ScriptError(f"{source}, line {number}: the line is {len(line):,} characters long; the most is "
                              f"{MAX_LINE_CHARS:,}. Is this a screenplay? Break the paragraph into lines.")
        bad = _CONTROL.search(line)
        if bad:
            raise ScriptError(f"{source}, line {number}, column {bad.start() + 1}: the control character "
                              f"{bad.group()!r} has no place in a screenplay (is this a binary file?). Remove it, or "
                              "give the .fountain text file.")
    return text


def _drop_boneyard(text: str, source: str) -> str:
    kept = _BONEYARD.sub(lambda m: "\n" * m.group().count("\n"), text)
    opened = kept.find("/*")
    if opened >= 0:
        line = kept[:opened].count("\n") + 1
        raise ScriptError(f"{source}, line {line}: a /* comment starts here and is never closed with */. Close it "
                          "(or remove the /*) and import again.")
    return kept


def _title_value(title_page: dict[str, list[str]] | None, key: str) -> str:
    from screenplain.richstring import parse_emphasis

    values = (title_page or {}).get(key) or []
    return " ".join(str(parse_emphasis(v)).strip() for v in values).strip()


def _body(lines: list[str], first_line: int, source: str) -> list[Element]:
    """Feed screenplain each paragraph (a run of non-blank lines) and note the line each object starts on."""
    from screenplain.parsers.fountain import InputParagraph

    parsed: list[object] = []
    starts: list[tuple[int, ...]] = []
    numbered = zip(itertools.count(first_line), lines)
    for blank, group in itertools.groupby(numbered, key=lambda item: item[1] in ("", " ")):
        if blank:
            continue
        group = list(group)
        start = group[0][0]
        joined = "\n".join(line for _, line in group)
        text = _NOTE.sub("", joined)
        if "[[" in text:
            offset = text[: text.index("[[")].count("\n")
            raise ScriptError(f"{source}, line {start + offset}: a [[note starts here and is never closed with ]] in "
                              "the same paragraph. Close it and import again.")
        if text.strip() in ("", " "):
            continue
        before = len(parsed)
        previous = parsed[-1] if parsed else None
        InputParagraph(text.split("\n")).update_list(parsed)
        if len(parsed) == before and parsed and parsed[-1] is not previous:  # dual dialogue joined the last one
            starts[-1] = starts[-1] + (start,)
        del starts[len(parsed):]
        starts += [(start,)] * (len(parsed) - len(starts))
        if len(parsed) > MAX_ELEMENTS:
            raise ScriptError(f"{source}, line {start}: more than {MAX_ELEMENTS:,} paragraphs; split the script and "
                              "import it in parts.")
    elements: list[Element] = []
    for obj, where in zip(parsed, starts):
        elements += _convert(obj, where, source)
    return elements


def _convert(obj: object, where: tuple[int, ...], source: str) -> list[Element]:
    from screenplain.types import Action as SAction
    from screenplain.types import Dialog, DualDialog, Slug
    from screenplain.types import Transition as STransition

    line = where[0]
    if isinstance(obj, Slug):
        number = str(obj.scene_number).strip() if obj.scene_number else None
        return [Scene(line, str(obj.line).strip(), number or None)]
    if isinstance(obj, SAction):
        text = "\n".join(str(part).strip() for part in obj.lines).strip()
        return [Action(line, text)] if text else []
    if isinstance(obj, Dialog):
        return [_speech(obj, line, source)]
    if isinstance(obj, DualDialog):
        return [_speech(obj.left, line, source), _speech(obj.right, where[-1], source, dual=True)]
    if isinstance(obj, STransition):
        return [Transition(line, str(obj.line).strip())]
    return []  # sections, synopses and page breaks shape the script, not its pictures


def _speech(dialog: object, line: int, source: str, dual: bool = False) -> Speech:
    blocks = tuple((bool(paren), str(text).strip(), line + 1 + i) for i, (paren, text) in enumerate(dialog.blocks))
    for i, (paren, text, at) in enumerate(blocks):
        if paren and text.startswith("(") and not any(t.endswith(")") for _, t, _ in blocks[i:]):
            raise ScriptError(f"{source}, line {at}: the parenthetical {text[:40]!r} is never closed with ')', so "
                              "every line after it would be read as a stage direction. Close it and import again.")
    return Speech(line, str(dialog.character).strip(), blocks, dual)


def script_suffix_ok(path: Path | str) -> bool:
    """True for the file names a screenplay usually has (.fountain, .spmd, .txt)."""
    return os.path.splitext(str(path))[1].lower() in SCRIPT_SUFFIXES
