"""The full-size GPU benchmark (tests/benchmarks/bench_gpu.py, issue 13 item 4) works, without a GPU.

`--small` runs every row of the benchmark on scaled-down models on the CPU; the full-size configs are checked on
PyTorch's meta device (no memory, no weights) against the published parameter counts, and the adapter layout the
benchmark writes against the released checkpoint's key list; and the full size refuses to start without a GPU.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys

import pytest

from conftest import REPO

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("open_clip")

BENCH = REPO / "tests" / "benchmarks" / "bench_gpu.py"
sys.path.insert(0, str(BENCH.parent))

import bench_gpu  # noqa: E402


def run_bench(*args: str, timeout: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(BENCH), *args], cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=env)


def test_small_runs_every_row_and_reports_sdpa_everywhere() -> None:
    result = run_bench("--small", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    for row in bench_gpu.ROWS:
        line = next((ln for ln in out.splitlines() if ln[:46].rstrip() == row.label), None)  # the label, padded
        assert line is not None, f"no line for {row.label!r}:\n{out}"
        assert re.search(r"\d+\.\d+ s", line), line  # a time, not a skip or a failure
        assert f"| {row.label} | " in out  # and a row of the Markdown table
    attention = next(ln for ln in out.splitlines() if ln.startswith("attention:"))
    assert "unet StoryMakerAttnProcessor;" in attention  # StoryMaker's processors call F.scaled_dot_product_attention
    assert "vae AttnProcessor2_0;" in attention and "controlnet AttnProcessor2_0;" in attention
    assert "text_encoder sdpa;" in attention and "text_encoder_2 sdpa" in attention
    assert "(targets are for the full size)" in out


@pytest.mark.skipif(torch.cuda.is_available(), reason="there is a GPU here: the full size would run")
def test_the_full_size_refuses_to_start_without_a_gpu() -> None:
    result = run_bench(timeout=300)
    assert result.returncode == 2
    assert "would take hours on the CPU" in result.stdout and "--small" in result.stdout
    assert "Building" not in result.stdout


def full_size_models() -> dict:
    """Every full-size part, built from the configs on the meta device (shapes only)."""
    import open_clip
    from diffusers import AutoencoderKL, ControlNetModel, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

    configs = bench_gpu.load_configs(small=False)
    config = bench_gpu.model_config
    with torch.device("meta"):
        return {
            "unet": UNet2DConditionModel.from_config(config(configs["sdxl_unet"])),
            "controlnet": ControlNetModel.from_config(config(configs["sdxl_controlnet_openpose"])),
            "vae": AutoencoderKL.from_config(config(configs["sdxl_vae"])),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**config(configs["sdxl_text_encoder"]))),
            "text_encoder_2": CLIPTextModelWithProjection(CLIPTextConfig(**config(configs["sdxl_text_encoder_2"]))),
            "clip_visual": open_clip.model.CLIP(**configs["clip_vit_h_14"]["model_cfg"]).visual,
            "configs": configs,
        }


@pytest.fixture(scope="module")
def full() -> dict:
    return full_size_models()


def parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())


def test_full_size_configs_have_the_published_sizes(full: dict) -> None:
    # SDXL base 1.0: UNet, VAE, CLIP ViT-L/14 text, OpenCLIP ViT-bigG/14 text with projection (the released files)
    assert parameters(full["unet"]) == 2_567_463_684
    assert parameters(full["vae"]) == 83_653_863
    assert parameters(full["text_encoder"]) == 123_060_480
    assert parameters(full["text_encoder_2"]) == 694_659_840
    # an SDXL ControlNet (1.25 B) and the ViT-H/14 image tower (0.63 B), as STORYMAKER_NOTES.md gives them
    assert parameters(full["controlnet"]) == pytest.approx(1.25e9, rel=0.01)
    assert parameters(full["clip_visual"]) == pytest.approx(0.632e9, rel=0.01)
    assert len(full["unet"].attn_processors) == 140


def test_the_adapter_the_benchmark_writes_has_the_released_layout(full: dict) -> None:
    spec = bench_gpu.find_spec()
    if spec is None:
        pytest.skip("../shared/spec/storymaker_checkpoint_keys.txt is not beside this checkout")
    unet, configs = full["unet"], full["configs"]
    names = list(unet.attn_processors)
    layout = bench_gpu.adapter_layout(names, list(unet.config.block_out_channels), unet.config.cross_attention_dim,
                                      configs["clip_vit_h_14"]["model_cfg"]["vision_cfg"]["width"], configs["storymaker_adapter"])
    assert bench_gpu.layout_differences(layout, names, spec) == []
    total = sum(math.prod(shape) for section in layout.values() for shape in section.values())
    assert total == pytest.approx(831e6, rel=0.001)  # "831 M parameters" (STORYMAKER_NOTES.md)
    want, _ = bench_gpu.read_spec(spec)
    assert sum(len(keys) for keys in want.values()) == 1373


def test_small_configs_change_sizes_only() -> None:
    full, small = bench_gpu.load_configs(small=False), bench_gpu.load_configs(small=True)
    assert full.keys() == small.keys()
    for name in full:
        assert set(small[name]) == set(full[name]), name  # no key added or lost by the overrides
    assert small["sdxl_unet"]["down_block_types"] == full["sdxl_unet"]["down_block_types"]
    assert small["sdxl_unet"]["cross_attention_dim"] == (small["sdxl_text_encoder"]["hidden_size"]
                                                        + small["sdxl_text_encoder_2"]["hidden_size"])
