"""Consistency metrics (issue 8): Face Sim, CLIP-I, CLIP-T per take on tiny models; caching; drift; best-of-N;
the render hook; the score command; the PDF appendix.

The tiny face detector finds magenta marker squares (tests/tiny_models/face.py); its recognition net and the tiny
CLIP have random weights, so they tell little apart: the tests check definitions (against insightface and
open_clip called directly), identities (1.0 for the same pixels), matching, caching and plumbing, not quality.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyboard.cli import main  # noqa: E402
from storyboard.engines import CharacterRef, RenderResult  # noqa: E402
from storyboard.errors import StoryboardError  # noqa: E402
from storyboard.metrics import match_faces, score_project  # noqa: E402
from storyboard.scores import (  # noqa: E402
    CLIP_I,
    CLIP_T,
    FACE_SIM,
    DriftFlag,
    NotScorable,
    best_index,
    drift_flags,
    format_scores,
    make_thresholds,
    metric_scores,
    pick_best,
)
from storyboard.model import Take  # noqa: E402
from storyboard.store import project_lock  # noqa: E402
from storyboard.storyfile import load_project, save_project  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

PDFTOTEXT = shutil.which("pdftotext")


# ---------------------------------------------------------------- pure functions (no models)


def take(*scores: tuple[str, float], engine: str = "storymaker", file: str = "t.png") -> Take:
    return Take(file=file, seed=1, engine=engine, scores=tuple(scores))


@pytest.mark.parametrize(("values", "expected"), [
    ([0.2, 0.9, 0.5], 1),
    ([0.9, 0.9, 0.1], 0),  # ties go to the first
    ([None, 0.3, None], 1),  # takes without the score are passed over
    ([-0.2, -0.1], 1),
    ([None, None], None),
    ([], None),
])
def test_pick_best_picks_the_highest(values: list[float | None], expected: int | None) -> None:
    takes = [take(*(((FACE_SIM, v),) if v is not None else ()), file=f"{i}.png") for i, v in enumerate(values)]
    assert best_index(takes, FACE_SIM) == expected
    assert pick_best(takes, FACE_SIM) == (None if expected is None else takes[expected])


def test_pick_best_by_another_score_and_unknown_scores() -> None:
    takes = [take((FACE_SIM, 0.9), (CLIP_T, 20.0)), take((FACE_SIM, 0.1), (CLIP_T, 30.0))]
    assert pick_best(takes) is takes[0], "identity (face_sim) by default"
    assert pick_best(takes, CLIP_T) is takes[1]
    with pytest.raises(StoryboardError, match="Unknown score 'beauty'"):
        pick_best(takes, "beauty")


@pytest.mark.parametrize(("similarity", "expected"), [
    ([[0.9, 0.2], [0.8, 0.3]], [0, 1]),  # greedy would give both the first face; assignment keeps them distinct
    ([[0.2, 0.9], [0.9, 0.2]], [1, 0]),  # characters placed right-to-left are still matched
    ([[0.1], [0.5]], [None, 0]),  # one face for two characters: it goes to the more similar one
    ([[-0.4]], [0]),  # a lone face is matched even when dissimilar: a low score, not a missing one
    ([[0.3, 0.95, 0.4]], [1]),
    ([], []),
])
def test_faces_are_matched_to_characters_by_optimal_assignment(similarity, expected) -> None:
    assert match_faces(similarity) == expected


def test_drift_flags_per_character_and_thresholds() -> None:
    two = take((FACE_SIM, 0.55), (CLIP_I, 0.8), (CLIP_T, 25.0), ("faces", 2.0), ("face_sim.mia", 0.9),
               ("face_sim.leo", 0.2), ("clip_i.mia", 0.82), ("clip_i.leo", 0.78))
    flags = drift_flags(two, characters=("mia", "leo"))
    assert flags == [DriftFlag(FACE_SIM, 0.2, 0.40, "leo")]
    assert "leo: drifted: Face Sim 0.20 < 0.4" in flags[0].message
    assert drift_flags(two, {FACE_SIM: 0.1}) == [], "thresholds come from settings"
    assert {f.character for f in drift_flags(two, {FACE_SIM: 0.95})} == {"mia", "leo"}

    one = take((FACE_SIM, 0.0), (CLIP_I, 0.5), (CLIP_T, 10.0), ("faces", 0.0))
    flags = drift_flags(one, characters=("mia",))
    assert [(f.metric, f.character) for f in flags] == [(FACE_SIM, "mia"), (CLIP_I, "mia"), (CLIP_T, None)]
    assert flags[0].no_face and "no matching face" in flags[0].message
    assert "drifted from the prompt" in flags[2].message
    assert drift_flags(take((CLIP_T, 25.0))) == [], "a panel without characters has only CLIP-T"


def test_thresholds_are_checked() -> None:
    assert make_thresholds() == {FACE_SIM: 0.40, CLIP_I: 0.65, CLIP_T: 18.0}
    assert make_thresholds({CLIP_T: 25, FACE_SIM: None})[CLIP_T] == 25.0
    with pytest.raises(StoryboardError, match="Unknown drift threshold 'face'"):
        make_thresholds({"face": 0.3})
    with pytest.raises(StoryboardError, match="Face Sim threshold must be a number from -1 to 1"):
        make_thresholds({FACE_SIM: 3.0})


def test_format_scores_and_draft_takes_say_why_they_are_not_scored() -> None:
    scored = take((FACE_SIM, 0.712), (CLIP_I, 0.8), (CLIP_T, 24.26), ("faces", 1.0), ("face_sim.mia", 0.712))
    assert format_scores(scored) == "Face Sim 0.71 · CLIP-I 0.80 · CLIP-T 24.3"
    assert metric_scores(scored) == {FACE_SIM: 0.712, CLIP_I: 0.8, CLIP_T: 24.26}, "bookkeeping entries are not scores"
    assert "stick figures" in format_scores(take(engine="draft"))
    assert "not scored yet" in format_scores(take())


# ---------------------------------------------------------------- tiny models


def build_clip_with_text(dest: Path) -> Path:
    """The tiny open_clip folder with CLIP's real 49,408-token vocabulary, so CLIP-T can tokenize real prompts."""
    from tiny_models import clip as tiny_clip

    saved = dict(tiny_clip.TINY_TEXT)
    tiny_clip.TINY_TEXT["vocab_size"] = 49408
    try:
        return tiny_clip.build_tiny_clip(dest)
    finally:
        tiny_clip.TINY_TEXT.update(saved)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny_models.face import build_tiny_buffalo

    root = tmp_path_factory.mktemp("models")
    return {"face": build_tiny_buffalo(root), "clip": build_clip_with_text(root), "root": root}


@pytest.fixture(scope="module")
def scorer(models: dict[str, Path]):
    from storyboard.engines.storymaker.encoding import CharacterEncoder
    from storyboard.metrics import Scorer

    return Scorer(CharacterEncoder(models["face"], models["clip"]))


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny_models.face import face_image, no_face_image, person_mask

    folder = tmp_path_factory.mktemp("photos")
    files = {"mia": folder / "mia.png", "mia_mask": folder / "mia_mask.png", "leo": folder / "leo.png",
             "nobody": folder / "nobody.png"}
    face_image(seed=1).save(files["mia"])
    person_mask().save(files["mia_mask"])
    face_image(seed=2).save(files["leo"])
    no_face_image(seed=3).save(files["nobody"])
    return files


def ref(photos: dict[str, Path], name: str, mask: bool = False) -> CharacterRef:
    return CharacterRef(id=name, name=name.title(), color="#e4572e", reference=photos[name],
                        mask=photos[f"{name}_mask"] if mask else None)


def side_by_side(left: Path, right: Path) -> Image.Image:
    """Two 384 px photos on one 768 x 384 canvas (scale factors the tiny detector resolves exactly)."""
    canvas = Image.new("RGB", (768, 384))
    canvas.paste(Image.open(left).convert("RGB"), (0, 0))
    canvas.paste(Image.open(right).convert("RGB"), (384, 0))
    return canvas


def test_identical_images_give_clip_i_one_and_the_same_face_gives_face_sim_one(scorer, photos) -> None:
    mia = ref(photos, "mia", mask=True)
    crop = scorer.encoder.reference_crop(mia)
    assert crop.size == (224, 224)
    assert scorer.measure(crop, (mia,), "a person").clip_i[0] == pytest.approx(1.0, abs=1e-5)
    same = scorer.measure(Image.open(photos["mia"]), (mia,), "a person")
    assert same.face_sim[0] == pytest.approx(1.0, abs=1e-5) and same.faces == 1


def test_face_sim_matches_faces_wherever_the_characters_stand(scorer, photos) -> None:
    mia, leo = ref(photos, "mia"), ref(photos, "leo")
    # Leo stands left, Mia right, but the panel lists Mia first: matching by position would swap them.
    result = scorer.measure(side_by_side(photos["leo"], photos["mia"]), (mia, leo), "two people talking")
    assert result.faces == 2
    assert result.face_sim == pytest.approx((1.0, 1.0), abs=1e-5)
    cross = scorer.measure(Image.open(photos["leo"]), (mia,), "a person").face_sim[0]
    assert cross < 0.99, "the tiny recognition net must tell the two faces apart for this test to mean anything"
    scores = dict(result.scores(["mia", "leo"]))
    assert scores["face_sim.mia"] == pytest.approx(1.0, abs=1e-5) and scores["faces"] == 2
    assert set(scores) == {FACE_SIM, CLIP_I, CLIP_T, "faces", "face_sim.mia", "face_sim.leo", "clip_i.mia", "clip_i.leo"}


def test_a_take_without_a_face_scores_zero_and_a_missing_second_face_too(scorer, photos) -> None:
    mia, leo = ref(photos, "mia"), ref(photos, "leo")
    nobody = scorer.measure(Image.open(photos["nobody"]), (mia,), "a person")
    assert nobody.faces == 0 and nobody.face_sim == (0.0,)
    one_face = scorer.measure(side_by_side(photos["nobody"], photos["leo"]), (mia, leo), "two people")
    assert one_face.faces == 1
    assert one_face.face_sim[1] == pytest.approx(1.0, abs=1e-5) and one_face.face_sim[0] == 0.0


def test_metrics_follow_their_definitions_with_the_models_called_directly(scorer, models, photos) -> None:
    """Face Sim = ArcFace cosine (insightface), CLIP-I = cosine of encode_image, CLIP-T = 100 x cosine with encode_text."""
    import open_clip
    import torch
    from insightface.app import FaceAnalysis

    mia = ref(photos, "mia", mask=True)
    picture = Image.open(photos["leo"]).convert("RGB")
    prompt = "a person in a green raincoat at a bus stop"
    measured = scorer.measure(picture, (mia,), prompt)

    app = FaceAnalysis(name=str(models["face"] / "models" / "buffalo_l"), root=str(models["face"]),
                       allowed_modules=["detection", "recognition"], providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(640, 640))
    reference = app.get(np.asarray(Image.open(photos["mia"]).convert("RGB"))[:, :, ::-1].copy())[0].normed_embedding
    found = app.get(np.asarray(picture)[:, :, ::-1].copy())[0].normed_embedding
    assert measured.face_sim[0] == pytest.approx(float(np.dot(reference, found)), abs=1e-5)

    model, _, preprocess = open_clip.create_model_and_transforms("local-dir:" + str(models["clip"]))
    tokenizer = open_clip.get_tokenizer("local-dir:" + str(models["clip"]))
    with torch.no_grad():
        images = torch.stack([preprocess(scorer.encoder.reference_crop(mia)), preprocess(picture)])
        crop_embedding, picture_embedding = model.encode_image(images, normalize=True)
        text_embedding = model.encode_text(tokenizer([prompt]), normalize=True)[0]
    assert measured.clip_i[0] == pytest.approx(float(crop_embedding @ picture_embedding), abs=1e-5)
    assert measured.clip_t == pytest.approx(100 * float(picture_embedding @ text_embedding), abs=1e-3)


def test_a_clip_model_without_the_real_text_vocabulary_is_named(models, photos, tmp_path: Path) -> None:
    from tiny_models.clip import build_tiny_clip

    from storyboard.engines.storymaker.encoding import CharacterEncoder
    from storyboard.errors import EngineUnavailable
    from storyboard.metrics import Scorer

    small = Scorer(CharacterEncoder(models["face"], build_tiny_clip(tmp_path)))  # vocabulary of 1000 tokens
    with pytest.raises(EngineUnavailable, match="text vocabulary of 1000 tokens"):
        small.measure(Image.open(photos["mia"]), (ref(photos, "mia"),), "a person")


# ---------------------------------------------------------------- takes in a project: caching and story.yaml


STORY = textwrap.dedent("""\
    schema: 1
    title: Scores
    style: ink-comic
    cast:
      - id: mia
        name: Mia
        reference: cast/mia.png
        mask: cast/mia_mask.png
      - id: leo
        name: Leo
        reference: cast/leo.png
    panels:
      - id: p1
        prompt: "{mia} waits at the bus stop"
        characters: [mia]
        takes:
          - {file: renders/p1/1.png, seed: 1, engine: storymaker}
          - {file: renders/p1/2.png, seed: 2, engine: storymaker}
        selected: 0
      - id: p2
        prompt: "{mia} and {leo} talk"
        characters: [mia, leo]
        takes:
          - {file: renders/p2/1.png, seed: 1, engine: storymaker}
        selected: 0
      - id: p3
        prompt: the empty office
        takes:
          - {file: renders/p3/1.png, seed: 1, engine: draft}
        selected: 0
    """)


@pytest.fixture
def scored_project(tmp_path: Path, photos: dict[str, Path]) -> Path:
    root = tmp_path / "proj"
    for sub in ("cast", "renders/p1", "renders/p2", "renders/p3"):
        (root / sub).mkdir(parents=True)
    for name in ("mia", "mia_mask", "leo"):
        shutil.copy(photos[name], root / "cast" / f"{name}.png")
    shutil.copy(photos["mia"], root / "renders/p1/1.png")  # the reference itself: Face Sim 1
    shutil.copy(photos["nobody"], root / "renders/p1/2.png")  # no face: Face Sim 0, flagged
    side_by_side(photos["leo"], photos["mia"]).save(root / "renders/p2/1.png")
    Image.new("RGB", (64, 64), "white").save(root / "renders/p3/1.png")
    (root / "story.yaml").write_text(STORY)
    return root


def test_scores_are_cached_in_story_yaml_and_a_changed_take_is_measured_again(scorer, scored_project: Path, photos,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    root = scored_project
    project = load_project(root)
    panel = project.panel("p1")
    first = scorer.score_take(root, project, panel, panel.takes[0])
    assert first.score(FACE_SIM) == pytest.approx(1.0, abs=1e-4) and first.scored is not None
    project = project.replace_panel(dataclasses.replace(panel, takes=(first,) + panel.takes[1:]))
    with project_lock(root):
        save_project(root, project)
    project = load_project(root)  # through story.yaml
    stored = project.panel("p1").takes[0]
    assert stored.scored == first.scored

    def no_models(*args, **kwargs):
        raise AssertionError("a current take must not run the models")

    with monkeypatch.context() as patch:
        for name in ("detect_faces", "image_embeddings", "text_embeddings"):
            patch.setattr(scorer.encoder, name, no_models)
        before = scorer.measured
        again = scorer.score_take(root, project, project.panel("p1"), stored)
        assert again is stored and scorer.measured == before

    shutil.copy(photos["leo"], root / "renders/p1/1.png")  # the take file changes
    changed = scorer.score_take(root, project, project.panel("p1"), stored)
    assert scorer.measured == before + 1
    assert changed.scored != stored.scored
    assert changed.score(FACE_SIM) < 0.99

    reworded = project.replace_panel(dataclasses.replace(project.panel("p1"), prompt="{mia} runs"))
    scorer.score_take(root, reworded, reworded.panel("p1"), changed)
    assert scorer.measured == before + 2, "a changed prompt changes CLIP-T: measured again"


def test_score_project_scores_every_take_skips_drafts_and_saves(scorer, scored_project: Path) -> None:
    root = scored_project
    statuses: list[tuple[str, str, str]] = []
    project, report = score_project(root, load_project(root), scorer, on_take=lambda p, t, s: statuses.append((p.id, t.file, s)))
    assert len(report.measured) == 3 and report.cached == ()
    assert report.skipped == (("p3", "renders/p3/1.png", "draft takes are stick figures: there is no face or likeness to measure"),)
    saved = load_project(root)
    p1, p2, p3 = saved.panels
    assert p1.takes[1].score(FACE_SIM) == 0.0 and p1.takes[1].score("faces") == 0.0
    assert p2.takes[0].score("face_sim.leo") == pytest.approx(1.0, abs=1e-4)
    assert p3.takes[0].scores == (), "no fake numbers for draft takes"
    _, again = score_project(root, saved, scorer)
    assert again.measured == () and len(again.cached) == 3
    with pytest.raises(NotScorable, match="stick figures"):
        scorer.score_take(root, saved, p3, p3.takes[0])


# ---------------------------------------------------------------- render hook and best-of-N (no models)


class SeedEngine:
    """Renders a flat colour per seed; stands in for StoryMaker to test the render hooks."""

    name = "storymaker"
    version = "test"

    def describe(self) -> str:
        return "test engine"

    def render(self, request, context) -> RenderResult:
        return RenderResult(Image.new("RGB", (request.width, request.height), (request.seed % 256, 0, 0)), {"seconds": 0.0})


def seed_scorer(root: Path, project, panel, take: Take) -> Take:
    """Face Sim from the seed: 7 is the best."""
    return dataclasses.replace(take, scores=((FACE_SIM, 1.0 - abs(take.seed - 7) / 10), (CLIP_T, 20.0)))


def test_variations_keep_the_best_take_by_the_chosen_score(project_dir: Path) -> None:
    from storyboard.render import RenderOptions, render_variations

    project = load_project(project_dir)
    project = project.replace_panel(dataclasses.replace(project.panel("p1"), seed=3))
    events = []
    result = render_variations(project_dir, project, SeedEngine(), "p1", 6, on_panel=events.append,
                               options=RenderOptions(max_side=64), scorer=seed_scorer, keep_best=FACE_SIM)
    panel = result.panel("p1")
    assert [t.seed for t in panel.takes] == [4, 5, 6, 7, 8, 9]
    assert panel.selected_take.seed == 7 and panel.seed == 7
    assert [dict(e.scores)[FACE_SIM] for e in events] == pytest.approx([0.7, 0.8, 0.9, 1.0, 0.9, 0.8])
    assert load_project(project_dir).panel("p1").selected_take.seed == 7, "the choice is saved"
    with pytest.raises(StoryboardError, match="needs scores"):
        render_variations(project_dir, result, SeedEngine(), "p1", 2, keep_best=FACE_SIM)


def test_a_scoring_failure_keeps_the_take(project_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    from storyboard.render import RenderOptions, render_project

    def broken(root, project, panel, take):
        raise StoryboardError("no face in the reference photo of Mia")

    project = render_project(project_dir, load_project(project_dir), SeedEngine(), ["p1"], scorer=broken,
                             options=RenderOptions(max_side=64))
    assert project.panel("p1").selected_take is not None and project.panel("p1").selected_take.scores == ()
    assert "was not scored: no face in the reference photo of Mia" in caplog.text


# ---------------------------------------------------------------- CLI without models


def test_score_without_models_says_what_is_missing(scored_project: Path, tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["score", str(scored_project), "--models", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "buffalo_l" in err and "clip-vit-h-14" in err and "huggingface-cli download" in err
    assert "Traceback" not in err


def test_score_and_keep_best_refuse_draft_takes(project_dir: Path, capsys) -> None:
    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    assert main(["score", str(project_dir)]) == 2
    assert "draft engine, so there is nothing to measure" in capsys.readouterr().err
    assert main(["render", str(project_dir), "--engine", "draft", "--variations", "2", "--keep-best"]) == 2
    assert "stick figures" in capsys.readouterr().err
    assert main(["render", str(project_dir), "--engine", "draft", "--keep-best", "clip_t"]) == 2
    assert "add --variations N" in capsys.readouterr().err


def test_score_command_prints_scores_and_reuses_them(scored_project: Path, models: dict[str, Path], capsys) -> None:
    shutil.copytree(models["face"], models["root"] / "dir" / "insightface", dirs_exist_ok=True)
    shutil.copytree(models["clip"], models["root"] / "dir" / "clip-vit-h-14", dirs_exist_ok=True)
    args = ["score", str(scored_project), "--models", str(models["root"] / "dir")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "* p1     renders/p1/1.png: Face Sim 1.00 · CLIP-I" in out
    assert "renders/p1/2.png: Face Sim 0.00" in out and "DRIFT: mia: no matching face" in out
    assert "not scored (draft takes are stick figures" in out
    assert "3 take(s) measured, 0 unchanged, 1 not scored" in out
    assert main(args) == 0
    assert "0 take(s) measured, 3 unchanged" in capsys.readouterr().out


# ---------------------------------------------------------------- PDF appendix


@pytest.mark.skipif(PDFTOTEXT is None, reason="pdftotext (poppler-utils) is not installed")
def test_export_appendix_lists_scores_and_flags_as_text(scored_project: Path) -> None:
    from pypdf import PdfReader

    root = scored_project
    project = load_project(root)
    p1, p2, p3 = project.panels
    p1 = dataclasses.replace(p1, takes=(dataclasses.replace(p1.takes[0], scores=(
        (FACE_SIM, 0.7123), (CLIP_I, 0.81), (CLIP_T, 24.26), ("faces", 1.0))),) + p1.takes[1:])
    p2 = dataclasses.replace(p2, takes=(dataclasses.replace(p2.takes[0], scores=(
        (FACE_SIM, 0.5), (CLIP_I, 0.7), (CLIP_T, 12.5), ("faces", 2.0), ("face_sim.mia", 0.8), ("face_sim.leo", 0.2),
        ("clip_i.mia", 0.72), ("clip_i.leo", 0.68))),))
    with project_lock(root):
        save_project(root, dataclasses.replace(project, panels=(p1, p2, p3)))

    plain, appendix = root / "plain.pdf", root / "appendix.pdf"
    assert main(["export", str(root), "-o", str(plain), "--no-render"]) == 0
    assert main(["export", str(root), "-o", str(appendix), "--no-render", "--appendix", "--min-clip-t", "15"]) == 0
    assert len(PdfReader(appendix).pages) == len(PdfReader(plain).pages) + 1
    text = " ".join(subprocess.run([PDFTOTEXT, "-raw", str(appendix), "-"], capture_output=True, text=True,
                                   check=True).stdout.split())
    assert "Consistency appendix" in text
    assert "Panel 1 · p1 · Mia" in text and "Face Sim 0.71 · CLIP-I 0.81 · CLIP-T 24.3" in text
    assert "Mia: Face Sim 0.80, CLIP-I 0.72; Leo: Face Sim 0.20, CLIP-I 0.68" in text
    assert "Flag: Leo: drifted: Face Sim 0.20 < 0.4" in text
    assert "Flag: drifted from the prompt: CLIP-T 12.5 < 15" in text, "the threshold flag reaches the appendix"
    assert "Not scored (draft takes are stick figures" in text
    assert "CLIP-T < 15" in text
    assert "Consistency appendix" not in " ".join(subprocess.run([PDFTOTEXT, "-raw", str(plain), "-"], capture_output=True,
                                                                 text=True, check=True).stdout.split())


def test_the_faces_found_are_kept_with_the_take_for_lettering(scorer, photos, scored_project: Path) -> None:
    """Issue 12 item 3: balloons keep off the faces a StoryMaker take has; scoring finds them, story.yaml keeps them."""
    mia, leo = ref(photos, "mia"), ref(photos, "leo")
    result = scorer.measure(side_by_side(photos["leo"], photos["mia"]), (mia, leo), "two people talking")
    boxes = dict(result.face_boxes(["mia", "leo"]))
    assert boxes["mia"][0] >= 0.5 and boxes["leo"][0] + boxes["leo"][2] <= 0.5 + 1e-6, "Mia stands right, Leo left"
    assert all(0 <= v <= 1 for box in boxes.values() for v in box)
    score_project(scored_project, load_project(scored_project), scorer)
    take = load_project(scored_project).panel("p2").takes[0]
    assert dict(take.faces).keys() == boxes.keys()
    for cid, box in take.faces:
        assert box == pytest.approx(boxes[cid], abs=1e-3)
    from storyboard.store import compact

    compact(scored_project)  # the journal of takes and scores, folded into story.yaml
    import re

    assert re.search(r"faces:\s+mia: \[0\.\d+, 0\.\d+, 0\.\d+, 0\.\d+\]", (scored_project / "story.yaml").read_text())
    assert dict(load_project(scored_project).panel("p2").takes[0].faces).keys() == {"mia", "leo"}
