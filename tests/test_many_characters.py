"""Three or four characters in a panel (issue 15 item 5), everywhere but the StoryMaker engine itself: the project
format and the studio accept up to MAX_CHARACTERS_PER_PANEL and refuse one more, the draft engine stages 3-4 figures
in distinct places, lettering aims at every speaker's head, the studio shows the engine's warnings, and the regions
StoryMaker's regional passes paint (storyboard.engines.storymaker.regional, no models needed to plan them).
The engine's passes on tiny models: tests/test_storymaker_regional.py."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import POSE_P2, STORY, write_project
from storyboard import studio
from storyboard.engines import CharacterRef, RenderContext, RenderRequest, RenderResult
from storyboard.engines.draft import DraftEngine, Unjittered, head_circle, line_px, stage_people
from storyboard.engines.storymaker.regional import (character_regions, likeness_warning, pass_seed, plan_passes,
                                                    region_box, retouch_characters)
from storyboard.errors import StoryboardError
from storyboard.layout import Rect
from storyboard.lettering import letter_panel, speaker_heads
from storyboard.model import MAX_CHARACTERS_PER_PANEL, STORYMAKER_CHARACTERS, Balloon, Panel
from storyboard.poses import Pose, pose_from_json
from storyboard.settings import Settings
from storyboard.storyfile import load_project, parse_story

COLORS = ("#e4572e", "#2e86ab", "#3bb273", "#7768ae", "#e1bc29")
IDS = ("mia", "leo", "ana", "bo", "cy")
CAST = tuple(CharacterRef(id=i, name=i.title(), color=c, reference=Path("missing.png")) for i, c in zip(IDS, COLORS))
SHOTS = ["establishing", "wide", "full", "medium", "close-up", "extreme-close-up", "over-the-shoulder"]
EXTRA_CAST = "".join(f"  - id: {i}\n    name: {i.title()}\n    color: \"{c}\"\n" for i, c in zip(IDS[2:], COLORS[2:]))


def story_with(characters: str) -> str:
    """The conftest story with five cast members and panel p2 holding `characters`."""
    story = STORY.replace("panels:\n", EXTRA_CAST + "panels:\n", 1)
    return story.replace("    characters: [mia, leo]\n", f"    characters: [{characters}]\n", 1)


def test_the_bound_is_four_with_two_drawn_by_storymaker_at_once() -> None:
    assert (MAX_CHARACTERS_PER_PANEL, STORYMAKER_CHARACTERS) == (4, 2)


# ---------------------------------------------------------------- story.yaml and the studio


def test_story_yaml_holds_four_characters_and_refuses_a_fifth_naming_line_and_bound(tmp_path: Path) -> None:
    project = parse_story(story_with("mia, leo, ana, bo"), tmp_path / "story.yaml")
    assert project.panel("p2").characters == ("mia", "leo", "ana", "bo")
    with pytest.raises(StoryboardError) as info:
        parse_story(story_with("mia, leo, ana, bo, cy"), tmp_path / "story.yaml")
    message = str(info.value)
    assert "panel 'p2' has 5 characters; a panel holds at most 4" in message and "line" in message
    assert "Split the scene over two panels" in message


def test_the_studio_takes_four_characters_and_a_four_person_pose_and_refuses_five(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", story_with("mia, leo"))
    project = studio.update_panel(root, "p2", characters=["mia", "leo", "ana", "bo"])
    assert project.panel("p2").characters == ("mia", "leo", "ana", "bo")
    before = (root / "story.yaml").read_text()
    with pytest.raises(StoryboardError, match=r"are 5 characters; a panel holds at most 4\. Untick one"):
        studio.update_panel(root, "p2", characters=list(IDS))
    two = pose_from_json(POSE_P2)
    four = Pose(two.width, two.height, two.people + tuple(p.mapped(lambda x, y: (x * 0.5, y * 0.5)) for p in two.people))
    assert (root / "story.yaml").read_text() == before, "a refusal changes nothing"
    project, changed = studio.set_pose(root, "p2", four)
    assert changed and len(load_project(root).panel("p2").pose or "") > 0
    before = (root / "story.yaml").read_text()
    five = Pose(four.width, four.height, four.people + two.people[:1])
    with pytest.raises(StoryboardError, match="the pose has 5 skeletons; a panel holds at most 4"):
        studio.set_pose(root, "p2", five)
    assert (root / "story.yaml").read_text() == before
    assert load_project(root).panel("p2").characters == ("mia", "leo", "ana", "bo")


def test_the_pose_editor_and_the_characters_box_say_the_new_bound() -> None:
    pytest.importorskip("gradio")
    import inspect

    from ui.panels_area import CHARACTERS_LABEL
    from ui.pose_editor import build_pose_editor

    assert CHARACTERS_LABEL.startswith("Characters (up to 4,") and "past 2, weaker likeness" in CHARACTERS_LABEL
    assert inspect.signature(build_pose_editor).parameters["max_people"].default == 4


def test_the_studio_shows_the_engines_warnings_with_the_panel_it_rendered(tmp_path: Path) -> None:
    root = write_project(tmp_path / "proj", story_with("mia, leo, ana"))

    class Warning(DraftEngine):
        def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
            result = super().render(request, context)
            result.metadata["warnings"] = [likeness_warning(tuple(CAST[:3]))]
            return result

    updates = list(studio.iter_render(root, Warning(), Settings(), "panel", "p2"))
    assert "rendered" in updates[-1].message
    assert "⚠️ 3 characters: StoryMaker draws the first 2 and adds Ana by regional inpainting passes" in updates[-1].message
    assert "likeness is weaker past two" in updates[-1].message


# ---------------------------------------------------------------- the draft engine: 3-4 figures


def figure_centres(people) -> list[float]:
    return [person.bbox()[0] / 2 + person.bbox()[2] / 2 for person in people]


@pytest.mark.parametrize("shot", SHOTS)
@pytest.mark.parametrize("n", [3, 4])
def test_the_staging_gives_three_and_four_figures_distinct_places(shot: str, n: int) -> None:
    w, h = 768, 512
    people = stage_people(w, h, n, shot, Unjittered()).people
    assert len(people) == n
    xs = figure_centres(people)
    assert min(abs(a - b) for i, a in enumerate(xs) for b in xs[i + 1:]) > 0.1 * w, xs
    boxes = [region_box(p, w, h) for p in people]
    assert len(set(boxes)) == n and all(b is not None for b in boxes)
    if shot != "over-the-shoulder":
        assert xs == sorted(xs), "left to right in panel order"


@pytest.mark.parametrize("shot", SHOTS)
def test_one_and_two_figures_stand_where_they_always_stood(shot: str) -> None:
    """The staging of 1-2 figures is unchanged by the room made for 3-4 (their drafts keep their pixels)."""
    two = stage_people(1024, 768, 2, shot, Unjittered()).people
    if shot == "over-the-shoulder":
        assert [round(x) for x in figure_centres(two)] == [round(0.17 * 1024), round(0.66 * 1024)]
    else:
        fig_frac = {"establishing": 0.16, "wide": 0.36, "full": 0.8, "medium": 1.7, "close-up": 3.4,
                    "extreme-close-up": 7.5}[shot]
        fig_h = fig_frac * 768 * (0.6 if fig_frac > 2.5 else 1.0)
        spread = min(0.3, max(0.16, 0.19 * fig_h / 1024))
        assert [round(x) for x in figure_centres(two)] == [round((0.5 - spread) * 1024), round((0.5 + spread) * 1024)]


@pytest.mark.parametrize("n", [3, 4])
@pytest.mark.parametrize("shot", ["full", "medium", "over-the-shoulder"])
def test_the_draft_engine_draws_three_and_four_characters_each_in_their_colour(n: int, shot: str) -> None:
    request = RenderRequest(panel_id="p1", prompt="four friends", styled_prompt="x", characters=CAST[:n], shot=shot,
                            seed=7, width=768, height=512)
    result = DraftEngine().render(request, RenderContext())
    pixels = np.asarray(result.image).astype(int)
    xs = []
    for member in CAST[:n]:
        rgb = np.array([int(member.color[i: i + 2], 16) for i in (1, 3, 5)])
        drawn = np.nonzero((np.abs(pixels - rgb).max(axis=2) <= 12))
        assert drawn[0].size > 50, f"{member.name} is drawn in {member.color}"
        xs.append(float(np.median(drawn[1])))
    assert len({round(x / 40) for x in xs}) == n, f"each figure stands in its own place: {xs}"
    assert not result.metadata["warnings"]
    cy = np.array([int(CAST[4].color[i: i + 2], 16) for i in (1, 3, 5)])
    assert not (np.abs(pixels - cy).max(axis=2) <= 12).sum() > 50, "nobody is drawn past the panel's characters"


# ---------------------------------------------------------------- lettering


def test_balloons_of_four_speakers_aim_at_four_heads_where_the_draft_draws_them() -> None:
    panel = Panel(id="p9", prompt="four friends", characters=IDS[:4], shot="full",
                  balloons=tuple(Balloon(text=f"I am {i}.", speaker=i) for i in IDS[:4]))
    rect, size = Rect(40, 60, 500, 300), (1000, 600)
    heads = speaker_heads(panel, rect, size, None)
    assert set(heads) == set(IDS[:4]) and len({round(h[0]) for h in heads.values()}) == 4
    scale = rect.w / size[0]
    for cid, person in zip(IDS[:4], stage_people(*size, 4, "full", Unjittered()).people):
        cx, cy, _ = head_circle(person, line_px(person, *size))
        assert heads[cid][0] == pytest.approx(rect.x + cx * scale) and heads[cid][1] == pytest.approx(rect.y + cy * scale)
    lettering = letter_panel(panel, rect, heads)
    assert [b.speaker for b in lettering.balloons] == list(IDS[:4])
    for balloon in lettering.balloons:
        assert balloon.aim == pytest.approx(heads[balloon.speaker][:2])


# ---------------------------------------------------------------- the regions of StoryMaker's regional passes


def request_of(n: int, pose: Pose | None = None, shot: str = "full", size: tuple[int, int] = (512, 512)) -> RenderRequest:
    return RenderRequest(panel_id="p9", prompt="x", styled_prompt="x", characters=CAST[:n], pose=pose, shot=shot,
                         seed=1234, width=size[0], height=size[1])


def four_person_pose(named: bool = False) -> Pose:
    two = pose_from_json(POSE_P2)  # people at x ~220-380 and ~620-780 of 1024
    small = tuple(p.mapped(lambda x, y: (x * 0.4 + dx, y * 0.4)) for p, dx in zip(two.people, (-60, 260)))
    pose = Pose(two.width, two.height, two.people + small)  # two small ones along the top: x ~30-90 and ~510-570
    return pose.with_characters(["leo", "mia", "bo", "ana"]) if named else pose


def test_regions_come_from_the_skeletons_grown_and_clipped() -> None:
    pose = four_person_pose()
    regions, warnings = character_regions(request_of(4, pose))
    assert not warnings and [found for _, found in regions] == [0, 1, 2, 3]
    scaled = pose.scaled_to(512, 512)
    for (box, found), person in zip(regions, scaled.people):
        x0, y0, x1, y1 = person.bbox()
        left, top, right, bottom = box
        assert left <= x0 and top <= y0 and right >= x1 and bottom >= y1, "the region holds the whole skeleton"
        assert 0 <= left and 0 <= top and right <= 512 and bottom <= 512, "clipped to the image"
        grow = max(0.1 * max(x1 - x0, y1 - y0), 0.04 * 512)
        assert left == max(0, int(np.floor(x0 - grow))) and bottom == min(512, int(np.ceil(y1 + grow)))


def test_a_skeleton_naming_its_cast_member_wins_over_skeleton_order() -> None:
    regions, _ = character_regions(request_of(4, four_person_pose(named=True)))
    assert [found for _, found in regions] == [1, 0, 3, 2]  # mia is the second skeleton, ana the fourth ...


def test_without_a_skeleton_the_region_is_where_the_default_staging_puts_the_figure() -> None:
    pose = pose_from_json(POSE_P2)  # two skeletons for three characters
    regions, _ = character_regions(request_of(3, pose))
    staged = stage_people(512, 512, 3, "full", Unjittered()).people
    assert regions[2] == (region_box(staged[2], 512, 512), None)
    no_pose, _ = character_regions(request_of(4, None))
    assert [box for box, _ in no_pose] == [region_box(p, 512, 512) for p in stage_people(512, 512, 4, "full",
                                                                                          Unjittered()).people]
    off = Pose(pose.width, pose.height, pose.people + (pose.people[0].mapped(lambda x, y: (x + 5000, y)),))
    regions, warnings = character_regions(request_of(3, off))
    assert regions[2] == (region_box(staged[2], 512, 512), None)
    assert warnings == ["the skeleton of Ana lies (almost) outside the panel; Ana is placed where the default "
                        "staging puts them"]


def test_each_further_character_gets_its_own_seed_skeleton_and_region() -> None:
    pose = four_person_pose()
    passes, _ = plan_passes(request_of(4, pose))
    assert [(p.index, p.character.id) for p in passes] == [(2, "ana"), (3, "bo")]
    assert [p.skeleton for p in passes] == list(pose.people[2:])
    assert [p.seed for p in passes] == [pass_seed(1234, 2), pass_seed(1234, 3)]
    assert len({pass_seed(s, k) for s in range(50) for k in (2, 3)}) == 100, "seeds differ per take and per pass"
    assert pass_seed(1234, 2) == pass_seed(1234, 2) and 0 <= pass_seed(2**32 - 1, 3) < 2**32
    assert plan_passes(request_of(2, pose))[0] == []


def test_a_retouch_of_a_crowded_panel_draws_the_characters_whose_places_it_covers() -> None:
    request = request_of(4, four_person_pose())
    regions, _ = character_regions(request)
    mask = Image.new("L", (512, 512), 0)
    left, top, right, bottom = regions[3][0]  # Bo's place; Leo's begins inside it
    assert regions[1][0][0] > left + 30
    mask.paste(255, (left, top, left + 30, bottom))
    chosen, note = retouch_characters(request, mask)
    assert [c.id for c in chosen.characters] == ["bo"] and "draws Bo" in note
    mask.paste(255, (left, top, right, bottom))
    assert [c.id for c in retouch_characters(request, mask)[0].characters] == ["leo", "bo"]
    mask.paste(255, regions[0][0])  # Mia's place is larger than what Leo's holds of the mask: Mia and Bo
    assert [c.id for c in retouch_characters(request, mask)[0].characters] == ["mia", "bo"]
    nowhere = Image.new("L", (512, 512), 0)
    assert [c.id for c in retouch_characters(request, nowhere)[0].characters] == ["mia", "leo"]
    assert dataclasses.replace(chosen, characters=request.characters) == request
