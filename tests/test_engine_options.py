"""StoryMaker's speed and memory options (issue 13, item 5) on tiny random-weight models (CPU, no network).

VAE tiling, channels-last and torch.compile are engine options (storyboard.engines.options), off or automatic by
default, reaching the engine through get_engine, EngineHolder and `render --compile / --channels-last /
--vae-tiling / --offload`; every attention layer runs PyTorch's scaled_dot_product_attention. torch.compile is
checked with the `eager` backend (dynamo captures the UNet with StoryMaker's processors whole, no compiler run);
compiling with inductor needs a C++ compiler and, on a 2-CPU machine with a cold cache, half a minute (the whole
UNet: minutes), so it runs only with STORYBOARD_TEST_INDUCTOR=1.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("insightface")
pytest.importorskip("open_clip")

from storyboard.engines import RenderContext, RenderRequest, get_engine  # noqa: E402
from storyboard.errors import EngineError, StoryboardError  # noqa: E402
from storyboard.presets import load_style  # noqa: E402
from storyboard.render import build_request  # noqa: E402
from storyboard.storyfile import load_project  # noqa: E402

SIZE = (64, 64)
STEPS = 2
COMPILE = hasattr(torch, "compile") and torch._dynamo.is_dynamo_supported()


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Tiny models gain nothing from threads, and lose much on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def plain(tiny_dir: Path):
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    return StoryMakerEngine.create(tiny_dir, device="cpu")


def request_for(root: Path, panel_id: str, size: tuple[int, int] = SIZE) -> RenderRequest:
    project = load_project(root)
    return build_request(root, project, project.panel(panel_id), load_style(project.style), 7, size, STEPS)


def pixels(engine, request: RenderRequest) -> np.ndarray:
    image = engine.render(request, RenderContext()).image
    assert image.size == (request.width, request.height)
    return np.asarray(image).astype(np.int16)


def test_every_attention_layer_runs_sdpa(plain, story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert plain.attention_processors() == {
        "unet": {"StoryMakerAttnProcessor"}, "vae": {"AttnProcessor2_0"}, "controlnet": {"AttnProcessor2_0"},
        "text_encoder": {"sdpa"}, "text_encoder_2": {"sdpa"},
    }
    sdpa = torch.nn.functional.scaled_dot_product_attention
    calls = []

    def counted(*args, **kwargs):
        calls.append(args[0].shape)
        return sdpa(*args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", counted)
    plain.render(request_for(story, "p3"), RenderContext())
    processors = plain.pipe.unet.attn_processors
    cross = sum(1 for name in processors if name.endswith("attn2.processor"))
    # per UNet call: one for each self-attention, two for each cross-attention (text, then the image tokens)
    assert len(calls) >= STEPS * (len(processors) + cross)


def test_vae_tiling_on_decodes_a_large_panel_in_tiles(tiny_dir: Path, story: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    engine = StoryMakerEngine.create(tiny_dir, device="cpu", vae_tiling="on")
    assert "VAE tiling on" in engine.describe()
    tiled = []
    decode = engine.pipe.vae.tiled_decode
    monkeypatch.setattr(engine.pipe.vae, "tiled_decode", lambda *a, **k: tiled.append(1) or decode(*a, **k))
    # the tiny VAE's tiles are 128 px: a 192 x 128 panel is decoded as overlapping tiles, blended
    image = pixels(engine, request_for(story, "p3", size=(192, 128)))
    assert tiled, "the decoder ran in tiles"
    assert image.shape == (128, 192, 3) and image.std() > 0


def test_auto_tiles_only_slots_over_one_and_a_half_megapixels(plain, monkeypatch: pytest.MonkeyPatch) -> None:
    vae = plain.pipe.vae
    assert plain.vae_tiling == "auto"
    for (width, height), tiles in (((1024, 1024), False), ((1536, 1024), True), ((1216, 832), False), ((2048, 2048), True)):
        plain._prepare_vae(width, height)
        assert (vae.use_tiling, vae.use_slicing) == (tiles, tiles), (width, height)
    monkeypatch.setattr(plain, "vae_tiling", "off")
    plain._prepare_vae(2048, 2048)
    assert not vae.use_tiling


def test_channels_last_gives_the_same_image(tiny_dir: Path, plain, story: Path) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    engine = StoryMakerEngine.create(tiny_dir, device="cpu", channels_last=True)
    conv = engine.pipe.unet.conv_in.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    assert engine.controlnet.conv_in.weight.is_contiguous(memory_format=torch.channels_last)
    request = request_for(story, "p4")  # two characters and a pose: UNet, ControlNet and VAE
    difference = np.abs(pixels(engine, request) - pixels(plain, request))
    assert difference.max() <= 3 and difference.mean() < 0.5  # the same picture; convolutions may round differently


@pytest.mark.skipif(not COMPILE, reason="torch.compile (dynamo) is not available on this platform")
def test_compile_keeps_the_storymaker_processors_and_the_image(tiny_dir: Path, plain, story: Path) -> None:
    from storyboard.engines.storymaker.attention import installed
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    torch._dynamo.reset()
    engine = StoryMakerEngine.create(tiny_dir, device="cpu", compile="eager")
    assert engine.compiled == "eager" and "compiled (eager)" in engine.describe()
    request = request_for(story, "p4")
    difference = np.abs(pixels(engine, request) - pixels(plain, request))
    assert difference.max() <= 2
    assert installed(engine.pipe.unet), "compiling in place keeps StoryMaker's processors"
    blocks = [m for m in engine.pipe.unet.modules() if type(m).__name__ == "BasicTransformerBlock"]
    assert blocks and all(b._compiled_call_impl is not None for b in blocks)  # regional: the transformer blocks
    no_cast = request_for(story, "p1")  # other scales (no characters): guarded, traced again, still right
    assert np.abs(pixels(engine, no_cast) - pixels(plain, no_cast)).max() <= 2
    torch._dynamo.reset()


@pytest.mark.skipif(not COMPILE, reason="torch.compile (dynamo) is not available on this platform")
def test_the_storymaker_unet_compiles_as_one_graph(plain) -> None:
    unet = plain.pipe.unet
    width = unet.config.cross_attention_dim
    latents = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
    context = torch.randn(2, 77 + 60, width, generator=torch.Generator().manual_seed(1))  # text + 2 characters' tokens
    added = {"text_embeds": torch.randn(2, unet.config.projection_class_embeddings_input_dim - 6 * unet.config.addition_time_embed_dim),
             "time_ids": torch.tensor([[64.0, 64, 0, 0, 64, 64]] * 2)}
    scales = {"text_len": 77, "ip_scale": 0.8, "lora_scale": 0.8}

    def step(x: torch.Tensor, t: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        return unet(x, t, encoder_hidden_states=c, added_cond_kwargs=added, cross_attention_kwargs=scales).sample

    torch._dynamo.reset()
    compiled = torch.compile(step, backend="eager", fullgraph=True)  # a graph break would raise
    with torch.no_grad():
        assert torch.allclose(compiled(latents, torch.tensor(10), context), step(latents, torch.tensor(10), context), atol=1e-5)
    torch._dynamo.reset()


@pytest.mark.skipif(os.environ.get("STORYBOARD_TEST_INDUCTOR") != "1",
                    reason="inductor needs a C++ compiler and is slow on a CPU: set STORYBOARD_TEST_INDUCTOR=1 to run it")
def test_inductor_compile_renders_the_same_image(tiny_dir: Path, plain, story: Path) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    torch._dynamo.reset()
    engine = StoryMakerEngine.create(tiny_dir, device="cpu", compile=True)
    assert engine.compiled == "inductor"
    request = request_for(story, "p5")
    assert np.abs(pixels(engine, request) - pixels(plain, request)).max() <= 3
    torch._dynamo.reset()


def test_options_are_checked(tiny_dir: Path) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    with pytest.raises(EngineError, match="Unknown VAE tiling mode 'sometimes'; use one of auto, on, off"):
        StoryMakerEngine.create(tiny_dir, device="cpu", vae_tiling="sometimes")
    with pytest.raises(EngineError, match="torch.compile works with offload 'none' only, got offload 'model'"):
        StoryMakerEngine.create(tiny_dir, device="cpu", compile=True, offload="model")


def test_options_reach_the_engine_through_get_engine_and_the_holder(tiny_dir: Path) -> None:
    from storyboard.engine_holder import EngineHolder

    engine = get_engine("storymaker", tiny_dir, device="cpu", vae_tiling="off", channels_last=True)
    assert (engine.vae_tiling, engine.channels_last, engine.compiled) == ("off", True, None)
    seen = {}

    def loader(models_dir, download, require_gpu, **options):
        seen.update(options)
        return engine

    holder = EngineHolder("storymaker", tiny_dir, loader=loader, offload="model", compile=True)
    assert holder.get() is engine and seen == {"offload": "model", "compile": True}


def test_the_render_command_passes_the_options_and_refuses_them_for_draft(sample_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                                          capsys: pytest.CaptureFixture) -> None:
    import storyboard.engine_holder
    from storyboard.cli import main

    seen = {}

    class Holder:
        def __init__(self, requested, models_dir, **options):
            seen.update(options, requested=requested)
            raise StoryboardError("stop here: no model is loaded in this test")

    monkeypatch.setattr(storyboard.engine_holder, "EngineHolder", Holder)
    code = main(["render", str(sample_dir), "--engine", "storymaker", "--compile", "--channels-last", "--vae-tiling", "on"])
    assert code == 2 and seen == {"requested": "storymaker", "compile": True, "channels_last": True, "vae_tiling": "on"}
    seen.clear()
    assert main(["render", str(sample_dir), "--engine", "storymaker"]) == 2 and seen == {"requested": "storymaker"}
    capsys.readouterr()
    assert main(["render", str(sample_dir), "--engine", "draft", "--offload", "model", "--compile"]) == 2
    err = capsys.readouterr().err
    assert "--offload, --compile set how StoryMaker runs; the draft engine has no such settings" in err


def test_the_offload_hooks_leave_the_projection_s_inputs_and_output_alone(plain) -> None:
    # with offload on a GPU these move the projection there and back around each call; on the CPU offload is off,
    # so they are attached here by hand: a hook that returned something would replace the inputs or the tokens
    projection = plain.projection
    handles = [projection.register_forward_pre_hook(plain._projection_arrives),
               projection.register_forward_hook(plain._projection_leaves)]
    try:
        cfg = projection.cfg
        with torch.no_grad():
            tokens = projection(torch.zeros(2, cfg.id_dim), torch.zeros(2, 257, cfg.clip_dim), torch.zeros(2, 257, cfg.clip_dim))
    finally:
        for handle in handles:
            handle.remove()
    assert isinstance(tokens, torch.Tensor) and tokens.shape == (1, 3 * cfg.tokens_per_character, cfg.cross_attention_dim)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_offload_keeps_the_projection_and_clip_off_the_gpu(tiny_dir: Path, story: Path) -> None:
    from storyboard.engines.storymaker.engine import StoryMakerEngine

    engine = StoryMakerEngine.create(tiny_dir, device="cuda", offload="model")
    request = dataclasses.replace(request_for(story, "p5"), width=128, height=128)
    assert engine.render(request, RenderContext()).image.size == (128, 128)
    assert next(engine.projection.parameters()).device.type == "cpu", "the projection visits the GPU only to run"
    assert engine.encoder.device == "cpu" and engine.encoder.dtype == torch.float32
