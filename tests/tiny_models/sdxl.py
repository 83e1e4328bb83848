"""Tiny random-weight SDXL parts in the real formats: a diffusers pipeline folder, an OpenPose ControlNet
folder, and a StoryMaker adapter checkpoint in the released key layout. Seeded, CPU, seconds."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import torch

CROSS_DIM = 64  # two tiny text encoders of width 32, concatenated
ID_DIM = 512  # insightface embeddings keep their real width


def clip_tokenizer_files(dest: Path) -> Path:
    """A real CLIP BPE tokenizer (vocab.json + merges.txt) built from the vocabulary open_clip ships."""
    import open_clip

    bpe = Path(open_clip.__file__).parent / "bpe_simple_vocab_16e6.txt.gz"
    merges = gzip.open(bpe).read().decode("utf-8").split("\n")[1 : 49152 - 256 - 2 + 1]
    merges = [tuple(m.split()) for m in merges]
    # the byte-to-unicode table of GPT-2/CLIP BPE
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    byte_chars = [chr(c) for c in cs]
    vocab = byte_chars + [c + "</w>" for c in byte_chars] + ["".join(m) for m in merges] + ["<|startoftext|>", "<|endoftext|>"]
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "vocab.json").write_text(json.dumps({tok: i for i, tok in enumerate(vocab)}, ensure_ascii=False))
    (dest / "merges.txt").write_text("#version: 0.2\n" + "\n".join(" ".join(m) for m in merges) + "\n")
    return dest


def tiny_components(dest: Path) -> dict:
    """SDXL parts as small as diffusers' own tests use, with a real CLIP tokenizer."""
    from diffusers import AutoencoderKL, UNet2DConditionModel, UniPCMultistepScheduler
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4), use_linear_projection=True, addition_embed_type="text_time",
        addition_time_embed_dim=8, transformer_layers_per_block=(1, 2), projection_class_embeddings_input_dim=80,
        cross_attention_dim=CROSS_DIM, norm_num_groups=1,
    )
    scheduler = UniPCMultistepScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="leading", steps_offset=1
    )
    torch.manual_seed(0)
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4, sample_size=128, norm_num_groups=1,
    )
    tok_dir = clip_tokenizer_files(dest / "_tokenizer")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    tokenizer_2 = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77, pad_token="!")
    config = CLIPTextConfig(
        bos_token_id=49406, eos_token_id=49407, pad_token_id=49407, hidden_size=32, intermediate_size=37,
        layer_norm_eps=1e-5, num_attention_heads=4, num_hidden_layers=3, vocab_size=49408, hidden_act="gelu",
        projection_dim=32,
    )
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(config)
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModelWithProjection(config)
    return dict(unet=unet, scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                text_encoder_2=text_encoder_2, tokenizer_2=tokenizer_2)


def build_tiny_sdxl(dest: Path) -> Path:
    """A diffusers SDXL pipeline folder at `dest`."""
    from diffusers import StableDiffusionXLPipeline

    parts = tiny_components(dest.parent)
    StableDiffusionXLPipeline(**parts).save_pretrained(dest)
    return dest


def build_tiny_controlnet(sdxl_dir: Path, dest: Path) -> Path:
    """An SDXL ControlNet folder made from the tiny UNet (random weights)."""
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sdxl_dir / "unet")
    torch.manual_seed(1)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    with torch.no_grad():  # from_unet zero-initialises the output convs; give them weight so pose matters
        for p in controlnet.parameters():
            if p.abs().sum() == 0:
                p.normal_(0, 0.05)
    controlnet.save_pretrained(dest)
    return dest


def adapter_state(unet_attn_names: list[str], block_out: tuple[int, ...], clip_dim: int, seed: int = 0,
                  rank: int = 4, face_inner: int = 64, char_dim: int = 32, depth: int = 2) -> dict[str, dict[str, torch.Tensor]]:
    """A StoryMaker checkpoint in the released key layout, written out key by key from the layout notes
    (not from the engine's modules), for a UNet whose attention processors are `unet_attn_names`."""
    g = torch.Generator().manual_seed(seed)

    def t(*shape: int, std: float = 0.05) -> torch.Tensor:
        return torch.randn(*shape, generator=g) * std

    d = CROSS_DIM
    proj: dict[str, torch.Tensor] = {
        "pos_embed": t(3, 20, d, std=0.5), "bg_embed": t(1, 20, d, std=0.5),
        "proj.0.weight": t(ID_DIM * 2, ID_DIM), "proj.0.bias": t(ID_DIM * 2),
        "proj.2.weight": t(d * 4, ID_DIM * 2), "proj.2.bias": t(d * 4),
        "norm.weight": 1 + t(d), "norm.bias": t(d),
        "proj_out.weight": t(d, d), "proj_out.bias": t(d), "norm_out.weight": 1 + t(d), "norm_out.bias": t(d),
    }

    def perceiver(prefix: str, dim: int, inner: int, in_dim: int) -> None:
        proj.update({f"{prefix}.proj_in.weight": t(dim, in_dim), f"{prefix}.proj_in.bias": t(dim),
                     f"{prefix}.proj_out.weight": t(d, dim), f"{prefix}.proj_out.bias": t(d),
                     f"{prefix}.norm_out.weight": 1 + t(d), f"{prefix}.norm_out.bias": t(d)})
        for i in range(depth):
            p = f"{prefix}.layers.{i}"
            proj.update({
                f"{p}.0.norm1.weight": 1 + t(dim), f"{p}.0.norm1.bias": t(dim),
                f"{p}.0.norm2.weight": 1 + t(dim), f"{p}.0.norm2.bias": t(dim),
                f"{p}.0.to_q.weight": t(inner, dim), f"{p}.0.to_kv.weight": t(inner * 2, dim),
                f"{p}.0.to_out.weight": t(dim, inner),
                f"{p}.1.0.weight": 1 + t(dim), f"{p}.1.0.bias": t(dim),
                f"{p}.1.1.weight": t(dim * 4, dim), f"{p}.1.3.weight": t(dim, dim * 4),
            })

    perceiver("perceiver_resampler", d, face_inner, clip_dim)
    perceiver("resample", char_dim, char_dim, clip_dim)
    proj["resample.latents"] = t(1, 16, char_dim, std=0.2)

    ip: dict[str, torch.Tensor] = {}
    reversed_out = list(reversed(block_out))
    for i, name in enumerate(unet_attn_names):
        if name.startswith("mid_block"):
            hidden = block_out[-1]
        elif name.startswith("down_blocks"):
            hidden = block_out[int(name.split(".")[1])]
        else:
            hidden = reversed_out[int(name.split(".")[1])]
        context = CROSS_DIM if name.endswith("attn2.processor") else hidden
        for proj_name, in_dim in (("to_q", hidden), ("to_k", context), ("to_v", context), ("to_out", hidden)):
            ip[f"{i}.{proj_name}_lora.down.weight"] = t(rank, in_dim, std=0.2)
            ip[f"{i}.{proj_name}_lora.up.weight"] = t(hidden, rank, std=0.2)
        if name.endswith("attn2.processor"):
            ip[f"{i}.to_k_ip.weight"] = t(hidden, context, std=0.2)
            ip[f"{i}.to_v_ip.weight"] = t(hidden, context, std=0.2)
    return {"image_proj_model": proj, "ip_adapter": ip}


def build_tiny_adapter(sdxl_dir: Path, dest: Path, clip_dim: int) -> Path:
    """Write `mask.bin` (a torch pickle of plain tensors, like the release) for the tiny UNet."""
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(sdxl_dir / "unet")
    state = adapter_state(list(unet.attn_processors.keys()), tuple(unet.config.block_out_channels), clip_dim)
    dest.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, dest)
    return dest


def build_tiny_lora(sdxl_dir: Path, dest: Path, seed: int = 2,
                    targets: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")) -> Path:
    """An SDXL LoRA (diffusers/PEFT format, .safetensors) for the tiny UNet, with non-zero weights: a style LoRA, or
    (another seed, other layers) a stand-in for a step-distillation LoRA."""
    from diffusers import StableDiffusionXLPipeline, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(sdxl_dir / "unet")
    torch.manual_seed(seed)
    unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=list(targets), init_lora_weights=False))
    StableDiffusionXLPipeline.save_lora_weights(dest.parent, unet_lora_layers=get_peft_model_state_dict(unet), weight_name=dest.name)
    return dest
