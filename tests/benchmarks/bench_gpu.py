"""Benchmark: the StoryMaker engine at full size on a GPU against bare diffusers SDXL (issue 13, item 4).

    python tests/benchmarks/bench_gpu.py              # full size: one CUDA GPU; made to end within 8 min on an H200
    python tests/benchmarks/bench_gpu.py --small      # scaled-down models on the CPU, a couple of steps (CI)

Nothing is downloaded. It builds every part with random weights from the configs in tests/benchmarks/configs/
(the public configs of stabilityai/stable-diffusion-xl-base-1.0's UNet, VAE and two text encoders, CLIP ViT-L
and OpenCLIP ViT-bigG text towers; an SDXL OpenPose ControlNet; open_clip's ViT-H-14), the StoryMaker adapter
in the released checkpoint's layout (checked key by key against ../shared/spec/storymaker_checkpoint_keys.txt
where that file is found), a style LoRA, and the tiny insightface pack of tests/tiny_models (face detection runs
on the CPU once per character, so it is not part of a panel's time). Weights are written as a models folder in
the offline layout and loaded by the engine exactly as a user's are (--models DIR).

Then it times one panel at 1024x1024, 25 UniPC steps, guidance 7.5 (after a 2-step warm-up at the same size) for:
bare diffusers SDXL (and the same with classic attention instead of SDPA); the engine with 0, 1 and 2 characters,
2 characters with a pose, 2 characters with a style LoRA; channels-last; bf16; model and sequential offload; and
torch.compile; and prints seconds per panel, the ratio to bare SDXL, and peak GPU memory
(torch.cuda.max_memory_allocated during the timed panel) beside the targets: engine with 2 characters <= 1.1x
bare SDXL, peak <= 12 GiB with model offload and <= 8 GiB with sequential offload; it ends with the same table in
Markdown, for the README. A group that fails (out of memory, say) is marked in the table and the run goes on
(exit status 1).

--small runs the same code on scaled-down configs (the SMALL overrides below) on the CPU at 64x64 and 2 steps:
it proves the benchmark and every option work, not how fast anything is. The full size refuses to start without
a CUDA GPU (on a CPU it would take hours). --budget-s stops starting new groups of rows when time runs short, so a
full run ends in time; --only picks groups; --work DIR keeps the built models for the next run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
REPO = HERE.parents[2]
sys.path[:0] = [str(REPO), str(HERE.parents[1])]

CONFIGS = HERE.parent / "configs"
SPEC_NAME = Path("spec") / "storymaker_checkpoint_keys.txt"
SAMPLE = REPO / "assets" / "samples" / "rainy-monday"
BUILT_MARK = ".bench-gpu-built"

FULL = {"size": 1024, "steps": 25, "warmup_steps": 2, "lora_rank": 64}
SMALL_RUN = {"size": 64, "steps": 2, "warmup_steps": 1, "lora_rank": 4}
# --small: the same configs, scaled down (every other value as at full size)
SMALL: dict[str, dict[str, Any]] = {
    "sdxl_unet": {"block_out_channels": [32, 64, 64], "attention_head_dim": [1, 2, 2], "transformer_layers_per_block": [1, 1, 2],
                  "cross_attention_dim": 64, "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 80,
                  "sample_size": 8},
    "sdxl_controlnet_openpose": {"block_out_channels": [32, 64, 64], "attention_head_dim": [1, 2, 2],
                                 "transformer_layers_per_block": [1, 1, 2], "cross_attention_dim": 64,
                                 "addition_time_embed_dim": 8, "projection_class_embeddings_input_dim": 80,
                                 "conditioning_embedding_out_channels": [8, 16, 16, 32]},
    "sdxl_vae": {"block_out_channels": [32, 32, 64, 64], "sample_size": 64},
    "sdxl_text_encoder": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
                          "projection_dim": 32},
    "sdxl_text_encoder_2": {"hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 2, "num_hidden_layers": 2,
                            "projection_dim": 32},
    "clip_vit_h_14": {"model_cfg": {"embed_dim": 16, "vision_cfg": {"layers": 3, "width": 32, "head_width": 16},
                                    "text_cfg": {"width": 16, "heads": 2, "layers": 1}}},
    "storymaker_adapter": {"lora_rank": 4},
}

# Rows are grouped by the engine they need (one engine is loaded per group, then freed).
# In running order: the rows with targets first, torch.compile (the slowest to start) last.
GROUPS: dict[str, dict[str, Any]] = {  # engine keywords per group; dtype names are resolved per device
    "bare": {},
    "fp16": {"dtype": "fp16"},
    "model-offload": {"dtype": "fp16", "offload": "model"},
    "sequential-offload": {"dtype": "fp16", "offload": "sequential"},
    "bf16": {"dtype": "bf16"},
    "channels-last": {"dtype": "fp16", "channels_last": True},
    "compile": {"dtype": "fp16", "compile": True},
}
# Seconds a group needs at full size on an H200 (load, encoding, warm-ups, panels): guesses that keep a run
# within --budget-s; a group that would not fit is skipped and says so (run it alone with --only).
RESERVE_S = {"bare": 40, "fp16": 60, "model-offload": 70, "sequential-offload": 120, "bf16": 40, "channels-last": 25,
             "compile": 180}


@dataclasses.dataclass(frozen=True)
class Row:
    group: str
    label: str
    panel: str  # in the sample story: p1 no cast, p3 one character, p5 two, p4 two with a pose
    lora: bool = False
    attention: str = "sdpa"  # bare SDXL only: "classic" swaps in diffusers' AttnProcessor
    target: str = ""  # "ratio" (<= 1.1x bare), "12" or "8" (peak GiB)


ROWS = (
    Row("bare", "bare diffusers SDXL", "p1"),
    Row("bare", "bare SDXL, classic attention (no SDPA)", "p1", attention="classic"),
    Row("fp16", "engine, 0 characters", "p1"),
    Row("fp16", "engine, 1 character", "p3"),
    Row("fp16", "engine, 2 characters", "p5", target="ratio"),
    Row("fp16", "engine, 2 characters + pose", "p4"),
    Row("fp16", "engine, 2 characters + style LoRA", "p5", lora=True),
    Row("channels-last", "engine, 2 characters, channels-last", "p5"),
    Row("bf16", "engine, 2 characters, bf16", "p5"),
    Row("model-offload", "engine, 2 characters, model offload", "p5", target="12"),
    Row("model-offload", "engine, 2 characters + pose, model offload", "p4", target="12"),
    Row("sequential-offload", "engine, 2 characters, sequential offload", "p5", target="8"),
    Row("compile", "engine, 2 characters, torch.compile", "p5"),
)
RATIO_TARGET = 1.1
LORA_FILE = "bench-style.safetensors"


# ---------------------------------------------------------------- configs


def find_spec() -> Path | None:
    """The released checkpoint's key list, ../shared/spec beside the repository (or shared/spec inside it)."""
    for root in (REPO.parent / "shared", REPO / "shared"):
        if (root / SPEC_NAME).is_file():
            return root / SPEC_NAME
    return None


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in over.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def load_configs(small: bool) -> dict[str, dict]:
    """Every config in tests/benchmarks/configs by file stem, with the SMALL overrides for --small."""
    configs = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(CONFIGS.glob("*.json"))}
    if small:
        configs = {name: _merge(cfg, SMALL.get(name, {})) for name, cfg in configs.items()}
    return configs


def model_config(config: dict) -> dict:
    """A diffusers/transformers config without the keys that are about the file, not the model."""
    return {k: v for k, v in config.items() if not k.startswith("_") and k not in ("architectures", "model_type")}


# ---------------------------------------------------------------- the adapter in the released layout


def adapter_layout(attn_names: list[str], block_out: list[int], cross_dim: int, clip_width: int,
                   cfg: dict) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every key and shape of a StoryMaker checkpoint for this UNet and CLIP width (STORYMAKER_NOTES.md layout)."""
    d, id_dim, depth, ff = cross_dim, cfg["id_dim"], cfg["depth"], cfg["ff_mult"]
    proj: dict[str, tuple[int, ...]] = {
        "pos_embed": (cfg["max_characters"], cfg["id_tokens"] + cfg["char_tokens"], d),
        "bg_embed": (1, cfg["id_tokens"] + cfg["char_tokens"], d),
        "proj.0.weight": (2 * id_dim, id_dim), "proj.0.bias": (2 * id_dim,),
        "proj.2.weight": (cfg["id_tokens"] * d, 2 * id_dim), "proj.2.bias": (cfg["id_tokens"] * d,),
        "norm.weight": (d,), "norm.bias": (d,),
        "proj_out.weight": (d, d), "proj_out.bias": (d,), "norm_out.weight": (d,), "norm_out.bias": (d,),
    }

    def perceiver(prefix: str, dim: int) -> None:
        proj.update({f"{prefix}.proj_in.weight": (dim, clip_width), f"{prefix}.proj_in.bias": (dim,),
                     f"{prefix}.proj_out.weight": (d, dim), f"{prefix}.proj_out.bias": (d,),
                     f"{prefix}.norm_out.weight": (d,), f"{prefix}.norm_out.bias": (d,)})
        for i in range(depth):
            p = f"{prefix}.layers.{i}"
            proj.update({f"{p}.0.norm1.weight": (dim,), f"{p}.0.norm1.bias": (dim,), f"{p}.0.norm2.weight": (dim,),
                         f"{p}.0.norm2.bias": (dim,), f"{p}.0.to_q.weight": (dim, dim), f"{p}.0.to_kv.weight": (2 * dim, dim),
                         f"{p}.0.to_out.weight": (dim, dim), f"{p}.1.0.weight": (dim,), f"{p}.1.0.bias": (dim,),
                         f"{p}.1.1.weight": (ff * dim, dim), f"{p}.1.3.weight": (dim, ff * dim)})

    perceiver("perceiver_resampler", d)  # the identity branch works at the context width
    perceiver("resample", clip_width)  # the character branch at CLIP's width
    proj["resample.latents"] = (1, cfg["char_tokens"], clip_width)

    ip: dict[str, tuple[int, ...]] = {}
    rank, up_out = cfg["lora_rank"], list(reversed(block_out))
    for i, name in enumerate(attn_names):
        kind, _, index = name.partition("_blocks.")
        hidden = block_out[-1] if name.startswith("mid_block") else (block_out if kind == "down" else up_out)[int(index.split(".")[0])]
        cross = name.endswith("attn2.processor")
        context = cross_dim if cross else hidden
        for projection, in_dim in (("to_q", hidden), ("to_k", context), ("to_v", context), ("to_out", hidden)):
            ip[f"{i}.{projection}_lora.down.weight"] = (rank, in_dim)
            ip[f"{i}.{projection}_lora.up.weight"] = (hidden, rank)
        if cross:
            ip[f"{i}.to_k_ip.weight"] = (hidden, cross_dim)
            ip[f"{i}.to_v_ip.weight"] = (hidden, cross_dim)
    return {"image_proj_model": proj, "ip_adapter": ip}


def read_spec(path: Path) -> tuple[dict[str, dict[str, tuple[int, ...]]], list[str]]:
    """(section -> key -> shape, processor names in order) from storymaker_checkpoint_keys.txt."""
    layout: dict[str, dict[str, tuple[int, ...]]] = {"image_proj_model": {}, "ip_adapter": {}}
    order: dict[int, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        first, second, third = line.split()
        if first == "order":
            order[int(second)] = third
        else:
            layout[first][second] = tuple(int(n) for n in third.split("x"))
    return layout, [order[i] for i in range(len(order))]


def layout_differences(layout: dict, attn_names: list[str], spec: Path) -> list[str]:
    """How a generated layout (and the UNet's processor order) differs from the released checkpoint's; [] if not."""
    want, order = read_spec(spec)
    problems = [f"processor order differs from the spec at {i}: {a} != {b}"
                for i, (a, b) in enumerate(zip(attn_names, order)) if a != b][:3]
    if len(attn_names) != len(order):
        problems.append(f"{len(attn_names)} attention processors, the spec has {len(order)}")
    for section in want:
        missing, extra = set(want[section]) - set(layout[section]), set(layout[section]) - set(want[section])
        problems += [f"{section}: missing {k}" for k in sorted(missing)[:3]] + [f"{section}: extra {k}" for k in sorted(extra)[:3]]
        problems += [f"{section} {k}: {layout[section][k]} != {shape}" for k, shape in want[section].items()
                     if k in layout[section] and layout[section][k] != shape][:3]
    return problems


def random_state(layout: dict, device: str, dtype: Any, seed: int = 0) -> dict[str, Any]:
    """Random tensors in `layout`, flattened as `section.key` (read_checkpoint's safetensors form)."""
    import torch

    g = torch.Generator(device=device).manual_seed(seed)
    state = {}
    for section, shapes in layout.items():
        for key, shape in shapes.items():
            t = torch.randn(shape, generator=g, device=device)
            if len(shape) == 1:
                t = (1 + 0.02 * t) if key.endswith("weight") else 0.02 * t  # layer norms near identity, small biases
            else:
                t = t / shape[-1] ** 0.5
            state[f"{section}.{key}"] = t.to(dtype).contiguous()
    return state


def style_lora(unet: Any, rank: int, device: str, dtype: Any, seed: int = 3) -> dict[str, Any]:
    """A style LoRA for every attention projection of `unet`, in diffusers' PEFT format (lora_A, lora_B)."""
    import torch
    from diffusers.models.attention_processor import Attention

    g = torch.Generator(device=device).manual_seed(seed)
    state = {}
    for name, module in unet.named_modules():
        if isinstance(module, Attention):
            for proj in ("to_q", "to_k", "to_v", "to_out.0"):
                layer = module.get_submodule(proj)
                a = torch.randn(rank, layer.in_features, generator=g, device=device) / layer.in_features ** 0.5
                b = torch.randn(layer.out_features, rank, generator=g, device=device) * 0.01
                state[f"unet.{name}.{proj}.lora_A.weight"] = a.to(dtype).contiguous()
                state[f"unet.{name}.{proj}.lora_B.weight"] = b.to(dtype).contiguous()
    return state


# ---------------------------------------------------------------- the models folder


MODEL_INDEX = {
    "_class_name": "StableDiffusionXLPipeline",
    "force_zeros_for_empty_prompt": True,
    "feature_extractor": [None, None],
    "image_encoder": [None, None],
    "scheduler": ["diffusers", "EulerDiscreteScheduler"],
    "text_encoder": ["transformers", "CLIPTextModel"],
    "text_encoder_2": ["transformers", "CLIPTextModelWithProjection"],
    "tokenizer": ["transformers", "CLIPTokenizer"],
    "tokenizer_2": ["transformers", "CLIPTokenizer"],
    "unet": ["diffusers", "UNet2DConditionModel"],
    "vae": ["diffusers", "AutoencoderKL"],
}


def build_models(dest: Path, configs: dict[str, dict], device: str, save_dtype: Any, lora_rank: int,
                 say: Callable[[str], None]) -> Path:
    """Write a models folder in the offline layout (storyboard/engines/storymaker/models.py) with random weights.

    Each model is built on `device` (fast random init on a GPU), cast to `save_dtype`, written and freed, one at a
    time, so building never holds more than one model."""
    import diffusers
    import torch
    from diffusers import AutoencoderKL, ControlNetModel, EulerDiscreteScheduler, UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from tiny_models.face import build_tiny_buffalo
    from tiny_models.sdxl import clip_tokenizer_files

    sdxl = dest / "sdxl"
    sdxl.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    def finish(model: Any, folder: Path, what: str) -> None:
        started = time.perf_counter()
        model.to(save_dtype).save_pretrained(folder)
        say(f"  {what}: {sum(p.numel() for p in model.parameters()) / 1e6:,.0f} M parameters, written in "
            f"{time.perf_counter() - started:.1f} s")

    with torch.device(device):
        unet = UNet2DConditionModel.from_config(model_config(configs["sdxl_unet"]))
    attn_names, block_out = list(unet.attn_processors), list(unet.config.block_out_channels)
    (dest / "loras").mkdir(exist_ok=True)
    lora = style_lora(unet, lora_rank, device, save_dtype)
    save_file({k: v.cpu() for k, v in lora.items()}, str(dest / "loras" / LORA_FILE), metadata={"format": "pt"})
    del lora
    finish(unet, sdxl / "unet", "UNet")
    del unet
    with torch.device(device):
        controlnet = ControlNetModel.from_config(model_config(configs["sdxl_controlnet_openpose"]))
    finish(controlnet, dest / "controlnet-openpose", "OpenPose ControlNet")
    del controlnet
    with torch.device(device):
        vae = AutoencoderKL.from_config(model_config(configs["sdxl_vae"]))
    finish(vae, sdxl / "vae", "VAE")
    del vae
    for name, cls in (("text_encoder", CLIPTextModel), ("text_encoder_2", CLIPTextModelWithProjection)):
        with torch.device(device):
            encoder = cls(CLIPTextConfig(**model_config(configs[f"sdxl_{name}"])))
        finish(encoder, sdxl / name, name.replace("_", " "))
        del encoder
    vocab = clip_tokenizer_files(dest / "_tokenizer")
    CLIPTokenizer(str(vocab / "vocab.json"), str(vocab / "merges.txt"), model_max_length=77).save_pretrained(sdxl / "tokenizer")
    CLIPTokenizer(str(vocab / "vocab.json"), str(vocab / "merges.txt"), model_max_length=77,
                  pad_token="!").save_pretrained(sdxl / "tokenizer_2")
    shutil.rmtree(dest / "_tokenizer")
    EulerDiscreteScheduler.from_config(model_config(configs["sdxl_scheduler"])).save_pretrained(sdxl / "scheduler")
    (sdxl / "model_index.json").write_text(json.dumps({**MODEL_INDEX, "_diffusers_version": diffusers.__version__}, indent=2))

    # CLIP ViT-H/14 (open_clip's own format), the adapter, the face models
    import open_clip

    clip_cfg = configs["clip_vit_h_14"]
    with torch.device(device):
        clip = open_clip.model.CLIP(**clip_cfg["model_cfg"])
    folder = dest / "clip-vit-h-14"
    folder.mkdir(exist_ok=True)
    save_file({k: v.to(save_dtype).cpu().contiguous() for k, v in clip.state_dict().items()},
              str(folder / "open_clip_model.safetensors"))
    (folder / "open_clip_config.json").write_text(json.dumps(clip_cfg, indent=2))
    say(f"  CLIP ViT-H/14: {sum(p.numel() for p in clip.visual.parameters()) / 1e6:,.0f} M parameters in the image tower")
    del clip
    layout = adapter_layout(attn_names, block_out, configs["sdxl_unet"]["cross_attention_dim"],
                            clip_cfg["model_cfg"]["vision_cfg"]["width"], configs["storymaker_adapter"])
    spec = find_spec()
    if configs["sdxl_unet"]["block_out_channels"] == [320, 640, 1280] and spec is not None:
        problems = layout_differences(layout, attn_names, spec)
        if problems:
            raise SystemExit("The adapter layout differs from the released checkpoint's:\n  " + "\n  ".join(problems))
        say(f"  StoryMaker adapter: the layout of {spec} (every key and shape)")
    (dest / "storymaker").mkdir(exist_ok=True)
    state = random_state(layout, device, save_dtype)
    save_file({k: v.cpu() for k, v in state.items()}, str(dest / "storymaker" / "mask.safetensors"))
    say(f"  StoryMaker adapter: {sum(v.numel() for v in state.values()) / 1e6:,.0f} M parameters")
    del state
    build_tiny_buffalo(dest)  # insightface's buffalo_l stand-in: detection once per character, on the CPU
    (dest / BUILT_MARK).write_text(json.dumps({"configs": configs, "lora_rank": lora_rank}, sort_keys=True))
    return dest


# ---------------------------------------------------------------- timing


@dataclasses.dataclass
class Result:
    row: Row
    seconds: float | None = None
    first_seconds: float | None = None  # the warm-up (compile time for torch.compile)
    peak_gib: float | None = None
    reserved_gib: float | None = None
    note: str = ""


class Bench:
    """Loads each group's pipeline or engine, renders its rows, keeps the results."""

    def __init__(self, args: argparse.Namespace, models: Path, story: Path, say: Callable[[str], None]):
        import torch

        self.args, self.models, self.story, self.say = args, models, story, say
        self.cuda = args.device.startswith("cuda")
        self.results: list[Result] = []
        self.load_seconds: dict[str, float] = {}
        self.attention: dict[str, set[str]] = {}
        self.torch = torch

    def dtype(self, name: str) -> Any:
        torch = self.torch
        if name == "bf16":
            return torch.bfloat16
        return torch.float16 if self.cuda else torch.float32  # the CPU stands in with fp32 for fp16

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def measure(self, row: Row, warm_up: Callable[[], Any], panel: Callable[[], Any]) -> Result:
        torch = self.torch
        started = time.perf_counter()
        warm_up()
        self.sync()
        first = time.perf_counter() - started
        if self.cuda:
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        panel()
        self.sync()
        result = Result(row, time.perf_counter() - started, first)
        if self.cuda:
            result.peak_gib = torch.cuda.max_memory_allocated() / 2**30
            result.reserved_gib = torch.cuda.max_memory_reserved() / 2**30
        return result

    def request(self, row: Row, steps: int) -> Any:
        from storyboard.presets import load_style
        from storyboard.render import build_request
        from storyboard.storyfile import load_project

        project = load_project(self.story)
        request = build_request(self.story, project, project.panel(row.panel), load_style(project.style), 1,
                                (self.args.size, self.args.size), steps)
        lora = {"path": LORA_FILE, "weight": 0.8} if row.lora else None
        options = dict(request.options) | {"scheduler": "unipc", "ip_adapter_scale": 0.8, "lora_scale": 0.8, "lora": lora}
        return dataclasses.replace(request, guidance=7.5, options=tuple(options.items()))

    def run_bare(self, rows: list[Row]) -> None:
        from diffusers import StableDiffusionXLPipeline, UniPCMultistepScheduler
        from diffusers.models.attention_processor import AttnProcessor, AttnProcessor2_0

        torch = self.torch
        started = time.perf_counter()
        pipe = StableDiffusionXLPipeline.from_pretrained(self.models / "sdxl", torch_dtype=self.dtype("fp16"))
        pipe.scheduler = UniPCMultistepScheduler.from_config(pipe.scheduler.config)
        pipe.set_progress_bar_config(disable=True)
        pipe.to(self.args.device)
        self.load_seconds["bare"] = time.perf_counter() - started
        for row in rows:
            request = self.request(row, self.args.steps)

            def call(steps: int) -> Any:
                return pipe(prompt=request.styled_prompt, negative_prompt=request.negative_prompt, width=request.width,
                            height=request.height, num_inference_steps=steps, guidance_scale=7.5,
                            generator=torch.Generator("cpu").manual_seed(1))

            for model in (pipe.unet, pipe.vae):
                model.set_attn_processor(AttnProcessor() if row.attention == "classic" else AttnProcessor2_0())
            self.results.append(self.measure(row, lambda: call(self.args.warmup_steps), lambda: call(self.args.steps)))
            self.report(self.results[-1])
        pipe = None  # dropped before the next group loads (the closures above are done with it)

    def run_engine(self, group: str, rows: list[Row]) -> None:
        from storyboard.engines import RenderContext
        from storyboard.engines.storymaker.engine import StoryMakerEngine

        options = dict(GROUPS[group])
        options["dtype"] = self.dtype(options["dtype"])
        if options.get("compile"):
            options["compile"] = self.args.compile_backend
        started = time.perf_counter()
        engine = StoryMakerEngine.create(self.models, device=self.args.device, **options)
        self.load_seconds[group] = time.perf_counter() - started
        if not self.attention:
            self.attention = engine.attention_processors()
        for row in rows:
            warm, timed = self.request(row, self.args.warmup_steps), self.request(row, self.args.steps)
            result = self.measure(row, lambda: engine.render(warm, RenderContext()), lambda: engine.render(timed, RenderContext()))
            self.results.append(result)
            self.report(result)
        engine = None  # dropped before the next group loads

    def free(self) -> None:
        gc.collect()
        if self.cuda:
            self.torch.cuda.empty_cache()
        if hasattr(self.torch, "_dynamo"):
            self.torch._dynamo.reset()

    # -- printing -----------------------------------------------------------------------------------------------

    def bare_seconds(self) -> float | None:
        return next((r.seconds for r in self.results if r.row.group == "bare" and r.row.attention == "sdpa"), None)

    def verdict(self, result: Result) -> str:
        bare = self.bare_seconds()
        if self.args.small and result.row.target:
            return "(targets are for the full size)"
        if result.row.target == "ratio" and result.seconds and bare:
            ok = result.seconds / bare <= RATIO_TARGET
            return f"target <= {RATIO_TARGET}x bare: {'met' if ok else 'NOT met'}"
        if result.row.target in ("12", "8"):
            if result.peak_gib is None:
                return f"target <= {result.row.target} GiB peak: not measured on the CPU"
            ok = result.peak_gib <= float(result.row.target)
            return f"target <= {result.row.target} GiB peak: {'met' if ok else 'NOT met'}"
        return ""

    def cells(self, result: Result) -> list[str]:
        bare = self.bare_seconds()
        if result.seconds is None:
            return [result.row.label, "-", "-", "-", "-", result.note]
        ratio = f"{result.seconds / bare:.2f}x" if bare else "-"
        peak = f"{result.peak_gib:.2f} / {result.reserved_gib:.2f}" if result.peak_gib is not None else "-"
        first = f"{result.first_seconds:.2f}"
        return [result.row.label, f"{result.seconds:.2f}", ratio, peak, first, self.verdict(result)]

    def report(self, result: Result) -> None:
        label, seconds, ratio, peak, first, verdict = self.cells(result)
        self.say(f"{label:46s} {seconds:>8s} s {ratio:>7s} {peak:>15s} GiB  (warm-up {first} s)  {verdict}")

    def table(self) -> str:
        head = ["configuration", "s / panel", "x bare SDXL", "peak GiB (allocated / reserved)", "warm-up s", "target"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        lines += ["| " + " | ".join(self.cells(r)) + " |" for r in self.results]
        return "\n".join(lines)


def skip(bench: Bench, rows: list[Row], why: str) -> None:
    for row in rows:
        bench.results.append(Result(row, note=why))
        bench.report(bench.results[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--small", action="store_true", help="scaled-down models on the CPU, a couple of steps (CI)")
    parser.add_argument("--device", help="cuda (default at full size) or cpu (default with --small)")
    parser.add_argument("--size", type=int, help="square panel side in px (1024; --small 64)")
    parser.add_argument("--steps", type=int, help="UniPC steps of the timed panel (25; --small 2)")
    parser.add_argument("--warmup-steps", type=int, help="steps of the warm-up panel before each timed one (2; --small 1)")
    parser.add_argument("--only", metavar="GROUP,...", help=f"run only these groups: {', '.join(GROUPS)}")
    parser.add_argument("--budget-s", type=float, default=450.0,
                        help="start no group that would not end within this many seconds of the start (default 450)")
    parser.add_argument("--compile-backend", help="torch.compile backend (inductor; --small: eager, which checks that "
                        "the StoryMaker processors trace without timing a compiler)")
    parser.add_argument("--work", metavar="DIR", help="keep the built models and story here (reused when built already)")
    args = parser.parse_args(argv)
    run = SMALL_RUN if args.small else FULL
    args.device = args.device or ("cpu" if args.small else "cuda")
    args.size = args.size or run["size"]
    args.steps = args.steps or run["steps"]
    args.warmup_steps = args.warmup_steps or run["warmup_steps"]
    args.compile_backend = args.compile_backend or ("eager" if args.small else "inductor")
    groups = [g.strip() for g in args.only.split(",")] if args.only else list(GROUPS)
    if unknown := [g for g in groups if g not in GROUPS]:
        parser.error(f"unknown group(s) {', '.join(unknown)}; groups: {', '.join(GROUPS)}")

    def say(text: str) -> None:
        print(text, flush=True)

    import torch

    if args.small:
        torch.set_num_threads(1)  # tiny models gain nothing from threads, and lose much when the CPU is shared
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        say("There is no CUDA GPU here, and the full-size benchmark (SDXL, ControlNet and the StoryMaker adapter at "
            f"{args.size}x{args.size}, {args.steps} steps, {len(ROWS)} configurations) would take hours on the CPU; "
            "it does not start. Run it on a machine with a CUDA GPU, or run --small for the reduced CPU check.")
        return 2
    warnings.filterwarnings("ignore")  # random weights: NaN images and casting warnings are expected
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from diffusers.utils import logging as diffusers_logging
    from transformers.utils import logging as transformers_logging

    diffusers_logging.set_verbosity_error()
    diffusers_logging.disable_progress_bar()
    transformers_logging.set_verbosity_error()
    started = time.perf_counter()
    work = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bench-gpu-"))
    try:
        configs = load_configs(args.small)
        models = work / "models"
        mark = {"configs": configs, "lora_rank": run["lora_rank"]}
        built = (models / BUILT_MARK).is_file() and json.loads((models / BUILT_MARK).read_text()) == json.loads(json.dumps(mark, sort_keys=True))
        device_name = "CPU"
        if args.device.startswith("cuda"):
            properties = torch.cuda.get_device_properties(args.device)
            device_name = f"{properties.name} ({properties.total_memory / 2**30:.0f} GiB)"
        say(f"StoryMaker engine {'scaled down (--small)' if args.small else 'at full size'}: {args.size}x{args.size}, "
            f"{args.steps} UniPC steps, guidance 7.5, fp16 unless a row says otherwise{' (the CPU runs fp32 for fp16)' if not args.device.startswith('cuda') else ''}, "
            f"{device_name}, torch {torch.__version__}")
        if not built:
            say(f"Building the models (random weights) in {models} ...")
            shutil.rmtree(models, ignore_errors=True)
            build_models(models, configs, args.device, torch.float16 if not args.small else torch.float32, run["lora_rank"], say)
            say(f"Built in {time.perf_counter() - started:.0f} s.")
        story = work / "story"
        if not story.is_dir():
            from tiny_models.folder import mark_faces

            shutil.copytree(SAMPLE, story)
            mark_faces(story)
        bench = Bench(args, models, story, say)
        failed: list[str] = []
        say(f"{'configuration':46s} {'s/panel':>10s} {'x bare':>7s} {'peak GiB (alloc / reserved)':>15s}")
        for group in GROUPS:
            rows = [r for r in ROWS if r.group == group]
            if group not in groups:
                continue
            left = args.budget_s - (time.perf_counter() - started)
            if not args.small and left < RESERVE_S[group]:
                skip(bench, rows, f"skipped: {left:.0f} s of the time budget left, the group needs about {RESERVE_S[group]} s")
                continue
            try:
                if group == "bare":
                    bench.run_bare(rows)
                else:
                    bench.run_engine(group, rows)
            except Exception as exc:  # out of memory, a failed load: say so in the table and go on with the next group
                failed.append(group)
                done = {x.row for x in bench.results}
                skip(bench, [r for r in rows if r not in done], f"failed: {type(exc).__name__}: {str(exc)[:200]}")
            bench.free()
        say("attention: " + "; ".join(f"{name} {', '.join(sorted(kinds))}" for name, kinds in bench.attention.items()))
        say("engine load: " + ", ".join(f"{g} {s:.1f} s" for g, s in bench.load_seconds.items()))
        say("")
        say(bench.table())
        say(f"Done in {time.perf_counter() - started:.0f} s." + (f" Failed: {', '.join(failed)}." if failed else ""))
    finally:
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
