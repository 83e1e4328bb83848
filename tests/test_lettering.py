"""Lettering (issue 4): balloons and captions fit their panel, don't overlap, tails point at speakers, fonts."""

from __future__ import annotations

import itertools
import math

import pytest

from conftest import POSE_P2
from storyboard import lettering, typesetting
from storyboard.layout import Rect
from storyboard.lettering import LetteringError, letter_panel, pick_font, speaker_heads, wrap
from storyboard.model import Balloon, Panel
from storyboard.poses import pose_from_json

PANEL = Rect(40, 60, 300, 260)
TWO = dict(characters=("mia", "leo"), shot="medium")


def balloons(*specs: tuple[str | None, str, str]) -> tuple[Balloon, ...]:
    return tuple(Balloon(text=text, speaker=speaker, kind=kind) for speaker, kind, text in specs)


CASES = {
    "one shout": Panel(id="a", characters=("mia",), shot="wide", caption="Monday, 8:59.",
                       balloons=balloons(("mia", "shout", "Wait for me!"))),
    "two speakers": Panel(id="b", caption="9:31, the office.", **TWO, balloons=balloons(
        ("leo", "speech", "Rough morning? You look like you swam here."),
        ("mia", "speech", "The bus and I had a disagreement."))),
    "every kind": Panel(id="c", **TWO, balloons=balloons(
        ("mia", "thought", "Coffee first."), ("leo", "whisper", "Don't tell anyone."),
        ("mia", "speech", "Fine."), (None, "speech", "Phone rings off-panel!"))),
    "close-up": Panel(id="d", characters=("mia",), shot="close-up", caption="The 9:00 bus always leaves at 8:59.",
                      balloons=balloons(("mia", "thought", "Perfect. Just perfect."))),
}


def heads_for(panel: Panel, pose=None) -> dict:
    return speaker_heads(panel, PANEL, (1024, 1024), pose)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("reading", ["ltr", "rtl"])
def test_lettering_stays_in_its_panel_and_balloons_never_overlap(name: str, reading: str) -> None:
    panel = CASES[name]
    result = letter_panel(panel, PANEL, heads_for(panel), reading)
    assert result.issues == ()
    assert len(result.balloons) == len(panel.balloons) and len(result.captions) == int(bool(panel.caption))
    for balloon in result.balloons:
        assert PANEL.contains(balloon.body), (name, balloon.number, balloon.body)
        assert PANEL.contains(balloon.bounds), "tails and bubbles stay inside too"
        tip = balloon.tail_tip
        assert tip is not None and PANEL.contains_point(*tip), (name, balloon.number, tip)
    for caption in result.captions:
        assert PANEL.contains(caption.rect)
    boxes = [b.body for b in result.balloons] + [c.rect for c in result.captions]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b), (name, a, b)
    # every word is drawn, in order: nothing is cut
    for spec, balloon in zip(panel.balloons, result.balloons):
        assert " ".join(balloon.text.lines).split() == spec.text.split()
        for line, x, _ in balloon.lines():
            assert abs(x - balloon.center[0]) < 1e-6
            assert abs(x - balloon.center[0]) + balloon.text.widths[0] / 2 <= balloon.body.w


def test_tails_point_at_the_pose_heads() -> None:
    panel = CASES["two speakers"]
    pose = pose_from_json(POSE_P2)
    heads = heads_for(panel, pose)
    # POSE_P2: the first skeleton's nose at x=300 of 1024, the second's at 700; cover-fit onto a 300x260 slot
    scale = max(PANEL.w / 1024, PANEL.h / 1024)
    offset_x = PANEL.x - (1024 * scale - PANEL.w) / 2
    assert heads["mia"][0] == pytest.approx(offset_x + 300 * scale)
    assert heads["leo"][0] == pytest.approx(offset_x + 700 * scale)
    result = letter_panel(panel, PANEL, heads)
    for balloon in result.balloons:
        hx, hy, radius = heads[balloon.speaker]
        cx, cy = balloon.center
        tx, ty = balloon.tail_tip
        towards = ((tx - cx) * (hx - cx) + (ty - cy) * (hy - cy)) / (math.hypot(tx - cx, ty - cy) * math.hypot(hx - cx, hy - cy))
        assert towards > 0.97, "the tail runs from the balloon towards the speaker's head"
        assert math.hypot(hx - tx, hy - ty) < math.hypot(hx - cx, hy - cy)
        stub = balloon.body.inset(-4).contains_point(tx, ty)  # a balloon resting on the head gets only a stub
        assert math.hypot(hx - tx, hy - ty) >= 0.85 * radius or stub, "the tail stops at the head, not inside the face"


def test_without_a_pose_the_first_character_stands_left_and_the_second_right() -> None:
    panel = CASES["two speakers"]
    heads = heads_for(panel)
    assert heads["mia"][0] < PANEL.center[0] < heads["leo"][0]
    result = letter_panel(panel, PANEL, heads)
    leo, mia = result.balloons
    assert leo.tail_tip[0] > leo.center[0] - 1 or leo.tail_tip[0] > PANEL.center[0]
    assert mia.tail_tip[0] < PANEL.center[0] + 0.15 * PANEL.w


def test_balloons_are_placed_in_reading_order() -> None:
    panel = Panel(id="r", **TWO, balloons=balloons(("mia", "speech", "First."), ("leo", "speech", "Second."),
                                                   ("mia", "speech", "Third.")))
    for reading, sign in (("ltr", 1), ("rtl", -1)):
        placed = letter_panel(panel, PANEL, heads_for(panel), reading).balloons
        for a, b in zip(placed, placed[1:]):
            later = b.body.y >= a.body.y + 0.5 * a.body.h or (b.body.y >= a.body.y - 1 and (b.center[0] - a.center[0]) * sign > 0)
            assert later, (reading, a.text.lines, b.text.lines)


def test_off_panel_speaker_tail_points_out_to_the_panel_edge() -> None:
    panel = Panel(id="o", balloons=balloons((None, "speech", "Who's there?")))
    balloon = letter_panel(panel, PANEL, {}).balloons[0]
    tip = balloon.tail_tip
    edge_distance = min(tip[0] - PANEL.x, PANEL.right - tip[0], tip[1] - PANEL.y, PANEL.bottom - tip[1])
    assert 0 <= edge_distance <= 3


def test_shapes_differ_by_kind() -> None:
    panel = CASES["every kind"]
    result = letter_panel(panel, PANEL, heads_for(panel))
    thought, whisper, speech, _ = result.balloons
    assert thought.bubbles and not speech.bubbles, "thoughts trail bubbles, speech has a tail"
    assert whisper.dashed and not speech.dashed
    shout = letter_panel(CASES["one shout"], PANEL, heads_for(CASES["one shout"])).balloons[0]
    cx, cy = shout.center
    radii = [math.hypot(x - cx, y - cy) for x, y in shout.outline]
    spikes = sum(1 for a, b, c in zip(radii, radii[1:], radii[2:]) if b > a and b > c)
    assert spikes >= 8, "a shout is jagged"
    assert shout.text.font.name.endswith("Bold")


def test_text_too_long_for_its_panel_is_reported_not_cut() -> None:
    long_text = " ".join(["This balloon goes on and on about the weather and the bus."] * 12)
    panel = Panel(id="p9", characters=("mia",), balloons=balloons(("mia", "speech", "Hi."), ("mia", "speech", long_text)))
    small = Rect(0, 0, 150, 120)
    result = letter_panel(panel, small, speaker_heads(panel, small, (1024, 1024), None))
    assert len(result.issues) == 1
    issue = result.issues[0]
    assert issue.panel_id == "p9" and issue.what == "balloon 2"
    assert "p9" in str(issue) and "balloon 2" in str(issue) and "Shorten" in str(issue)
    drawn = " ".join(result.balloons[1].text.lines)
    assert drawn.split() == long_text.split(), "the whole text is still drawn"


def test_wrap_never_splits_words() -> None:
    font = pick_font("x")
    block = wrap("The bus and I had a disagreement this morning.", font, 9, 60)
    assert block is not None and len(block.lines) > 1
    assert " ".join(block.lines) == "The bus and I had a disagreement this morning."
    assert all(w <= 60 for w in block.widths)
    assert wrap("Supercalifragilistic", font, 9, 30) is None


def test_accented_latin_uses_the_lettering_font_and_falls_back_for_the_rest() -> None:
    assert pick_font("Café, señor! Ça va? Größe").path.name == "ComicNeue-Regular.ttf"
    assert pick_font("Łódź, Ξ, Привет").path.name.startswith("DejaVuSans")
    assert pick_font("Łódź!", bold=True).path.name == "DejaVuSans-Bold.ttf"


def test_glyphs_no_font_has_fail_with_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(typesetting, "SYSTEM_FONTS", ())
    chain = lettering.font_chain()
    text = "おはよう!"
    if any(f.covers("おはよう") for f in chain):
        pytest.skip("a font with Japanese glyphs is installed in assets/fonts; the error path cannot be shown here")
    with pytest.raises(LetteringError) as error:
        pick_font(text, what="Panel 'p3' balloon 1")
    message = str(error.value)
    assert "Panel 'p3' balloon 1" in message
    for ch in "おはよう":
        assert f"U+{ord(ch):04X}" in message
    assert ".ttf" in message and "ComicNeue-Regular.ttf" in message
