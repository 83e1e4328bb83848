"""Screenplay import (issue 14, item 1): Fountain scripts into panels, balloons and cast; refusals name the line."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import REPO, snapshot
from storyboard.cli import main
from storyboard.engines.draft import DraftEngine
from storyboard.errors import ProjectError
from storyboard.exchange.fountain import ScriptError, parse_script, read_script
from storyboard.exchange.script_import import (balloon_kind, guess_shot, import_script, plan_import, setting_of,
                                               split_character)
from storyboard.export import export_project, make_options
from storyboard.model import Project
from storyboard.settings import Settings
from storyboard.storyfile import load_project

SAMPLE_SCRIPT = REPO / "assets" / "samples" / "scripts" / "the-lamp-goes-out.fountain"

# An independent script (not the shipped sample): title page, boneyard, notes, forced heading, scene numbers,
# extensions, parentheticals mid-speech, dual dialogue, a transition.
HARBOUR = textwrap.dedent("""\
    Title: _Harbour Lights_
    Author: A. Tester

    /* This scene was cut:
    INT. OLD SCENE - DAY
    Nothing here.
    */

    EXT. HARBOUR - NIGHT #7#

    Rain on the quay. OSKAR, sixties, coils a rope by a lamp post. [[check the lamp colour]]

    OSKAR
    (muttering)
    Same storm as 'seventy-two.
    (beat)
    Worse, maybe.

    JUNO (O.S.)
    Grandpa! The boat!

    CLOSE ON Oskar's hands: the rope slips.

    JUNO
    I've got it!

    OSKAR ^
    Hold on!

    CUT TO:

    .THE LIGHTHOUSE GALLERY

    JUNO (V.O.)
    That night I learned to tie a bowline.

    Over the shoulder of Juno: the harbour far below, every boat safe.

    JUNO
    (thinking)
    Never again.

    JUNO (CONT'D)
    (shouting)
    GRANDPA, I SEE THEM!
    """)

HARBOUR_LINES = ["Same storm as 'seventy-two.", "Worse, maybe.", "Grandpa! The boat!", "I've got it!", "Hold on!",
                 "Never again.", "GRANDPA, I SEE THEM!"]


def write(tmp_path: Path, text: str, name: str = "script.fountain") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_independent_script_becomes_panels_balloons_and_cast(tmp_path: Path) -> None:
    result = import_script(write(tmp_path, HARBOUR), tmp_path / "harbour")
    project = load_project(tmp_path / "harbour")
    assert result.created and project.title == "Harbour Lights" and project.author == "A. Tester"
    assert [(c.id, c.name, c.reference) for c in project.cast] == [("oskar", "Oskar", None), ("juno", "Juno", None)]
    assert [c.id for c in result.new_cast] == ["oskar", "juno"]
    p1, p2, p3, p4 = project.panels
    # the action paragraph: names become {id}, the setting follows, notes carry the scene and the script's number
    assert p1.prompt.startswith("Rain on the quay. {oskar}, sixties, coils a rope") and "check the lamp" not in p1.prompt
    assert p1.prompt.endswith("Exterior, harbour, night.") and p1.notes.startswith("Scene 7: EXT. HARBOUR - NIGHT")
    assert p1.characters == ("oskar",)  # Juno speaks off-screen: not in the picture
    assert [(b.speaker, b.kind, b.text) for b in p1.balloons] == [
        ("oskar", "whisper", "Same storm as 'seventy-two."), ("oskar", "speech", "Worse, maybe."),
        ("juno", "speech", "Grandpa! The boat!")]
    # a close-up naming Oskar; Juno speaks and joins; dual dialogue shares the panel; the transition is noted
    assert p2.shot == "close-up" and p2.prompt.startswith("CLOSE ON {oskar}'s hands") and p2.characters == ("oskar", "juno")
    assert [(b.speaker, b.text) for b in p2.balloons] == [("juno", "I've got it!"), ("oskar", "Hold on!")]
    assert p2.notes.endswith("CUT TO:")
    # a forced scene heading; the voice-over is a caption on a panel of its own (none has been drawn yet)
    assert p3.caption == "That night I learned to tie a bowline." and not p3.balloons and p3.prompt == "The lighthouse gallery."
    assert p3.notes.startswith("Scene 2: THE LIGHTHOUSE GALLERY")
    assert p4.shot == "over-the-shoulder" and p4.characters == ("juno",)
    assert [(b.kind, b.text) for b in p4.balloons] == [("thought", "Never again."), ("shout", "GRANDPA, I SEE THEM!")]
    assert [s.heading for s in result.scenes] == ["EXT. HARBOUR - NIGHT", "THE LIGHTHOUSE GALLERY"]
    assert dict(result.lines) == {"p1": 11, "p2": 22, "p3": 35, "p4": 37}


def test_sample_script_imports_renders_in_draft_and_exports_every_line(tmp_path: Path) -> None:
    script = read_script(SAMPLE_SCRIPT)
    spoken = [text for e in script.elements if hasattr(e, "blocks") for paren, text, _ in e.blocks if not paren]
    root = tmp_path / "lamp"
    import_script(SAMPLE_SCRIPT, root)
    project = load_project(root)
    assert {c.name for c in project.cast} == {"Nora", "Eli"} and len(project.panels) == 7
    assert [p.shot for p in project.panels][:6] == ["establishing", "medium", "medium", "close-up", "wide",
                                                    "over-the-shoulder"]
    result = export_project(root, project, make_options(tmp_path / "lamp.pdf"), DraftEngine())
    assert len(result.rendered) == 7
    text = " ".join(page.extract_text() for page in PdfReader(tmp_path / "lamp.pdf").pages)
    squashed = re.sub(r"\s+", "", text)
    for line in spoken:
        assert re.sub(r"\s+", "", line) in squashed, line


def test_a_camera_line_above_action_is_action_not_a_speaker(tmp_path: Path) -> None:
    script = parse_script("INT. ROOM - DAY\n\nCLOSE ON MIA\nShe smiles.\n\nANGLE ON the door\nIt opens.\n\nMIA\nHi.\n", "s")
    plan = plan_import(script, Project(title="t"))
    assert [c.id for c in plan.new_cast] == ["mia"]
    first, second = plan.project.panels
    assert first.shot == "close-up" and first.prompt.startswith("CLOSE ON {mia} She smiles.")
    assert second.prompt.startswith("ANGLE ON the door It opens.") and [b.text for b in second.balloons] == ["Hi."]


def test_import_into_an_existing_project_appends_and_matches_the_cast(project_dir: Path) -> None:
    before = load_project(project_dir)
    script = write(project_dir.parent, "INT. OFFICE - DAY\n\nMIA waves at LEO across the desks.\n\nLEO\nMorning again!\n\n"
                                       "NEWCOMER\nWho are you two?\n")
    result = import_script(script, project_dir)
    project = load_project(project_dir)
    assert not result.created and project.panels[:3] == before.panels and project.title == before.title
    assert result.panels == ("p4",) and [c.id for c in result.new_cast] == ["newcomer"]
    assert [c.id for c in project.cast] == ["mia", "leo", "newcomer"]
    panel = project.panel("p4")
    # a speaker joins the panel's characters up to the bound (4 since issue 15 item 5; it was 2)
    assert panel.prompt.startswith("{mia} waves at {leo} across the desks.")
    assert panel.characters == ("mia", "leo", "newcomer")
    assert [(b.speaker, b.text) for b in panel.balloons] == [("leo", "Morning again!"), ("newcomer", "Who are you two?")]
    again = import_script(script, project_dir)  # a second import appends again, never replaces
    assert again.panels == ("p5",) and len(load_project(project_dir).cast) == 3


@pytest.mark.parametrize("text, shot", [
    ("CLOSE ON the lamp.", "close-up"), ("Close-up: her eyes.", "close-up"), ("EXTREME CLOSE-UP on the key.", "extreme-close-up"),
    ("Wide shot: the town.", "wide"), ("WIDE ON the bay.", "wide"), ("His eyes go wide.", "medium"),
    ("Over the shoulder of Mia: Leo laughs.", "over-the-shoulder"), ("ESTABLISHING: the city at dawn.", "establishing"),
    ("INSERT - the letter.", "close-up"), ("She inserts the key.", "medium"), ("Full shot: the dancer.", "full"),
    ("Wide shot, then close on the cup.", "wide"), ("Nothing said about the camera.", "medium"),
])
def test_shot_is_guessed_only_where_the_text_says_so(text: str, shot: str) -> None:
    assert guess_shot(text) == shot


@pytest.mark.parametrize("cue, kind", [("(whispering)", "whisper"), ("(quietly)", "whisper"), ("(shouting)", "shout"),
                                       ("(yells)", "shout"), ("(thinking)", "thought"), ("(to herself)", "thought"),
                                       ("(beat)", None), ("(into phone)", None)])
def test_parentheticals_choose_the_balloon(cue: str, kind: str | None) -> None:
    assert balloon_kind(cue) == kind


@pytest.mark.parametrize("line, name, extensions", [("NORA (V.O.)", "NORA", ("VO",)), ("ELI (O.S.) (CONT'D)", "ELI", ("OS", "CONTD")),
                                                    ("@McCLANE", "McCLANE", ()), ("BRICK ^", "BRICK", ())])
def test_character_lines(line: str, name: str, extensions: tuple[str, ...]) -> None:
    assert split_character(line) == (name, extensions)


@pytest.mark.parametrize("heading, setting", [("INT. LIGHTHOUSE - LAMP ROOM - NIGHT", "Interior, lighthouse, lamp room, night"),
                                              ("EXT. BEACH - CONTINUOUS", "Exterior, beach"),
                                              ("INT./EXT. CAR - DAY", "Interior and exterior, car, day"),
                                              ("THE VOID", "The void")])
def test_scene_headings_give_the_setting(heading: str, setting: str) -> None:
    assert setting_of(heading) == setting


BAD_SCRIPTS = [
    ("INT. ROOM - DAY\n\nA man sits.\n\nBOB\n(whispering\nHello.\n", 6, "never closed with ')'"),
    ("INT. ROOM - DAY\n\n/* cut\nA man sits.\n", 3, "never closed with */"),
    ("INT. ROOM - DAY\n\nA man sits. [[note\n\nMore.\n", 3, "never closed with ]]"),
    ("INT. ROOM - DAY\n\nA man \x00 sits.\n", 3, "control character"),
    ("INT. ROOM - DAY\n\n" + "A" * 10_001 + "\n", 3, "characters long"),
    ("INT. ROOM - DAY\n\nBOB\n" + "word " * 120 + "\n", 4, "a balloon holds at most 500"),
    ("INT. ROOM - DAY\n\n" + "A man sits. " * 90 + "\n", 3, "prompt holds at most 1,000"),
    ("INT. ROOM - DAY\n\n" + "B" * 61 + "\nHello.\n", 3, "a name holds at most 60"),
]


@pytest.mark.parametrize("text, line, words", BAD_SCRIPTS)
def test_malformed_scripts_give_the_line_and_write_nothing(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(ScriptError, match=rf"line {line}\b.*{re.escape(words)}"):
        import_script(write(tmp_path, text), tmp_path / "new")
    assert not (tmp_path / "new").exists()


def test_bytes_that_are_not_utf8_are_reported_by_line(tmp_path: Path) -> None:
    path = tmp_path / "latin.fountain"
    path.write_bytes("INT. CAF\u00c9 - DAY\n\nA man.\n".encode("utf-8") + "\n\nZo\u00eb waits.\n".encode("latin-1"))
    with pytest.raises(ScriptError, match=r"line 6: this is not UTF-8"):
        read_script(path)


def test_limits_on_size_panels_cast_and_content(tmp_path: Path, project_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    many = "INT. ROOM - DAY\n\n" + "".join(f"Panel {i} happens.\n\n" for i in range(5))
    with pytest.raises(ScriptError, match=r"line 9: this would be panel number 4; a project holds at most 3"):
        plan_import(parse_script(many, "many.fountain"), Project(title="t"), Settings(max_panels=3))
    crowd = "".join(f"PERSON{i}\nHi.\n\n" for i in range(4))
    with pytest.raises(ScriptError, match=r"line 7: 'Person2' would be cast member number 3; a project holds at most 2"):
        plan_import(parse_script(crowd, "crowd.fountain"), Project(title="t"), Settings(max_cast=2))
    with pytest.raises(ScriptError, match="no action or dialogue"):
        plan_import(parse_script("Title: Only a title\n\n/* nothing */\n", "empty.fountain"), Project(title="t"))
    monkeypatch.setattr("storyboard.exchange.fountain.MAX_SCRIPT_BYTES", 100)
    with pytest.raises(ScriptError, match="scripts larger than"):
        read_script(write(tmp_path, "INT. ROOM - DAY\n\n" + "Words. " * 40))
    with pytest.raises(ScriptError, match="not a regular file"):
        read_script(tmp_path)
    with pytest.raises(ScriptError, match="Cannot read the script"):
        read_script(tmp_path / "missing.fountain")


def test_a_folder_that_is_not_a_project_is_refused_and_a_failed_append_changes_nothing(tmp_path: Path, project_dir: Path) -> None:
    other = tmp_path / "photos"
    other.mkdir()
    (other / "holiday.jpg").write_bytes(b"x")
    with pytest.raises(ProjectError, match="not a project"):
        import_script(write(tmp_path, "INT. ROOM - DAY\n\nA man sits.\n"), other)
    before = snapshot(project_dir)
    with pytest.raises(ScriptError, match="line 3"):
        import_script(write(tmp_path, "INT. ROOM - DAY\n\n" + "Long. " * 200), project_dir)
    assert snapshot(project_dir) == before
    with pytest.raises(ScriptError, match="title .* characters"):
        import_script(write(tmp_path, "Title: " + "T" * 130 + "\n\nINT. ROOM - DAY\n\nA man.\n"), tmp_path / "long")
    assert not (tmp_path / "long").exists()


def test_cli_import_script_logs_each_panel_and_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["import-script", str(SAMPLE_SCRIPT), str(tmp_path / "lamp")]) == 0
    out = capsys.readouterr().out
    assert "[1/7] p1 (line 8): establishing" in out and "[7/7] p7 (line 50)" in out
    assert "New cast members without a photo: Nora (nora), Eli (eli)" in out
    bad = write(tmp_path, "INT. ROOM - DAY\n\nBOB\n(whispering\nHi.\n")
    assert main(["import-script", str(bad), str(tmp_path / "bad")]) == 2
    assert "line 4: the parenthetical '(whispering'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
