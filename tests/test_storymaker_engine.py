"""The StoryMaker engine end to end on tiny random-weight models in the real formats (CPU, no network).

The tiny face detector finds a magenta "face marker", not real faces, so the sample's cast photos get one
painted on (tiny_models.folder.mark_faces); everything else is the real code path a user runs.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")

from conftest import REPO  # noqa: E402
from storyboard.engines import RenderContext, RenderRequest, get_engine  # noqa: E402
from storyboard.errors import EngineError, EngineUnavailable, RenderCancelled  # noqa: E402
from storyboard.presets import load_style  # noqa: E402
from storyboard.render import build_request  # noqa: E402
from storyboard.storyfile import load_project  # noqa: E402

SIZE = (64, 64)
STEPS = 2


@pytest.fixture(scope="session")
def engine(tiny_dir: Path):
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    return StoryMakerEngine.create(tiny_dir, device="cpu")


def request_for(root: Path, panel_id: str, seed: int = 7, **options) -> RenderRequest:
    project = load_project(root)
    request = build_request(root, project, project.panel(panel_id), load_style(project.style), seed, SIZE, STEPS)
    merged = dict(request.options) | options
    return dataclasses.replace(request, options=tuple(merged.items()))


def pixels(engine, request: RenderRequest, context: RenderContext | None = None) -> np.ndarray:
    result = engine.render(request, context or RenderContext())
    assert result.image.size == (request.width, request.height)
    return np.asarray(result.image).astype(np.int16)


def test_cli_renders_every_panel_of_the_sample(story: Path, tiny_dir: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    args = [sys.executable, "-m", "storyboard", "render", str(story), "--engine", "storymaker", "--models", str(tiny_dir),
            "--steps", str(STEPS), "--max-side", "64"]
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "StoryMaker on CPU" in result.stdout
    project = load_project(story)
    for panel in project.panels:
        take = panel.selected_take
        assert take is not None and take.engine == "storymaker", panel.id
        assert (story / take.file).is_file()
    encodings = list((story / ".cache" / "encodings").glob("*.safetensors"))
    assert len(encodings) == len(project.cast), "one encoding per character, cached in the project"
    again = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=600, env=env)
    assert again.returncode == 0 and "Nothing to render: 8 panel(s) up to date" in again.stdout  # and no model loaded


def test_same_seed_same_image_other_seed_other_image(engine, story: Path) -> None:
    a = pixels(engine, request_for(story, "p4", seed=1))
    b = pixels(engine, request_for(story, "p4", seed=1))
    c = pixels(engine, request_for(story, "p4", seed=2))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_the_adapter_and_its_scales_change_the_image(engine, story: Path) -> None:
    full = pixels(engine, request_for(story, "p3"))
    no_image_tokens = pixels(engine, request_for(story, "p3", ip_adapter_scale=0.0))
    nothing = pixels(engine, request_for(story, "p3", ip_adapter_scale=0.0, lora_scale=0.0))
    face_only = pixels(engine, request_for(story, "p3", face_only=True))
    assert not np.array_equal(full, no_image_tokens)
    assert not np.array_equal(no_image_tokens, nothing)
    assert not np.array_equal(full, face_only)
    # the same prompt with no cast is plain SDXL: no image tokens, no adapter LoRA
    plain = engine.render(request_for(story, "p1"), RenderContext())
    assert plain.metadata["ip_adapter_scale"] == 0 and plain.metadata["lora_scale"] == 0


def test_the_pose_changes_the_image_and_maps_people_to_characters(engine, story: Path) -> None:
    with_pose = request_for(story, "p4")
    assert with_pose.pose is not None
    without = dataclasses.replace(with_pose, pose=None)
    assert not np.array_equal(pixels(engine, with_pose), pixels(engine, without))
    pose = with_pose.pose
    named = dataclasses.replace(pose, people=tuple(dataclasses.replace(p, character=c) for p, c in zip(pose.people, ("leo", "mia"))))
    swapped_map = np.asarray(engine.pose_map(named, with_pose, "openpose"))
    plain_map = np.asarray(engine.pose_map(pose, with_pose, "openpose"))
    assert not np.array_equal(swapped_map, plain_map), "skeletons naming their character are placed for that character"


def test_a_style_lora_changes_the_image_and_unloading_restores_it(engine, story: Path) -> None:
    from storyboard.engines.storymaker.attention import installed

    base = pixels(engine, request_for(story, "p3"))
    styled = pixels(engine, request_for(story, "p3", lora={"path": "tiny-style.safetensors", "weight": 1.0}))
    assert not np.array_equal(base, styled)
    assert installed(engine.pipe.unet), "loading a LoRA must keep StoryMaker's attention processors"
    # the weight is applied once: PEFT's scaling is the file's alpha/r times the weight, not its square
    half = pixels(engine, request_for(story, "p3", lora={"path": "tiny-style.safetensors", "weight": 0.5}))
    scalings = {m.scaling["style"] for m in engine.pipe.unet.modules() if hasattr(m, "scaling") and "style" in getattr(m, "scaling", {})}
    assert scalings == {0.5}
    assert not np.array_equal(half, styled)
    assert np.array_equal(pixels(engine, request_for(story, "p3")), base)
    assert installed(engine.pipe.unet)


def test_a_missing_lora_file_is_a_clear_error(engine, story: Path) -> None:
    with pytest.raises(EngineError, match="does not exist"):
        engine.render(request_for(story, "p3", lora={"path": "nope.safetensors", "weight": 1.0}), RenderContext())
    pixels(engine, request_for(story, "p3"))  # still usable


def test_cancel_stops_within_a_step_and_leaves_the_engine_usable(engine, story: Path) -> None:
    request = dataclasses.replace(request_for(story, "p3"), steps=6)
    cancel = threading.Event()
    steps: list[int] = []

    def on_progress(step: int, total: int) -> None:
        steps.append(step)
        if step == 2:
            cancel.set()

    with pytest.raises(RenderCancelled):
        engine.render(request, RenderContext(on_progress=on_progress, cancel_event=cancel))
    assert steps == [1, 2]
    first = pixels(engine, request)
    assert np.array_equal(first, pixels(engine, request))


def test_no_face_in_a_reference_names_the_character(engine, sample_dir: Path) -> None:
    # the unmarked sample photos have no face the tiny detector can find
    with pytest.raises(EngineError, match="Mia") as info:
        engine.render(request_for(sample_dir, "p3"), RenderContext())
    assert "mia.png" in str(info.value)


def test_a_character_without_a_photo_is_refused_by_name(engine, story: Path) -> None:
    """Issue 12 item 4: a cast member added without a photo (draft mode) cannot be rendered by StoryMaker."""
    request = request_for(story, "p4")
    leo = dataclasses.replace(request.characters[1], reference=None)
    with pytest.raises(EngineError, match=r"Leo has no reference photo.*Add a photo of Leo in the Cast tab"):
        engine.render(dataclasses.replace(request, characters=(request.characters[0], leo)), RenderContext())


def test_encodings_are_cached_per_character(engine, story: Path) -> None:
    before = engine.encoder.calls
    for pid in ("p3", "p4", "p5", "p7"):
        engine.render(request_for(story, pid), RenderContext())
    assert engine.encoder.calls - before <= 2


def test_the_projection_runs_once_per_cast_combination_with_the_same_tokens(engine, story: Path) -> None:
    """Issue 13: the image tokens of a cast are computed once, not per panel, and are the same tokens."""
    first = engine.image_tokens(request_for(story, "p3").characters, False, None)
    before = engine.projections
    again = engine.image_tokens(request_for(story, "p3").characters, False, None)
    assert engine.projections == before
    assert torch.equal(first[0], again[0]) and torch.equal(first[1], again[1])

    characters = request_for(story, "p3").characters
    encodings = [engine.encoder.encode(c) for c in characters]
    stack = [torch.from_numpy(np.stack([getattr(e, name) for e in encodings])) for name in
             ("identity", "character_tokens", "face_tokens")]
    with torch.no_grad():
        fresh = engine.projection(*stack)
        zeros = engine.projection(*(torch.zeros_like(t) for t in stack))
    assert torch.allclose(first[0], fresh) and torch.allclose(first[1], zeros)
    for pid in ("p3", "p4", "p5", "p7"):
        engine.render(request_for(story, pid), RenderContext())
    combinations = {tuple(c.id for c in request_for(story, pid).characters) for pid in ("p3", "p4", "p5", "p7")}
    assert engine.projections - before <= len(combinations)


def test_long_prompts_are_chunked_not_cut(engine, story: Path) -> None:
    request = request_for(story, "p3")
    long_prompt = ", ".join(["a red umbrella in the rain"] * 20)
    result = engine.render(dataclasses.replace(request, styled_prompt=long_prompt), RenderContext())
    assert result.metadata["text_tokens"] > 77 and result.metadata["text_tokens"] % 77 == 0


def test_three_characters_warn_and_five_are_refused(engine, story: Path) -> None:
    """Issue 15 item 5: past two, characters are added by regional passes (tests/test_storymaker_regional.py)."""
    request = request_for(story, "p4")
    three = dataclasses.replace(request, characters=request.characters + request.characters[:1], pose=None)
    result = engine.render(three, RenderContext())
    assert any("likeness is weaker past two" in w for w in result.metadata["warnings"])
    five = dataclasses.replace(request, characters=(request.characters * 3)[:5], pose=None)
    with pytest.raises(EngineError, match="at most 4"):
        engine.render(five, RenderContext())


def test_auto_picks_draft_without_a_gpu_and_storymaker_reports_missing_parts(tiny_dir: Path, tmp_path: Path) -> None:
    if not torch.cuda.is_available():
        assert get_engine("auto", tiny_dir).name == "draft"
    (tmp_path / "sdxl").mkdir()
    with pytest.raises(EngineUnavailable) as info:
        get_engine("storymaker", tmp_path)
    message = str(info.value)
    for part in ("sdxl", "mask.bin", "clip-vit-h-14", "buffalo_l", "non-commercial"):
        assert part in message


@pytest.mark.gpu
@pytest.mark.weights
@pytest.mark.skipif(not (torch.cuda.is_available() and os.environ.get("STORYBOARD_MODELS")),
                    reason="needs a CUDA GPU and the real weights in $STORYBOARD_MODELS")
def test_real_weights_render_a_sample_panel(tmp_path: Path) -> None:
    import shutil

    from storyboard.engines.storymaker.engine import StoryMakerEngine

    shutil.copytree(REPO / "assets" / "samples" / "rainy-monday", tmp_path / "s")
    engine = StoryMakerEngine.create(Path(os.environ["STORYBOARD_MODELS"]))
    project = load_project(tmp_path / "s")
    request = build_request(tmp_path / "s", project, project.panel("p4"), load_style(project.style), 1, (1024, 1024))
    result = engine.render(request, RenderContext())
    assert result.image.size == (1024, 1024)


def test_out_of_memory_becomes_advice(engine, story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(type(engine.pipe), "__call__", out_of_memory)
    monkeypatch.setattr(torch.cuda, "empty_cache", lambda: None)
    with pytest.raises(EngineError, match="ran out of memory.*offload"):
        engine.render(request_for(story, "p3"), RenderContext())


def test_unknown_offload_mode_is_refused(tiny_dir: Path) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    with pytest.raises(EngineError, match="Unknown offload mode 'turbo'"):
        StoryMakerEngine.create(tiny_dir, device="cpu", offload="turbo")


def test_models_come_from_the_hub_cache_when_no_folder_is_given(tiny_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub
    from huggingface_hub.errors import LocalEntryNotFoundError

    from storyboard.engines.storymaker.models import resolve_models

    calls: list[tuple[str, bool]] = []
    local = {"stabilityai/stable-diffusion-xl-base-1.0": tiny_dir / "sdxl", "laion/CLIP-ViT-H-14-laion2B-s32B-b79K": tiny_dir / "clip-vit-h-14",
             "xinsir/controlnet-openpose-sdxl-1.0": tiny_dir / "controlnet-openpose"}

    def snapshot_download(repo: str, local_files_only: bool = False, **kwargs) -> str:
        calls.append((repo, local_files_only))
        if repo not in local:
            raise LocalEntryNotFoundError(f"{repo} is not cached")
        return str(local[repo])

    def hf_hub_download(repo: str, filename: str, local_files_only: bool = False, **kwargs) -> str:
        calls.append((repo, local_files_only))
        return str(tiny_dir / "storymaker" / filename)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    monkeypatch.setattr(Path, "home", lambda: tmp_path)
    with pytest.raises(EngineUnavailable, match="insightface buffalo_l pack is not in"):
        resolve_models(None, download=False)
    assert calls and all(local_only for _, local_only in calls), "auto mode never downloads"
    (tmp_path / ".insightface").symlink_to(tiny_dir / "insightface")
    paths = resolve_models(None, download=False)
    assert paths.sdxl == tiny_dir / "sdxl" and paths.controlnet == tiny_dir / "controlnet-openpose"
    assert paths.vae is None, "the optional fp16 VAE is not cached: decode in fp32"
    calls.clear()
    monkeypatch.setattr(huggingface_hub, "snapshot_download",
                        lambda repo, local_files_only=False, **kw: (_ for _ in ()).throw(LocalEntryNotFoundError("no")))
    with pytest.raises(EngineUnavailable, match="not in the Hugging Face cache"):
        resolve_models(None, download=False)


def test_pose_strength_from_the_style_changes_the_image(engine, story: Path) -> None:
    strong = pixels(engine, request_for(story, "p4", controlnet_scale=1.5))
    weak = pixels(engine, request_for(story, "p4", controlnet_scale=0.2))
    late = pixels(engine, request_for(story, "p4", controlnet_scale=1.5, control_start=0.5))
    assert not np.array_equal(strong, weak) and not np.array_equal(strong, late)
