"""Scoring detects each reference face once per story, not once per take or per run (issue 13, item 5).

What a reference photo gives the metrics (its ArcFace identity, its crop's CLIP embedding) is found once per photo
content and kept in memory and in `<project>/.cache/references/`; the tiny models of tests/tiny_models stand in.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from storyboard.storyfile import load_project  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

STORY = textwrap.dedent("""\
    schema: 1
    title: Cached references
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
          - {file: renders/p1/3.png, seed: 3, engine: storymaker}
        selected: 0
      - id: p2
        prompt: "{mia} and {leo} talk"
        characters: [mia, leo]
        takes:
          - {file: renders/p2/1.png, seed: 1, engine: storymaker}
          - {file: renders/p2/2.png, seed: 2, engine: storymaker}
        selected: 0
    """)
TAKES = 5
REFERENCES = 2  # mia and leo


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from tiny_models import clip as tiny_clip
    from tiny_models.face import build_tiny_buffalo

    root = tmp_path_factory.mktemp("models")
    saved = dict(tiny_clip.TINY_TEXT)
    tiny_clip.TINY_TEXT["vocab_size"] = 49408  # CLIP-T needs the tokenizer's whole vocabulary
    try:
        clip = tiny_clip.build_tiny_clip(root)
    finally:
        tiny_clip.TINY_TEXT.update(saved)
    return {"face": build_tiny_buffalo(root), "clip": clip}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    from tiny_models.face import face_image, person_mask

    root = tmp_path / "story"
    for sub in ("cast", "renders/p1", "renders/p2"):
        (root / sub).mkdir(parents=True)
    face_image(seed=1).save(root / "cast/mia.png")
    person_mask().save(root / "cast/mia_mask.png")
    face_image(seed=2).save(root / "cast/leo.png")
    for i in (1, 2, 3):
        face_image(seed=10 + i).save(root / f"renders/p1/{i}.png")
    for i in (1, 2):
        canvas = Image.new("RGB", (768, 384))
        canvas.paste(face_image(seed=20 + i), (0, 0))
        canvas.paste(face_image(seed=30 + i), (384, 0))
        canvas.save(root / f"renders/p2/{i}.png")
    (root / "story.yaml").write_text(STORY)
    return root


def counting_scorer(models: dict[str, Path]):
    """A fresh Scorer (a new run) whose encoder counts face detections and CLIP image embeddings."""
    from storyboard.engines.storymaker.encoding import CharacterEncoder
    from storyboard.metrics import Scorer

    encoder = CharacterEncoder(models["face"], models["clip"])
    calls = {"detect": 0, "embed": 0}
    detect, embed = encoder.detect_faces, encoder.image_embeddings

    def counted_detect(image):
        calls["detect"] += 1
        return detect(image)

    def counted_embed(images):
        calls["embed"] += len(images)
        return embed(images)

    encoder.detect_faces, encoder.image_embeddings = counted_detect, counted_embed
    return Scorer(encoder), calls


def score_all(scorer, root: Path, force: bool = False) -> list:
    project = load_project(root)
    return [scorer.score_take(root, project, panel, take, force=force) for panel in project.panels for take in panel.takes]


def test_each_reference_face_is_detected_once_per_story(models: dict[str, Path], project: Path) -> None:
    scorer, calls = counting_scorer(models)
    first = score_all(scorer, project)
    assert calls["detect"] == TAKES + REFERENCES, "each take once, and each reference photo once for all five takes"
    assert calls["embed"] == TAKES + REFERENCES  # the same for the reference crops' CLIP embeddings
    kept = sorted(p.name.split("-")[0] for p in (project / ".cache" / "references").glob("*.npy"))
    assert kept == ["crop", "crop", "identity", "identity"]

    again, calls = counting_scorer(models)  # another run (the score command, or a later render)
    second = score_all(again, project, force=True)
    assert calls["detect"] == TAKES and calls["embed"] == TAKES, "the references come from the project's cache"
    assert [t.scores for t in second] == [t.scores for t in first]


def test_a_changed_photo_is_detected_again(models: dict[str, Path], project: Path) -> None:
    from tiny_models.face import face_image

    score_all(counting_scorer(models)[0], project)
    face_image(seed=7).save(project / "cast" / "leo.png")  # a new photo of Leo: its content, not its name, is the key
    scorer, calls = counting_scorer(models)
    score_all(scorer, project, force=True)
    assert calls["detect"] == TAKES + 1


def test_a_damaged_cache_file_is_found_again_not_trusted(models: dict[str, Path], project: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    first = score_all(counting_scorer(models)[0], project)
    for path in (project / ".cache" / "references").glob("identity-*.npy"):
        path.write_bytes(b"not numpy")
    scorer, calls = counting_scorer(models)
    again = score_all(scorer, project, force=True)
    assert calls["detect"] == TAKES + REFERENCES
    assert "damaged reference cache" in caplog.text
    assert [t.scores for t in again] == [t.scores for t in first]


def test_without_a_project_nothing_is_written(models: dict[str, Path], tmp_path: Path) -> None:
    from storyboard.engines import CharacterRef
    from tiny_models.face import face_image

    photo = tmp_path / "ana.png"
    face_image(seed=4).save(photo)
    scorer, calls = counting_scorer(models)
    ana = CharacterRef(id="ana", name="Ana", color="#000000", reference=photo)
    for seed in (5, 6, 7):
        scorer.measure(face_image(seed=seed), (ana,), "a person")
    assert calls["detect"] == 3 + 1  # in memory for this scorer's life (storyboard.eval)
    assert not (tmp_path / ".cache").exists()
    assert np.asarray(scorer.reference_identity(ana)).shape == (512,)
