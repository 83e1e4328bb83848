"""Issue 15 item 5 on tiny random-weight models (CPU, no network): a panel of three or four characters renders its
first two with StoryMaker, exactly as a panel of those two does, then adds each further character by a regional
inpainting pass conditioned on that character alone (storyboard.engines.storymaker.regional).

The tiny face detector finds a magenta "face marker", so the cast photos get one (mark_faces).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")

from conftest import REPO  # noqa: E402
from storyboard.engines import RenderContext, RenderRequest  # noqa: E402
from storyboard.engines.storymaker.regional import character_regions, pass_seed  # noqa: E402
from storyboard.errors import EngineError, RenderCancelled  # noqa: E402
from storyboard.feathering import feather_px  # noqa: E402
from storyboard.model import Character  # noqa: E402
from storyboard.poses import read_pose, write_pose  # noqa: E402
from storyboard.render import build_request, project_style  # noqa: E402
from storyboard.store import update_project  # noqa: E402
from storyboard.storyfile import load_project  # noqa: E402
from tiny_models.folder import build_tiny_models_dir, mark_faces  # noqa: E402

SIZE = (64, 64)
STEPS = 2
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}
LIKENESS = "likeness is weaker past two"


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_models_dir(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def engine(models: Path):
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    return StoryMakerEngine.create(models, device="cpu")


@pytest.fixture
def crowd(sample_dir: Path) -> Path:
    """The sample with Ana and Bo in the cast, p4 (pose) as Mia, Leo and Ana with a third, small skeleton top left,
    p5 (over the shoulder, no pose) as Leo, Mia and Ana."""
    cast = sample_dir / "cast"
    ImageOps.mirror(Image.open(cast / "mia.png").convert("RGB")).save(cast / "ana.png")
    ImageOps.invert(Image.open(cast / "leo.png").convert("RGB")).save(cast / "bo.png")
    mark_faces(sample_dir)
    pose = read_pose(sample_dir / "poses" / "p4.json")
    small = pose.people[0].mapped(lambda x, y: (x * 0.3 - 20, y * 0.3 - 40))
    write_pose(sample_dir / "poses" / "p4-crowd.json",
               dataclasses.replace(pose, people=pose.people + (dataclasses.replace(small, character=None),)))

    def change(project):
        ana = Character(id="ana", name="Ana", reference="cast/ana.png", description="long black hair, red scarf",
                        color="#3bb273")
        bo = Character(id="bo", name="Bo", reference="cast/bo.png", color="#7768ae")
        p4 = dataclasses.replace(project.panel("p4"), characters=("mia", "leo", "ana"), pose="poses/p4-crowd.json")
        p5 = dataclasses.replace(project.panel("p5"), characters=("leo", "mia", "ana"))
        return dataclasses.replace(project.replace_panel(p4).replace_panel(p5), cast=project.cast + (ana, bo))

    update_project(sample_dir, change)
    return sample_dir


def request_for(root: Path, panel_id: str, size: tuple[int, int] = SIZE, **changes) -> RenderRequest:
    project = load_project(root)
    request = build_request(root, project, project.panel(panel_id), project_style(project), 7, size, STEPS)
    return dataclasses.replace(request, **changes)


def outside(box: tuple[int, int, int, int], size: tuple[int, int], reach: int) -> np.ndarray:
    """True beyond a region's feathered edge."""
    keep = np.ones(size[::-1], dtype=bool)
    left, top, right, bottom = box
    keep[max(0, top - reach):bottom + reach, max(0, left - reach):right + reach] = False
    return keep


def rgb(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB")).astype(np.int16)


# ---------------------------------------------------------------- through the CLI


def test_three_characters_through_the_cli_add_the_third_in_its_region_and_keep_the_rest(crowd: Path,
                                                                                         models: Path) -> None:
    args = [sys.executable, "-m", "storyboard", "render", str(crowd), "--engine", "storymaker", "--models", str(models),
            "--panels", "p4,p5", "--steps", str(STEPS), "--max-side", "64", "--force"]
    three = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert three.returncode == 0, three.stderr[-3000:]
    assert three.stderr.count("3 characters: StoryMaker draws the first 2 and adds Ana by regional inpainting "
                              "passes") == 2 and LIKENESS in three.stderr
    project = load_project(crowd)
    takes, regions = {}, {}
    for pid in ("p4", "p5"):
        takes[pid] = project.panel(pid).selected_take
        size = Image.open(crowd / takes[pid].file).size
        # Ana's region: from her skeleton in p4, from the default staging in p5 (no pose)
        regions[pid] = character_regions(request_for(crowd, pid, size))[0][2]
    assert regions["p4"][1] == 2 and regions["p5"][1] is None
    update_project(crowd, lambda p: p.replace_panel(dataclasses.replace(p.panel("p4"), characters=("mia", "leo")))
                   .replace_panel(dataclasses.replace(p.panel("p5"), characters=("leo", "mia"))))
    two = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert two.returncode == 0, two.stderr[-3000:]
    assert "regional" not in two.stderr
    project = load_project(crowd)
    for pid in ("p4", "p5"):
        old, new = takes[pid], project.panel(pid).selected_take
        assert old.seed == new.seed and old.inputs != new.inputs
        crowded, pair = rgb(crowd / old.file), rgb(crowd / new.file)
        size = (crowded.shape[1], crowded.shape[0])
        box = regions[pid][0]
        keep = outside(box, size, 2 * feather_px(size))
        assert keep.mean() > 0.3, f"{pid}: the region {box} leaves some of the {size} panel outside"
        assert np.array_equal(crowded[keep], pair[keep]), f"{pid}: beyond the feathered region the pixels are the pair's"
        left, top, right, bottom = box
        assert not np.array_equal(crowded[top:bottom, left:right], pair[top:bottom, left:right]), \
            f"{pid}: Ana is painted into her region"


# ---------------------------------------------------------------- in the engine


def test_one_and_two_characters_render_exactly_as_before(engine, crowd: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The regional passes leave 1-2 character panels alone: one run, the released path, the same pixels."""
    def no_retouch(*args, **kwargs):
        raise AssertionError("a panel of one or two characters makes no regional pass")

    for pid, characters in (("p3", ("mia",)), ("p4", ("mia", "leo")), ("p5", ("leo", "mia"))):
        request = request_for(crowd, pid)
        request = dataclasses.replace(request, characters=tuple(c for c in request.characters if c.id in characters))
        released = np.asarray(engine._run(request, RenderContext()).image)  # what render() always ran
        with monkeypatch.context() as patch:
            patch.setattr(engine, "retouch", no_retouch)
            result = engine.render(request, RenderContext())
        assert np.array_equal(np.asarray(result.image), released), pid
        assert "regional" not in result.metadata and not any(LIKENESS in w for w in result.metadata["warnings"])


def test_four_characters_each_pass_sees_only_its_own_character_skeleton_and_seed(engine, crowd: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    project = load_project(crowd)
    bo = build_request(crowd, project, dataclasses.replace(project.panel("p4"), characters=("bo",)),
                       project_style(project), 7, SIZE, STEPS).characters[0]
    request = request_for(crowd, "p4")
    request = dataclasses.replace(request, characters=request.characters + (bo,))
    pose = request.pose
    tokens_for, pose_maps, steps = [], [], []
    real_tokens, real_map = engine.image_tokens, engine.pose_map
    monkeypatch.setattr(engine, "image_tokens", lambda chars, *a: tokens_for.append([c.id for c in chars])
                        or real_tokens(chars, *a))
    monkeypatch.setattr(engine, "pose_map", lambda p, r, *a: pose_maps.append(p) or real_map(p, r, *a))
    result = engine.render(request, RenderContext(on_progress=lambda step, total: steps.append((step, total))))
    assert tokens_for == [["mia", "leo"], ["ana"], ["bo"]], "the first two together, then each alone (position 0)"
    assert len(pose_maps[0].people) == 3, "the first pass sees the whole pose"
    assert [p.people for p in pose_maps[1:]] == [(pose.people[2],)], "Ana's pass: her skeleton only; Bo has none"
    assert steps == [(i, 3 * STEPS) for i in range(1, 3 * STEPS + 1)], "progress counts every pass's steps"
    regional = result.metadata["regional"]
    assert [(r["character"], r["seed"], r["skeleton"]) for r in regional] == [
        ("ana", pass_seed(7, 2), True), ("bo", pass_seed(7, 3), False)]
    assert result.metadata["warnings"][0] == ("4 characters: StoryMaker draws the first 2 and adds Ana and Bo by "
                                              "regional inpainting passes; the released model was trained on one or "
                                              "two characters, so likeness is weaker past two")
    first_two = np.asarray(engine.render(dataclasses.replace(request, characters=request.characters[:2]),
                                         RenderContext()).image).astype(np.int16)
    image = np.asarray(result.image).astype(np.int16)
    keep = np.ones(SIZE[::-1], dtype=bool)
    for r in regional:
        keep &= outside(tuple(r["box"]), SIZE, 2 * feather_px(SIZE))
    assert np.array_equal(image[keep], first_two[keep])
    assert np.array_equal(np.asarray(engine.render(request, RenderContext()).image), np.asarray(result.image)), \
        "same seed, same take"
    other = engine.render(dataclasses.replace(request, seed=8), RenderContext())
    assert [r["seed"] for r in other.metadata["regional"]] == [pass_seed(8, 2), pass_seed(8, 3)]


def test_five_characters_are_refused_and_a_missing_photo_before_any_pass(engine, crowd: Path) -> None:
    request = request_for(crowd, "p4")
    five = dataclasses.replace(request, characters=(request.characters * 2)[:5])
    with pytest.raises(EngineError, match=r"5 characters; StoryMaker renders at most 4 .*Split the scene"):
        engine.render(five, RenderContext())
    steps: list[int] = []
    nameless = dataclasses.replace(request.characters[2], reference=None)
    with pytest.raises(EngineError, match="Ana has no reference photo"):
        engine.render(dataclasses.replace(request, characters=request.characters[:2] + (nameless,)),
                      RenderContext(on_progress=lambda step, total: steps.append(step)))
    assert steps == [], "refused before the first pass"


def test_cancel_in_a_regional_pass_stops_the_render(engine, crowd: Path) -> None:
    import threading

    cancel = threading.Event()

    def on_progress(step: int, total: int) -> None:
        if step == STEPS + 1:  # the first step of Ana's pass
            cancel.set()

    with pytest.raises(RenderCancelled):
        engine.render(request_for(crowd, "p4"), RenderContext(on_progress=on_progress, cancel_event=cancel))


def test_a_retouch_of_a_three_character_panel_draws_the_characters_it_covers(engine, crowd: Path) -> None:
    request = request_for(crowd, "p4")
    (box, _), = character_regions(request)[0][2:]
    take = engine.render(request, RenderContext()).image
    mask = Image.new("L", SIZE, 0)
    mask.paste(255, box)
    result = engine.retouch(request, take, mask, RenderContext())
    assert any("the retouch draws" in w and "Ana" in w for w in result.metadata["warnings"])
