"""The eval command (issue 8, item 3) and scores in `render` output, with the StoryMaker engine on tiny models (CPU)."""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from test_metrics import build_clip_with_text  # noqa: E402
from tiny_models.face import face_image, no_face_image, person_mask  # noqa: E402
from tiny_models.folder import build_tiny_models_dir, mark_faces  # noqa: E402

from storyboard.cli import main  # noqa: E402
from storyboard.eval import DEFAULT_PROMPTS, PER_IMAGE_FIELDS, read_prompts  # noqa: E402
from storyboard.scores import FACE_SIM, pick_best
from storyboard.storyfile import load_project  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny StoryMaker models folder, its CLIP with the real text vocabulary (for CLIP-T)."""
    root = build_tiny_models_dir(tmp_path_factory.mktemp("models"), controlnet=False)
    shutil.rmtree(root / "clip-vit-h-14")
    build_clip_with_text(root)
    return root


@pytest.fixture
def characters(tmp_path: Path) -> Path:
    folder = tmp_path / "characters"
    folder.mkdir()
    face_image(seed=1).save(folder / "ana.png")
    person_mask().save(folder / "ana_mask.png")
    face_image(seed=2).save(folder / "ben.jpg", quality=95)
    no_face_image(seed=3).save(folder / "zoe.png")
    return folder


@pytest.fixture
def prompts(tmp_path: Path) -> Path:
    path = tmp_path / "prompts.txt"
    path.write_text("# two prompts\na person reading on a train\n\na person riding a bicycle, sunset\n")
    return path


def test_eval_writes_per_image_csv_and_the_table_1_summary(tiny_dir: Path, characters: Path, prompts: Path,
                                                           tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "results"
    code = main(["eval", "--characters", str(characters), "--prompts", str(prompts), "--images-per-prompt", "2",
                 "-o", str(out), "--models", str(tiny_dir), "--steps", "2", "--size", "64"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with (out / "per_image.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == PER_IMAGE_FIELDS
    assert len(rows) == 2 * 2 * 2, "2 characters (zoe has no face) x 2 prompts x 2 images"
    assert {r["character"] for r in rows} == {"ana", "ben"}
    assert {r["prompt"] for r in rows} == {"a person reading on a train", "a person riding a bicycle, sunset"}
    assert sorted({int(r["seed"]) for r in rows}) == [0, 1], "the same seeds for every character and prompt"
    for row in rows:
        assert (out / row["image"]).is_file() and Image.open(out / row["image"]).size == (64, 64)
        for name in ("face_sim", "clip_i", "clip_t", "seconds", "score_seconds"):
            float(row[name])
        assert -1 <= float(row["face_sim"]) <= 1 and -1 <= float(row["clip_i"]) <= 1 and float(row["seconds"]) > 0

    summary = (out / "summary.csv").read_text().splitlines()
    assert summary[0].split(",")[:5] == ["characters", "images", "Face Sim", "CLIP-T", "CLIP-I"]
    assert summary[1].startswith("all,8,") and summary[2].startswith("ana,4,") and summary[3].startswith("ben,4,")
    mean_clip_t = sum(float(r["clip_t"]) for r in rows) / len(rows)
    assert float(summary[1].split(",")[3]) == pytest.approx(mean_clip_t, abs=0.01)
    mean_clip_i = sum(float(r["clip_i"]) for r in rows) / len(rows)
    assert float(summary[1].split(",")[4]) == pytest.approx(100 * mean_clip_i, abs=0.01), "CLIP-I in the paper's percent"

    markdown = (out / "summary.md").read_text()
    assert "| Method | Face Sim ↑ | CLIP-T ↑ | CLIP-I ↑ | s / image |" in markdown
    assert "| StoryMaker (this run) |" in markdown and "| StoryMaker (paper, Table 1; 40 × 20 × 4) | 67.36 | 21.75 | 79.51 |" in markdown
    assert "2 characters × 2 prompts × 2 images, 2 steps, 64 px" in markdown
    assert "## Skipped" in markdown and "zoe.png: No face found" in markdown
    assert "Skipping zoe.png" in captured.err
    assert "[8/8] ben, seed 1" in captured.out and "| StoryMaker (this run) |" in captured.out


def test_eval_blend_sweep_prints_the_trade_off_table(tiny_dir: Path, characters: Path, prompts: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture) -> None:
    """Issue 15 item 2: `eval --blend` runs the eval once per identity_start value and prints the Face Sim / CLIP-I /
    CLIP-T trade-off table."""
    out = tmp_path / "sweep"
    args = ["eval", "--characters", str(characters), "--prompts", str(prompts), "--images-per-prompt", "1", "-o", str(out),
            "--models", str(tiny_dir), "--steps", "4", "--size", "64"]
    assert main(args + ["--blend", "0,2"]) == 2 and "from 0 (the released behaviour) to 0.9" in capsys.readouterr().err
    code = main(args + ["--blend", "0,0.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "| Characters join after | Face Sim ↑ | CLIP-I ↑ | CLIP-T ↑ | s / image | Images |" in captured.out
    assert "| step 0 (released) |" in captured.out and "| 50% of the steps |" in captured.out
    rows = (out / "blend_sweep.csv").read_text().splitlines()
    assert rows[0] == "identity_start,images,Face Sim,CLIP-I,CLIP-T,seconds per image"
    assert [r.split(",")[:2] for r in rows[1:]] == [["0", "4"], ["0.5", "4"]], "2 characters x 2 prompts x 1 image each"
    assert (out / "blend_sweep.md").read_text().startswith("| Characters join after")
    for folder in ("blend-0", "blend-0.5"):
        assert (out / folder / "per_image.csv").is_file() and (out / folder / "summary.md").is_file()
    released, blended = (out / "blend-0" / "images" / "ana" / "01-0.png"), (out / "blend-0.5" / "images" / "ana" / "01-0.png")
    assert Image.open(released).tobytes() != Image.open(blended).tobytes()


@pytest.mark.parametrize(("setup", "words"), [
    ("empty", ["There are no character photos in", ".png"]),
    ("no prompts file", ["The prompts file", "does not exist"]),
    ("blank prompts", ["has no prompts"]),
])
def test_eval_input_errors_come_before_any_model_loads(setup: str, words: list[str], tmp_path: Path, characters: Path,
                                                       prompts: Path, capsys: pytest.CaptureFixture) -> None:
    folder = characters
    if setup == "empty":
        folder = tmp_path / "nobody-here"
        folder.mkdir()
        (folder / "notes.txt").write_text("not a photo")
    elif setup == "no prompts file":
        prompts = tmp_path / "missing.txt"
    else:
        prompts.write_text("# only a comment\n\n")
    missing_models = tmp_path / "no-models"  # would fail later with another message: the input check comes first
    code = main(["eval", "--characters", str(folder), "--prompts", str(prompts), "-o", str(tmp_path / "out"),
                 "--models", str(missing_models)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    for word in words:
        assert word in err


def test_eval_fails_when_no_photo_has_a_face(tiny_dir: Path, tmp_path: Path, prompts: Path, capsys) -> None:
    folder = tmp_path / "faceless"
    folder.mkdir()
    no_face_image(seed=1).save(folder / "a.png")
    code = main(["eval", "--characters", str(folder), "--prompts", str(prompts), "-o", str(tmp_path / "out"),
                 "--models", str(tiny_dir), "--steps", "1", "--size", "64"])
    assert code == 2 and "None of the 1 photo(s)" in capsys.readouterr().err


def test_eval_without_models_says_what_is_missing(tmp_path: Path, characters: Path, prompts: Path, capsys) -> None:
    (tmp_path / "models").mkdir()
    code = main(["eval", "--characters", str(characters), "--prompts", str(prompts), "-o", str(tmp_path / "out"),
                 "--models", str(tmp_path / "models")])
    err = capsys.readouterr().err
    assert code == 2 and "missing" in err and "buffalo_l" in err and "Traceback" not in err


def test_the_shipped_prompts_are_twenty_distinct_prompts() -> None:
    shipped = read_prompts(DEFAULT_PROMPTS)
    assert len(shipped) == 20 and len(set(shipped)) == 20
    assert all("person" in p for p in shipped), "one person per prompt, as the protocol renders one character"


def test_render_shows_scores_and_keeps_the_best_variation(tiny_dir: Path, sample_dir: Path, capsys) -> None:
    mark_faces(sample_dir)
    args = ["render", str(sample_dir), "--engine", "storymaker", "--models", str(tiny_dir), "--steps", "2",
            "--max-side", "64", "--panels", "p3"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "scores: Face Sim " in out and "CLIP-I " in out and "CLIP-T " in out
    take = load_project(sample_dir).panel("p3").selected_take
    assert take.score(FACE_SIM) is not None and take.score("clip_t") is not None, "scores are saved in story.yaml"

    assert main(args + ["--variations", "3", "--keep-best"]) == 0
    out = capsys.readouterr().out
    assert out.count("scores: Face Sim ") == 3 and "the best of 3 by face_sim" in out
    panel = load_project(sample_dir).panel("p3")
    new = panel.takes[-3:]
    assert panel.selected_take == pick_best(new, FACE_SIM)

    assert main(args + ["--no-scores", "--force"]) == 0
    assert "scores:" not in capsys.readouterr().out
