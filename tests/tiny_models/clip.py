"""A tiny open_clip ViT model folder in the real format (`open_clip_config.json` + `open_clip_model.safetensors`).

Same geometry as ViT-H/14 where it matters to the adapter (224 px, patch 14: 257 tokens incl. CLS), but width
32 and 3 blocks, with seeded random weights (layer norms included, so a mixed-up mapping cannot pass a test).
`to_transformers(...)` maps the vision tower onto transformers' `CLIPVisionModelWithProjection`, the model
the released StoryMaker pipeline uses, for equivalence tests.
"""

from __future__ import annotations

import json
from pathlib import Path

OPENAI_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_STD = (0.26862954, 0.26130258, 0.27577711)
TINY_VISION = {"image_size": 224, "layers": 3, "width": 32, "head_width": 16, "patch_size": 14}
TINY_TEXT = {"context_length": 77, "vocab_size": 1000, "width": 16, "heads": 2, "layers": 1}
TINY_EMBED_DIM = 16


def build_tiny_clip(dest: Path, seed: int = 0, name: str = "clip-vit-h-14") -> Path:
    """Write `dest/<name>/` (an open_clip local-dir model folder); return that folder."""
    import torch
    from open_clip.model import CLIP
    from safetensors.torch import save_file

    folder = Path(dest) / name
    folder.mkdir(parents=True, exist_ok=True)
    model_cfg = {"embed_dim": TINY_EMBED_DIM, "vision_cfg": dict(TINY_VISION), "text_cfg": dict(TINY_TEXT)}
    config = {
        "model_cfg": model_cfg,
        "preprocess_cfg": {"mean": list(OPENAI_MEAN), "std": list(OPENAI_STD), "interpolation": "bicubic",
                           "resize_mode": "shortest"},
    }
    model = CLIP(**json.loads(json.dumps(model_cfg)))
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in sorted(model.state_dict().items()):
        noise = torch.randn(value.shape, generator=generator)
        if key.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight", "ln_final.weight")):
            state[key] = 1.0 + 0.1 * noise
        elif key == "logit_scale":
            state[key] = torch.tensor(4.6052)
        else:
            state[key] = 0.1 * noise
    save_file({k: v.contiguous() for k, v in state.items()}, str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps(config, indent=2))
    return folder


def to_transformers(folder: Path):
    """The folder's vision tower as a transformers `CLIPVisionModelWithProjection` (fp32, eval)."""
    from safetensors.torch import load_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    config = json.loads((Path(folder) / "open_clip_config.json").read_text())
    vision = config["model_cfg"]["vision_cfg"]
    width = vision["width"]
    hf_config = CLIPVisionConfig(
        hidden_size=width,
        intermediate_size=int(width * vision.get("mlp_ratio", 4.0)),
        num_hidden_layers=vision["layers"],
        num_attention_heads=width // vision.get("head_width", 64),
        image_size=vision["image_size"],
        patch_size=vision["patch_size"],
        projection_dim=config["model_cfg"]["embed_dim"],
        hidden_act="gelu",  # open_clip ViTs without quick_gelu use exact GELU
        layer_norm_eps=1e-5,
    )
    source = {k[len("visual."):]: v for k, v in load_file(str(Path(folder) / "open_clip_model.safetensors")).items()
              if k.startswith("visual.")}
    state = {
        "vision_model.embeddings.class_embedding": source["class_embedding"],
        "vision_model.embeddings.patch_embedding.weight": source["conv1.weight"],
        "vision_model.embeddings.position_embedding.weight": source["positional_embedding"],
        "vision_model.pre_layrnorm.weight": source["ln_pre.weight"],
        "vision_model.pre_layrnorm.bias": source["ln_pre.bias"],
        "vision_model.post_layernorm.weight": source["ln_post.weight"],
        "vision_model.post_layernorm.bias": source["ln_post.bias"],
        "visual_projection.weight": source["proj"].T.contiguous(),
    }
    for i in range(vision["layers"]):
        src, dst = f"transformer.resblocks.{i}.", f"vision_model.encoder.layers.{i}."
        q, k, v = source[src + "attn.in_proj_weight"].chunk(3)
        qb, kb, vb = source[src + "attn.in_proj_bias"].chunk(3)
        state.update({
            dst + "self_attn.q_proj.weight": q, dst + "self_attn.q_proj.bias": qb,
            dst + "self_attn.k_proj.weight": k, dst + "self_attn.k_proj.bias": kb,
            dst + "self_attn.v_proj.weight": v, dst + "self_attn.v_proj.bias": vb,
            dst + "self_attn.out_proj.weight": source[src + "attn.out_proj.weight"],
            dst + "self_attn.out_proj.bias": source[src + "attn.out_proj.bias"],
            dst + "layer_norm1.weight": source[src + "ln_1.weight"],
            dst + "layer_norm1.bias": source[src + "ln_1.bias"],
            dst + "layer_norm2.weight": source[src + "ln_2.weight"],
            dst + "layer_norm2.bias": source[src + "ln_2.bias"],
            dst + "mlp.fc1.weight": source[src + "mlp.c_fc.weight"],
            dst + "mlp.fc1.bias": source[src + "mlp.c_fc.bias"],
            dst + "mlp.fc2.weight": source[src + "mlp.c_proj.weight"],
            dst + "mlp.fc2.bias": source[src + "mlp.c_proj.bias"],
        })
    model = CLIPVisionModelWithProjection(hf_config)
    model.load_state_dict({k: v.contiguous() for k, v in state.items()}, strict=True)
    model.eval()
    return model
