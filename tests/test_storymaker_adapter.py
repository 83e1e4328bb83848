"""The StoryMaker adapter: strict loading of the released layout, and the released method's math.

The reference functions below are written from the method's description with plain tensor ops, apart
from the engine's modules, so a mistake in either shows up as a mismatch.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import torch.nn.functional as F  # noqa: E402

from storyboard.engines.storymaker.adapter import build_projection, read_checkpoint  # noqa: E402
from storyboard.engines.storymaker.attention import processors_for  # noqa: E402
from storyboard.errors import EngineError  # noqa: E402
from tiny_models.sdxl import CROSS_DIM, ID_DIM, adapter_state  # noqa: E402

SPEC = Path(__file__).resolve().parents[2] / "shared" / "spec" / "storymaker_checkpoint_keys.txt"
CLIP_DIM = 48
TOKENS = 9  # CLIP tokens per image in these tests (257 for ViT-H/14)


@pytest.fixture(scope="module")
def unet():
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=CROSS_DIM, norm_num_groups=1,
    )


@pytest.fixture(scope="module")
def state(unet):
    return adapter_state(list(unet.attn_processors.keys()), tuple(unet.config.block_out_channels), CLIP_DIM)


# ---------------------------------------------------------------- independent reference of the method


def ref_perceiver_attention(sd, p, x, latents):
    x = F.layer_norm(x, x.shape[-1:], sd[f"{p}.norm1.weight"], sd[f"{p}.norm1.bias"])
    latents = F.layer_norm(latents, latents.shape[-1:], sd[f"{p}.norm2.weight"], sd[f"{p}.norm2.bias"])
    q = latents @ sd[f"{p}.to_q.weight"].T
    kv = torch.cat([x, latents], dim=1) @ sd[f"{p}.to_kv.weight"].T
    k, v = kv.chunk(2, dim=-1)
    inner = q.shape[-1]
    heads = max(1, inner // 64)
    hd = inner // heads
    b, n = latents.shape[:2]
    q, k, v = (t.reshape(b, -1, heads, hd).permute(0, 2, 1, 3) for t in (q, k, v))
    w = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(hd), dim=-1)
    return (w @ v).permute(0, 2, 1, 3).reshape(b, n, inner) @ sd[f"{p}.to_out.weight"].T


def ref_resampler(sd, prefix, latents, x):
    x = x @ sd[f"{prefix}.proj_in.weight"].T + sd[f"{prefix}.proj_in.bias"]
    i = 0
    while f"{prefix}.layers.{i}.0.to_q.weight" in sd:
        p = f"{prefix}.layers.{i}"
        latents = ref_perceiver_attention(sd, f"{p}.0", x, latents) + latents
        h = F.layer_norm(latents, latents.shape[-1:], sd[f"{p}.1.0.weight"], sd[f"{p}.1.0.bias"])
        latents = F.gelu(h @ sd[f"{p}.1.1.weight"].T) @ sd[f"{p}.1.3.weight"].T + latents
        i += 1
    out = latents @ sd[f"{prefix}.proj_out.weight"].T + sd[f"{prefix}.proj_out.bias"]
    return F.layer_norm(out, out.shape[-1:], sd[f"{prefix}.norm_out.weight"], sd[f"{prefix}.norm_out.bias"])


def ref_projection(sd, identity, crop_tokens, face_tokens):
    n, d = identity.shape[0], sd["norm.weight"].shape[0]
    h = F.gelu(identity @ sd["proj.0.weight"].T + sd["proj.0.bias"]) @ sd["proj.2.weight"].T + sd["proj.2.bias"]
    x = F.layer_norm(h.reshape(n, -1, d), (d,), sd["norm.weight"], sd["norm.bias"])
    ident = x + ref_resampler(sd, "perceiver_resampler", x, face_tokens)
    body = ref_resampler(sd, "resample", sd["resample.latents"].repeat(n, 1, 1), crop_tokens)
    cat = torch.cat([ident, body], dim=1) + sd["pos_embed"][:n]
    res = F.layer_norm(cat @ sd["proj_out.weight"].T + sd["proj_out.bias"], (d,), sd["norm_out.weight"], sd["norm_out.bias"]) + cat
    return torch.cat([sd["bg_embed"], res], dim=0).reshape(1, -1, d)


def inputs(n: int, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    identity = F.normalize(torch.randn(n, ID_DIM, generator=g), dim=-1)
    return identity, torch.randn(n, TOKENS, CLIP_DIM, generator=g), torch.randn(n, TOKENS, CLIP_DIM, generator=g)


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("n", [1, 2, 3])
def test_projection_matches_the_released_method(state, n: int) -> None:
    sd = state["image_proj_model"]
    model = build_projection(sd)
    identity, crop, face = inputs(n)
    with torch.no_grad():
        ours = model(identity, crop, face)
        ref = ref_projection(sd, identity, crop, face)
    assert ours.shape == (1, (n + 1) * 20, CROSS_DIM)
    torch.testing.assert_close(ours, ref, atol=1e-5, rtol=1e-5)
    # token order: background first, then the characters in order
    torch.testing.assert_close(ours[0, :20], sd["bg_embed"][0])


def test_negative_branch_is_the_same_module_on_zero_inputs(state) -> None:
    sd = state["image_proj_model"]
    model = build_projection(sd)
    identity, crop, face = inputs(2)
    with torch.no_grad():
        negative = model(torch.zeros_like(identity), torch.zeros_like(crop), torch.zeros_like(face))
        ref = ref_projection(sd, torch.zeros_like(identity), torch.zeros_like(crop), torch.zeros_like(face))
    torch.testing.assert_close(negative, ref, atol=1e-5, rtol=1e-5)
    assert negative.abs().sum() > 0, "zero inputs, not zero tokens"
    torch.testing.assert_close(negative[0, :20], sd["bg_embed"][0]), "the learned background stays in the negative branch"


def test_face_only_mode_zeroes_the_character_branch(state) -> None:
    model = build_projection(state["image_proj_model"])
    identity, crop, face = inputs(1)
    with torch.no_grad():
        a = model(identity, crop, face, face_only=True)
        b = model(identity, torch.randn_like(crop), face, face_only=True)
        c = model(identity, crop, face)
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)


def test_too_many_characters_is_refused(state) -> None:
    model = build_projection(state["image_proj_model"])
    with pytest.raises(EngineError, match="at most 3 characters"):
        model(*inputs(4))


def test_processors_load_strictly_and_match_the_released_attention(unet, state) -> None:
    layers = processors_for(unet, state["ip_adapter"])
    names = list(unet.attn_processors.keys())
    assert len(layers) == len(names)
    cross = [i for i, name in enumerate(names) if name.endswith("attn2.processor")]
    assert all(hasattr(layers[i], "to_k_ip") for i in cross)
    assert not any(hasattr(layers[i], "to_k_ip") for i in range(len(names)) if i not in cross)

    # one cross-attention layer, against the method written out by hand
    i = cross[0]
    attn = dict(unet.named_modules())[names[i].removesuffix(".processor")]
    ip = {k.split(".", 1)[1]: v for k, v in state["ip_adapter"].items() if k.split(".")[0] == str(i)}
    g = torch.Generator().manual_seed(3)
    hidden = torch.randn(2, 16, attn.to_q.in_features, generator=g)
    text = torch.randn(2, 77, CROSS_DIM, generator=g)
    image = torch.randn(2, 40, CROSS_DIM, generator=g)
    ip_scale, lora_scale = 0.7, 0.6

    def lora(x, name):
        return x @ ip[f"{name}_lora.down.weight"].T @ ip[f"{name}_lora.up.weight"].T

    def heads(t):
        return t.reshape(2, -1, attn.heads, t.shape[-1] // attn.heads).transpose(1, 2)

    with torch.no_grad():
        q = attn.to_q(hidden) + lora_scale * lora(hidden, "to_q")
        k = attn.to_k(text) + lora_scale * lora(text, "to_k")
        v = attn.to_v(text) + lora_scale * lora(text, "to_v")
        out = F.scaled_dot_product_attention(heads(q), heads(k), heads(v))
        out = out + ip_scale * F.scaled_dot_product_attention(heads(q), heads(image @ ip["to_k_ip.weight"].T), heads(image @ ip["to_v_ip.weight"].T))
        out = out.transpose(1, 2).reshape(2, 16, -1)
        expected = attn.to_out[0](out) + lora_scale * lora(out, "to_out")
        attn.set_processor(layers[i])
        ours = attn(hidden, encoder_hidden_states=torch.cat([text, image], dim=1), text_len=77, ip_scale=ip_scale, lora_scale=lora_scale)
        # a longer (chunked) prompt: the processor is told the text length instead of assuming 77
        long_text = torch.cat([text, text], dim=1)
        longer = attn(hidden, encoder_hidden_states=torch.cat([long_text, image], dim=1), text_len=154, ip_scale=0, lora_scale=0)
        plain = F.scaled_dot_product_attention(heads(attn.to_q(hidden)), heads(attn.to_k(long_text)), heads(attn.to_v(long_text)))
        plain = attn.to_out[0](plain.transpose(1, 2).reshape(2, 16, -1))
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(longer, plain, atol=1e-5, rtol=1e-5)


def test_checkpoint_files_load_and_wrong_ones_are_refused(tmp_path: Path, state, unet) -> None:
    torch.save(state, tmp_path / "mask.bin")
    data = read_checkpoint(tmp_path / "mask.bin")
    build_projection(data["image_proj_model"])
    processors_for(unet, data["ip_adapter"])

    from safetensors.torch import save_file

    flat = {f"{section}.{k}": v.contiguous() for section, part in state.items() for k, v in part.items()}
    save_file(flat, tmp_path / "mask.safetensors")
    data2 = read_checkpoint(tmp_path / "mask.safetensors")
    assert data2["ip_adapter"].keys() == state["ip_adapter"].keys()

    torch.save({"image_proj": state["image_proj_model"]}, tmp_path / "ipadapter.bin")
    with pytest.raises(EngineError, match="not a StoryMaker adapter"):
        read_checkpoint(tmp_path / "ipadapter.bin")
    (tmp_path / "broken.bin").write_bytes(b"garbage")
    with pytest.raises(EngineError, match="Could not read the StoryMaker adapter"):
        read_checkpoint(tmp_path / "broken.bin")
    with pytest.raises(EngineError, match="does not exist"):
        read_checkpoint(tmp_path / "missing.bin")

    extra = dict(state["image_proj_model"], **{"extra.weight": torch.zeros(1)})
    with pytest.raises(EngineError, match="does not match the released layout"):
        build_projection(extra)
    fewer = {k: v for k, v in state["ip_adapter"].items() if not k.startswith("0.")}
    with pytest.raises(EngineError, match="another base model"):
        processors_for(unet, fewer)
    wrong_rank = dict(state["ip_adapter"], **{"1.to_k_ip.weight": torch.zeros(3, 3)})
    with pytest.raises(EngineError, match="do not fit this UNet"):
        processors_for(unet, wrong_rank)


@pytest.mark.skipif(not SPEC.is_file(), reason="../shared/spec is not beside this checkout")
def test_the_released_layout_builds_with_the_released_shapes() -> None:
    """Every key and shape of the released mask.bin, built on the meta device (no memory, no download)."""
    from storyboard.engines.storymaker.adapter import ProjectionConfig, StoryMakerProjection

    shapes = {"image_proj_model": {}, "ip_adapter": {}}
    order = {}
    for line in SPEC.read_text().splitlines():
        if line.startswith("#") or not line.strip():
            continue
        parts = line.split()
        if parts[0] == "order":
            order[int(parts[1])] = parts[2]
        else:
            shapes[parts[0]][parts[1]] = tuple(int(x) for x in parts[2].split("x"))
    assert len(shapes["image_proj_model"]) + len(shapes["ip_adapter"]) == 1373
    with torch.device("meta"):
        meta = {k: torch.empty(s) for k, s in shapes["image_proj_model"].items()}
        cfg = ProjectionConfig.from_state_dict(meta)
        model = StoryMakerProjection(cfg)
    assert (cfg.cross_attention_dim, cfg.id_dim, cfg.clip_dim, cfg.id_tokens, cfg.char_tokens) == (2048, 512, 1280, 4, 16)
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert ours == shapes["image_proj_model"]
    # the attention side, on an SDXL-sized UNet: same processor order, every shape as released
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel(
            sample_size=128, block_out_channels=(320, 640, 1280), layers_per_block=2,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            transformer_layers_per_block=(1, 2, 10), attention_head_dim=(5, 10, 20), cross_attention_dim=2048,
            use_linear_projection=True, addition_embed_type="text_time", addition_time_embed_dim=256,
            projection_class_embeddings_input_dim=2816,
        )
        ip_meta = {k: torch.empty(s) for k, s in shapes["ip_adapter"].items()}
        layers = processors_for(unet, ip_meta)
    assert list(unet.attn_processors.keys()) == [order[i] for i in range(len(order))]
    assert {k: tuple(v.shape) for k, v in layers.state_dict().items()} == shapes["ip_adapter"]
    assert sum(hasattr(p, "to_k_ip") for p in layers) == 70 and len(layers) == 140


def test_step_blended_identity_keeps_the_released_latents_at_its_default(state, tmp_path: Path) -> None:
    """Issue 15 item 2. At the default (characters from step 0 to the end) the latents after every step are those of
    the released method (the same scales at every step); with identity_start 0.5 the first half of the steps equal a
    run without characters, and the second half do not. The processors' math itself is checked against the method
    written out by hand above."""
    from diffusers import StableDiffusionXLPipeline

    from storyboard.engines.storymaker.attention import install
    from storyboard.engines.storymaker.blend import IdentitySchedule
    from tiny_models.sdxl import tiny_components

    pipe = StableDiffusionXLPipeline(**tiny_components(tmp_path))
    pipe.set_progress_bar_config(disable=True)
    install(pipe.unet, processors_for(pipe.unet, state["ip_adapter"]))
    sd = state["image_proj_model"]
    g = torch.Generator().manual_seed(5)
    text, negative_text = torch.randn(1, 77, CROSS_DIM, generator=g), torch.randn(1, 77, CROSS_DIM, generator=g)
    pooled, negative_pooled = torch.randn(1, 32, generator=g), torch.randn(1, 32, generator=g)
    identity, crop, face = inputs(1)
    with torch.no_grad():
        image = ref_projection(sd, identity, crop, face)
        negative_image = ref_projection(sd, torch.zeros_like(identity), torch.zeros_like(crop), torch.zeros_like(face))
    steps = 4

    def latents(prompt, negative, kwargs, schedule=None):
        seen = []

        def on_step(p, step, timestep, tensors):
            seen.append(tensors["latents"].clone())
            if schedule is not None:
                schedule.after_step(p, step)
            return tensors

        if schedule is not None:
            schedule.begin(steps)
        with torch.no_grad():
            pipe(prompt_embeds=prompt, negative_prompt_embeds=negative, pooled_prompt_embeds=pooled,
                 negative_pooled_prompt_embeds=negative_pooled, width=64, height=64, num_inference_steps=steps,
                 guidance_scale=7.5, generator=torch.Generator().manual_seed(0), cross_attention_kwargs=kwargs,
                 callback_on_step_end=on_step, output_type="latent")
        return seen

    with_characters = (torch.cat([text, image], dim=1), torch.cat([negative_text, negative_image], dim=1))
    released = {"text_len": 77, "ip_scale": 0.8, "lora_scale": 0.8}
    reference = latents(*with_characters, dict(released))
    kwargs = dict(released)
    at_default = latents(*with_characters, kwargs, IdentitySchedule(kwargs))
    assert len(reference) == steps
    for ours, ref in zip(at_default, reference):
        torch.testing.assert_close(ours, ref, rtol=0, atol=0)
    nobody = latents(text, negative_text, {"text_len": 77, "ip_scale": 0.0, "lora_scale": 0.0})
    kwargs = dict(released)
    blended = latents(*with_characters, kwargs, IdentitySchedule(kwargs, start=0.5))
    for step in (0, 1):
        torch.testing.assert_close(blended[step], nobody[step], rtol=0, atol=1e-6)
    for step in (2, 3):
        assert not torch.allclose(blended[step], nobody[step], atol=1e-4), f"the characters act from step {step}"
        assert not torch.allclose(blended[step], reference[step], atol=1e-4)
