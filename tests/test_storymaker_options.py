"""Issue 15 on tiny random-weight models (CPU, no network): fast previews with a step-distillation LoRA beside the
style LoRA and StoryMaker's own, step-blended identity, and retouching a region of a take by inpainting.

The tiny face detector finds a magenta "face marker", so the sample's cast photos get one (mark_faces).
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")

from conftest import REPO  # noqa: E402
from storyboard.engines import RenderContext, RenderRequest  # noqa: E402
from storyboard.errors import EngineUnavailable, StoryboardError  # noqa: E402
from storyboard.presets import load_fast  # noqa: E402
from storyboard.render import build_request, project_style, request_digest  # noqa: E402
from storyboard.storyfile import load_project  # noqa: E402
from tiny_models.folder import FAST_FILE  # noqa: E402

SIZE = (64, 64)
STEPS = 2
STYLE_LORA = {"path": "tiny-style.safetensors", "weight": 1.0}
ENV = {**os.environ, "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def engine(tiny_dir: Path):
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    return StoryMakerEngine.create(tiny_dir, device="cpu")


def request_for(root: Path, panel_id: str, fast: bool = False, seed: int = 7, **options) -> RenderRequest:
    project = load_project(root)
    request = build_request(root, project, project.panel(panel_id), project_style(project), seed, SIZE,
                            None if fast else STEPS, fast=load_fast() if fast else None)
    request = dataclasses.replace(request, steps=STEPS)  # the tiny stand-in LoRA needs no 8 steps; keep tests quick
    return dataclasses.replace(request, options=tuple((dict(request.options) | options).items()))


def pixels(engine, request: RenderRequest) -> np.ndarray:
    return np.asarray(engine.render(request, RenderContext()).image).astype(np.int16)


def processors(engine) -> list:
    return list(engine.pipe.unet.attn_processors.values())


# ---------------------------------------------------------------- 1. fast previews


def without(request: RenderRequest, *keys: str) -> RenderRequest:
    return dataclasses.replace(request, options=tuple((k, v) for k, v in request.options if k not in keys))


def test_style_fast_and_storymaker_loras_act_at_once_and_each_removal_changes_the_image_back(engine, story: Path) -> None:
    """Issue 15 item 1: the style LoRA, the fast LoRA (PEFT adapters) and StoryMaker's processors all act at once."""
    from storyboard.engines.storymaker.attention import installed

    before = processors(engine)
    fast_req = request_for(story, "p3", fast=True)  # fast LoRA + StoryMaker (Euler trailing, no guidance)
    all_req = request_for(story, "p3", fast=True, lora=STYLE_LORA)  # + the style LoRA
    storymaker = pixels(engine, without(fast_req, "fast"))  # the same sampler, no LoRA loaded yet
    style_sm = pixels(engine, without(all_req, "fast"))
    fast_sm = pixels(engine, fast_req)
    all_three = pixels(engine, all_req)
    assert engine.loras.active == ("style", "fast") and installed(engine.pipe.unet)
    no_sm = pixels(engine, request_for(story, "p3", fast=True, lora=STYLE_LORA, ip_adapter_scale=0.0, lora_scale=0.0))
    # each of the three changes the image ...
    assert not np.array_equal(all_three, fast_sm), "the style LoRA acts beside the fast one"
    assert not np.array_equal(all_three, style_sm), "the fast LoRA acts beside the style one"
    assert not np.array_equal(all_three, no_sm), "StoryMaker's processors act beside both"
    assert not np.array_equal(fast_sm, storymaker)
    # ... and taking each away gives back the image made without it
    assert np.array_equal(pixels(engine, fast_req), fast_sm)  # the style LoRA unloaded
    assert np.array_equal(pixels(engine, without(all_req, "fast")), style_sm)  # the fast LoRA set inactive
    assert engine.loras.active == ("style",) and set(engine.loras.loaded) == {"style", "fast"}
    assert np.array_equal(pixels(engine, without(fast_req, "fast")), storymaker)  # neither
    # each weight is applied once: PEFT scales each adapter by its own weight (alpha / r is 1 in these files)
    pixels(engine, request_for(story, "p3", fast=True, lora={**STYLE_LORA, "weight": 0.5}))
    scalings = [m.scaling for m in engine.pipe.unet.modules() if isinstance(getattr(m, "scaling", None), dict)]
    assert {s["style"] for s in scalings if "style" in s} == {0.5}
    assert {s["fast"] for s in scalings if "fast" in s} == {1.0}
    # StoryMaker's processors are the very same objects after loading, switching and unloading LoRAs
    assert processors(engine) == before and installed(engine.pipe.unet)


def test_a_fast_request_uses_the_presets_sampler_and_is_a_take_of_its_own(story: Path) -> None:
    from storyboard.engines.draft import DraftEngine

    project = load_project(story)
    panel, style = project.panel("p3"), project_style(project)
    normal = build_request(story, project, panel, style, 7, SIZE)
    preset = load_fast()
    fast = build_request(story, project, panel, style, 7, SIZE, fast=preset)
    assert (preset.file, preset.repo, preset.steps) == ("sdxl_lightning_8step_lora.safetensors", "ByteDance/SDXL-Lightning", 8)
    assert (fast.steps, fast.guidance, dict(fast.options)["scheduler"]) == (8, 1.0, "euler-trailing")
    assert dict(fast.options)["fast"] == preset.lora()
    assert "fast" not in dict(normal.options) and "identity_start" not in dict(normal.options)
    assert request_digest(fast, DraftEngine()) != request_digest(normal, DraftEngine())
    with pytest.raises(StoryboardError, match="fast preset 'turbo'"):
        load_fast("turbo")


def test_render_fast_through_the_cli_and_a_missing_lora_says_what_to_get(story: Path, tiny_dir: Path,
                                                                          tmp_path: Path) -> None:
    base = [sys.executable, "-m", "storyboard", "render", str(story), "--engine", "storymaker", "--panels", "p3",
            "--max-side", "64"]

    def run(*args: str, models: Path = tiny_dir, env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(base + ["--models", str(models), *args], cwd=REPO, capture_output=True, text=True,
                              timeout=600, env=env or ENV)

    normal = run("--steps", str(STEPS))
    assert normal.returncode == 0, normal.stderr[-3000:]
    fast = run("--fast")
    assert fast.returncode == 0, fast.stderr[-3000:]
    assert "Fast preview: SDXL-Lightning, 8 steps" in fast.stdout
    panel = load_project(story).panel("p3")
    assert len(panel.takes) == 2 and panel.selected == 1, "a preview is a take of its own, selected"
    assert panel.takes[0].inputs != panel.takes[1].inputs
    again = run("--fast")
    assert again.returncode == 0 and "up to date" in again.stdout
    refused = run("--fast", "--steps", "4")
    assert refused.returncode == 2 and "leave out the step count" in refused.stderr
    # a models folder without fast/ (and an empty Hugging Face cache): which file, and where it goes; no traceback
    bare = tmp_path / "models"
    bare.mkdir()
    for part in tiny_dir.iterdir():
        if part.name != "fast":
            (bare / part.name).symlink_to(part)
    missing = run("--fast", models=bare, env={**ENV, "HF_HOME": str(tmp_path / "hf")})
    assert missing.returncode == 2, missing.stderr
    assert FAST_FILE in missing.stderr and str(bare / "fast") in missing.stderr
    assert "huggingface-cli download ByteDance/SDXL-Lightning" in missing.stderr and "Traceback" not in missing.stderr


# ---------------------------------------------------------------- 2. identity that leaves room for the prompt


def test_characters_join_after_a_fraction_of_the_steps(engine, story: Path) -> None:
    request = dataclasses.replace(request_for(story, "p3"), steps=4)
    released = engine.render(request, RenderContext())
    assert released.metadata["identity_steps"] == [0, 1, 2, 3]
    blended = engine.render(dataclasses.replace(request, options=request.options + (("identity_start", 0.5),)),
                            RenderContext())
    assert blended.metadata["identity_steps"] == [2, 3]
    leaving = engine.render(dataclasses.replace(request, options=request.options + (("identity_start", 0.25),
                                                                                     ("identity_end", 0.75))),
                            RenderContext())
    assert leaving.metadata["identity_steps"] == [1, 2]
    images = [np.asarray(r.image) for r in (released, blended, leaving)]
    assert not np.array_equal(images[0], images[1]) and not np.array_equal(images[1], images[2])
    # a style setting, overridable per project; at its default the request (and so every take's digest) is unchanged
    project = load_project(story)
    from storyboard.presets import with_overrides

    style = with_overrides(project_style(project), {"identity_start": 0.3})
    assert dict(build_request(story, project, project.panel("p3"), style, 7, SIZE).options)["identity_start"] == 0.3
    with pytest.raises(StoryboardError, match="identity_start"):
        with_overrides(project_style(project), {"identity_start": 0.95})
    with pytest.raises(StoryboardError, match="must come before identity_end"):
        with_overrides(project_style(project), {"identity_start": 0.5, "identity_end": 0.4})


# ---------------------------------------------------------------- 3. retouch


def box_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).rectangle(box, fill=255)
    return mask


@pytest.mark.parametrize("panel_id", ["p3", "p4"])  # p4 has a pose: the ControlNet inpainting pipeline
def test_retouch_renders_the_region_and_keeps_the_rest_pixel_for_pixel(engine, story: Path, panel_id: str) -> None:
    from storyboard.render import RenderOptions, render_project
    from storyboard.retouch import feather_px, retouch_take

    render_project(story, load_project(story), engine, [panel_id], force=True, sizes={panel_id: SIZE},
                   options=RenderOptions(steps=STEPS))
    old_take = load_project(story).panel(panel_id).selected_take
    old = np.asarray(Image.open(story / old_take.file).convert("RGB"))
    done = retouch_take(story, panel_id, box_mask(SIZE, (20, 20, 39, 39)), engine, prompt="a red umbrella", steps=STEPS)
    panel = load_project(story).panel(panel_id)
    assert panel.selected_take.file == done.take.file and len(panel.takes) == 2
    assert done.take.seed == old_take.seed and done.take.inputs == old_take.inputs and done.take.engine == "storymaker"
    assert done.result.metadata["retouch"] is True
    new = np.asarray(Image.open(story / done.take.file).convert("RGB"))
    reach = 2 * feather_px(SIZE)
    outside = np.ones(SIZE[::-1], dtype=bool)
    outside[20 - reach:40 + reach, 20 - reach:40 + reach] = False
    assert np.array_equal(new[outside], old[outside]), "outside the feathered mask the take is kept exactly"
    assert not np.array_equal(new[20:40, 20:40], old[20:40, 20:40]), "inside it is rendered again"
    assert not done.changed[outside].any() and done.changed[20:40, 20:40].all()


def test_retouch_through_the_cli(story: Path, tiny_dir: Path, tmp_path: Path) -> None:
    render = subprocess.run([sys.executable, "-m", "storyboard", "render", str(story), "--engine", "storymaker",
                             "--models", str(tiny_dir), "--panels", "p3", "--steps", str(STEPS), "--max-side", "64"],
                            cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert render.returncode == 0, render.stderr[-3000:]
    take = load_project(story).panel("p3").selected_take
    size = Image.open(story / take.file).size
    mask = tmp_path / "mask.png"
    box_mask(size, (0, 0, size[0] // 2, size[1] // 2)).save(mask)
    args = [sys.executable, "-m", "storyboard", "retouch", str(story), "p3", "--mask", str(mask), "--engine",
            "storymaker", "--models", str(tiny_dir), "--steps", str(STEPS)]
    done = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "pixel for pixel" in done.stdout
    panel = load_project(story).panel("p3")
    assert len(panel.takes) == 2 and panel.selected == 1
    box_mask((size[0] * 2, size[1]), (0, 0, 5, 5)).save(mask)
    refused = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=ENV)
    assert refused.returncode == 2 and "paint it over the take itself" in refused.stderr
    assert "Traceback" not in refused.stderr and len(load_project(story).panel("p3").takes) == 2


def test_fast_lora_missing_from_the_engine_is_engine_unavailable(engine, story: Path, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine.loras, "fast_dir", tmp_path / "fast")  # nothing there, nor in the (offline) Hub cache
    with pytest.raises(EngineUnavailable, match=f"{FAST_FILE}.*neither in {tmp_path / 'fast'}/"):
        engine.render(request_for(story, "p3", fast=True), RenderContext())
    assert np.array_equal(pixels(engine, request_for(story, "p3")), pixels(engine, request_for(story, "p3")))
