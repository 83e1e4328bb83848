"""The command line as a user runs it: new, validate, render (draft), styles; errors without tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from PIL import Image

from conftest import REPO
from storyboard.cli import main
from storyboard.errors import StoryboardError
from storyboard.storyfile import load_project


def run(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "storyboard", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def takes_on_disk(root: Path) -> list[Path]:
    return sorted((root / "renders").rglob("*.png"))


def test_sample_validates_renders_once_and_force_rerenders(sample_dir: Path) -> None:
    result = run("validate", str(sample_dir))
    assert result.returncode == 0, result.stderr
    assert "OK:" in result.stdout

    result = run("render", str(sample_dir), "--engine", "draft")
    assert result.returncode == 0, result.stderr
    project = load_project(sample_dir)
    assert len(project.panels) >= 6
    for panel in project.panels:
        assert len(panel.takes) == 1 and panel.selected == 0, panel.id
        take = panel.selected_take
        assert take.engine == "draft" and take.inputs and take.seed == panel.seed
        assert (sample_dir / take.file).is_file()
    first = {p: p.read_bytes() for p in takes_on_disk(sample_dir)}
    assert len(first) == len(project.panels)
    story_before = (sample_dir / "story.yaml").read_bytes()

    result = run("render", str(sample_dir), "--engine", "draft")
    assert result.returncode == 0
    assert "Nothing to render: 8 panel(s) up to date" in result.stdout
    assert (sample_dir / "story.yaml").read_bytes() == story_before
    assert {p: p.read_bytes() for p in takes_on_disk(sample_dir)} == first

    result = run("render", str(sample_dir), "--engine", "draft", "--force")
    assert result.returncode == 0
    assert f"{len(project.panels)} rendered" in result.stdout
    # same inputs and seed: the same take file, refreshed, not a duplicate
    assert {p: p.read_bytes() for p in takes_on_disk(sample_dir)} == first
    assert all(len(p.takes) == 1 for p in load_project(sample_dir).panels)


def test_changing_a_panel_rerenders_only_that_panel(project_dir: Path) -> None:
    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    data = yaml.safe_load((project_dir / "story.yaml").read_text())
    data["panels"][1]["prompt"] = "{mia} and {leo} argue"
    (project_dir / "story.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    events = []
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import render_project

    render_project(project_dir, load_project(project_dir), DraftEngine(), on_panel=events.append)
    assert [(e.panel_id, e.status) for e in events] == [("p1", "skipped"), ("p2", "rendered"), ("p3", "skipped")]
    p2 = load_project(project_dir).panel("p2")
    assert len(p2.takes) == 2 and p2.selected == 1, "the old take is kept, the new one selected"


def test_changing_a_cast_photo_makes_their_panels_stale(project_dir: Path) -> None:
    from PIL import Image

    from storyboard.engines.draft import DraftEngine
    from storyboard.render import is_stale

    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    Image.new("RGB", (64, 80), (1, 2, 3)).save(project_dir / "cast" / "leo.png")
    project = load_project(project_dir)
    stale = {p.id for p in project.panels if is_stale(project_dir, project, p, DraftEngine())}
    assert stale == {"p2"}


def test_panels_option_and_unknown_panel(project_dir: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["render", str(project_dir), "--engine", "draft", "--panels", "p3"]) == 0
    project = load_project(project_dir)
    assert [len(p.takes) for p in project.panels] == [0, 0, 1]
    assert project.panel("p3").seed is not None, "a panel without a seed gets one, recorded"
    assert main(["render", str(project_dir), "--engine", "draft", "--panels", "p9"]) == 2
    assert "No panel with id 'p9'" in capsys.readouterr().err


def test_new_makes_a_project_and_from_sample(tmp_path: Path) -> None:
    assert run("new", str(tmp_path / "mine")).returncode == 0
    assert load_project(tmp_path / "mine").panels == ()
    result = run("new", str(tmp_path / "copy"), "--sample", "rainy-monday")
    assert result.returncode == 0, result.stderr
    assert len(load_project(tmp_path / "copy").panels) >= 6
    result = run("new", str(tmp_path / "x"), "--sample", "nope")
    assert result.returncode == 2 and "rainy-monday" in result.stderr


BROKEN = [
    ("title: Test Story\n", "title: [Test Story\n", ["story.yaml, line 3", "not valid YAML"]),
    ("characters: [mia, leo]", "characters: [mia, bob]", ["story.yaml, line", "'bob'", "not in the cast"]),
    ("reference: cast/mia.png", "reference: ../outside.png", ["story.yaml, line 9", "leads outside the project folder"]),
]


@pytest.mark.parametrize(("old", "new", "words"), BROKEN)
@pytest.mark.parametrize("command", ["validate", "render"])
def test_user_errors_exit_nonzero_with_a_message_and_no_traceback(project_dir: Path, old: str, new: str, words: list[str], command: str) -> None:
    story = project_dir / "story.yaml"
    story.write_text(story.read_text().replace(old, new, 1))
    before = story.read_bytes()
    result = run(command, str(project_dir))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    for word in words:
        assert word in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, "one paragraph"
    assert story.read_bytes() == before, "the file is untouched"
    assert not (project_dir / "renders").exists()


def test_debug_shows_the_traceback(project_dir: Path) -> None:
    story = project_dir / "story.yaml"
    story.write_text(story.read_text().replace("title: Test Story", "title: [x", 1))
    result = run("--debug", "validate", str(project_dir))
    assert result.returncode == 2 and "Traceback" in result.stderr


def test_validate_reports_missing_files_and_unknown_style(project_dir: Path) -> None:
    (project_dir / "cast" / "mia_mask.png").unlink()
    story = project_dir / "story.yaml"
    story.write_text(story.read_text().replace("style: ink-comic", "style: vaporwave"))
    result = run("validate", str(project_dir))
    assert result.returncode == 2
    assert "mask cast/mia_mask.png does not exist" in result.stderr
    assert "Style 'vaporwave' is not a preset" in result.stderr
    assert "Traceback" not in result.stderr


def test_not_a_project_and_storymaker_unavailable(tmp_path: Path, project_dir: Path) -> None:
    result = run("validate", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "python -m storyboard new" in result.stderr
    # no weights here and no network: StoryMaker must say what is missing and what to do, plainly
    result = run("render", str(project_dir), "--engine", "storymaker", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--engine draft" in result.stderr and "--models" in result.stderr
    result = run("render", str(project_dir), "--engine", "storymaker", "--models", str(tmp_path / "no-models"))
    assert result.returncode == 2 and "does not exist" in result.stderr
    assert not (project_dir / "renders").exists()


def test_styles_lists_presets() -> None:
    result = run("styles")
    assert result.returncode == 0 and "ink-comic" in result.stdout


def test_unwritable_project_keeps_story_and_says_why(project_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import storyboard.render as render

    def refuse(path: Path, data: bytes) -> None:
        raise PermissionError(13, "Permission denied")

    before = (project_dir / "story.yaml").read_bytes()
    monkeypatch.setattr(render, "atomic_write", refuse)
    assert main(["render", str(project_dir), "--engine", "draft"]) == 2
    assert "Could not write the take for panel 'p1'" in capsys.readouterr().err
    assert (project_dir / "story.yaml").read_bytes() == before


def test_variations_keep_every_take_and_follow_the_seed_lock(project_dir: Path) -> None:
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import render_project, render_variations, stale_panels

    engine = DraftEngine()
    project = render_project(project_dir, load_project(project_dir), engine)
    events = []
    project = render_variations(project_dir, project, engine, "p1", 3, on_panel=events.append)
    p1 = project.panel("p1")
    assert [t.seed for t in p1.takes] == [1234, 1235, 1236, 1237] and p1.selected == 3
    assert p1.seed == 1237 and [e.index for e in events] == [1, 2, 3]
    assert load_project(project_dir) == project
    assert "p1" not in stale_panels(project_dir, project, engine), "the selected variation is current"
    # p2's seed is locked: variations are added, the panel keeps its seed
    project = render_variations(project_dir, project, engine, "p2", 2)
    p2 = project.panel("p2")
    assert p2.seed == 99 and [t.seed for t in p2.takes] == [99, 100, 101]
    with pytest.raises(StoryboardError, match="1 to 16"):
        render_variations(project_dir, project, engine, "p2", 0)


def test_render_follows_page_slots_and_previews_are_separate_takes(project_dir: Path) -> None:
    from PIL import Image

    from storyboard.layout import project_layout, render_sizes

    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    project = load_project(project_dir)
    slots = render_sizes(project_layout(project))
    for panel in project.panels:
        assert Image.open(project_dir / panel.selected_take.file).size == slots[panel.id]
    assert main(["render", str(project_dir), "--engine", "draft", "--steps", "4", "--max-side", "128"]) == 0
    previews = load_project(project_dir)
    for panel in previews.panels:
        assert len(panel.takes) == 2
        assert max(Image.open(project_dir / panel.selected_take.file).size) <= 128


def test_project_style_overrides_apply_and_make_panels_stale(project_dir: Path) -> None:
    """Issue 7: scales and steps overridden per project, on top of the style preset."""
    import dataclasses

    from storyboard.engines.draft import DraftEngine
    from storyboard.render import build_request, project_style, render_project, stale_panels
    from storyboard.store import update_project

    engine = DraftEngine()
    project = render_project(project_dir, load_project(project_dir), engine)
    assert stale_panels(project_dir, project, engine) == set()
    project = update_project(project_dir, lambda current: dataclasses.replace(
        current, style_overrides=(("steps", 40), ("ip_adapter_scale", 1.1))))
    style = project_style(project)
    assert style.sampler.steps == 40 and style.sampler.ip_adapter_scale == 1.1 and style.sampler.guidance == 7.0
    request = build_request(project_dir, project, project.panel("p1"), style, 1)
    assert request.steps == 40 and ("ip_adapter_scale", 1.1) in request.options
    assert stale_panels(project_dir, project, engine) == {"p1", "p2", "p3"}


def test_an_up_to_date_storymaker_project_renders_nothing_and_loads_no_model(project_dir: Path, tmp_path: Path) -> None:
    """Issue 13: the stale check needs only the engine's name and version; no model loads for nothing."""
    import dataclasses

    from storyboard.engine_holder import STORYMAKER_VERSION, PlannedEngine
    from storyboard.model import Take
    from storyboard.render import build_request, planned_sizes, project_style, request_digest
    from storyboard.store import update_project

    planned = PlannedEngine("storymaker", STORYMAKER_VERSION)

    def as_if_rendered(project):
        sizes, style = planned_sizes(project), project_style(project)
        panels = []
        for panel in project.panels:
            digest = request_digest(build_request(project_dir, project, panel, style, panel.seed or 1, sizes[panel.id]), planned)
            rel = f"renders/{panel.id}/take.png"
            (project_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (8, 8)).save(project_dir / rel)
            panels.append(dataclasses.replace(panel, seed=panel.seed or 1, selected=0,
                                              takes=(Take(rel, seed=panel.seed or 1, engine="storymaker", inputs=digest),)))
        return dataclasses.replace(project, panels=tuple(panels))

    update_project(project_dir, as_if_rendered)
    empty_models = tmp_path / "no-models"
    empty_models.mkdir()
    code = ("import sys; from storyboard.cli import main; code = main(sys.argv[1:]); "
            "print('torch loaded' if 'torch' in sys.modules else 'no torch'); sys.exit(code)")
    result = subprocess.run([sys.executable, "-c", code, "render", str(project_dir), "--engine", "storymaker",
                             "--models", str(empty_models)], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Nothing to render: 3 panel(s) up to date" in result.stdout and "no torch" in result.stdout


def test_prompt_strip_is_asked_for_and_kept_apart_from_comic_takes(project_dir: Path) -> None:
    """Issue 12 item 4: draft art has no prompt note unless asked; a take with one is another take."""
    import numpy as np

    assert main(["render", str(project_dir), "--engine", "draft", "--panels", "p1"]) == 0
    plain = load_project(project_dir).panel("p1").selected_take
    assert main(["render", str(project_dir), "--engine", "draft", "--panels", "p1", "--prompt-strip"]) == 0
    strip = load_project(project_dir).panel("p1").selected_take
    assert strip.file != plain.file and strip.inputs != plain.inputs
    note = (np.abs(np.asarray(Image.open(project_dir / strip.file).convert("RGB")).astype(int) - (255, 253, 231))
            .max(axis=2) <= 2)
    assert note.sum() > 1000, "the prompt note is drawn"
    from storyboard.engines.draft import DraftEngine
    from storyboard.render import stale_panels

    assert "p1" in stale_panels(project_dir, load_project(project_dir), DraftEngine()), "comic pages want no strip"
    assert main(["render", str(project_dir), "--engine", "draft", "--panels", "p1", "--no-prompt-strip"]) == 0
    assert load_project(project_dir).panel("p1").selected_take.file == plain.file


def test_a_cast_member_without_a_photo_validates_with_a_warning_and_renders_in_draft(project_dir: Path) -> None:
    text = (project_dir / "story.yaml").read_text()
    (project_dir / "story.yaml").write_text(text.replace("    reference: cast/leo.png\n", "", 1))
    from storyboard.checks import check_project

    problems = check_project(project_dir, load_project(project_dir))
    assert ("warning", "Cast member 'leo' has no reference photo: draft mode draws them, StoryMaker cannot. Add a photo "
            "in the Cast tab (or 'reference:' in story.yaml).") in problems
    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    assert all(p.selected_take is not None for p in load_project(project_dir).panels)


def test_fast_and_retouch_with_the_draft_engine(project_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue 15: --fast is for StoryMaker (draft renders as usual, the same takes); retouch redraws a painted region."""
    assert main(["render", str(project_dir), "--engine", "draft"]) == 0
    before = {p.id: p.takes for p in load_project(project_dir).panels}
    assert main(["render", str(project_dir), "--engine", "draft", "--fast", "--force"]) == 0
    assert "Fast previews are for StoryMaker" in capsys.readouterr().out
    assert {p.id: p.takes for p in load_project(project_dir).panels} == before, "no draft take of its own"
    assert main(["render", str(project_dir), "--engine", "draft", "--fast", "turbo"]) == 2
    assert "There is no fast preset 'turbo'" in capsys.readouterr().err
    take = load_project(project_dir).panel("p1").selected_take
    size = Image.open(project_dir / take.file).size
    mask = tmp_path / "mask.png"
    Image.new("L", size, 0).save(mask)
    assert main(["retouch", str(project_dir), "p1", "--mask", str(mask), "--engine", "draft"]) == 2
    assert "has nothing painted" in capsys.readouterr().err
    Image.new("L", size, 255).save(mask)
    assert main(["retouch", str(project_dir), "p1", "--mask", str(mask), "--engine", "draft", "--prompt", "{mia} jumps"]) == 0
    assert "redrawn by the draft engine" in capsys.readouterr().out
    panel = load_project(project_dir).panel("p1")
    assert len(panel.takes) == 2 and panel.selected == 1
    assert main(["retouch", str(project_dir), "p9", "--mask", str(mask)]) == 2
