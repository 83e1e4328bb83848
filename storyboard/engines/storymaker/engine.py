"""The StoryMaker engine: consistent characters on SDXL, with an optional OpenPose ControlNet and style LoRAs.

It implements the same Engine interface as the draft engine. Models load once and are reused across
panels; character encodings are cached by content; progress and cancel go through the RenderContext.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from storyboard.engines.base import CharacterRef, RenderContext, RenderRequest, RenderResult
from storyboard.engines.options import OFFLOAD_MODES, VAE_TILING_MEGAPIXELS, VAE_TILING_MODES
from storyboard.engines.storymaker.adapter import build_projection, read_checkpoint
from storyboard.engines.storymaker.attention import install, processors_for
from storyboard.engines.storymaker.blend import IdentitySchedule
from storyboard.engines.storymaker.encoding import CharacterEncoding
from storyboard.engines.storymaker.loras import LoraSet
from storyboard.engines.storymaker.models import ModelPaths, resolve_models
from storyboard.engines.storymaker.regional import check_photos, render_regional, retouch_characters
from storyboard.errors import EngineError, EngineUnavailable, RenderCancelled
from storyboard.model import STORYMAKER_CHARACTERS
from storyboard.poses import Pose

log = logging.getLogger(__name__)

SCHEDULERS = {
    "unipc": ("UniPCMultistepScheduler", {}),
    "euler": ("EulerDiscreteScheduler", {}),
    "euler-a": ("EulerAncestralDiscreteScheduler", {}),
    "dpmpp-2m": ("DPMSolverMultistepScheduler", {}),
    "dpmpp-2m-karras": ("DPMSolverMultistepScheduler", {"use_karras_sigmas": True}),
    "ddim": ("DDIMScheduler", {}),
    # what step-distillation LoRAs were made for (presets/fast.yaml)
    "euler-trailing": ("EulerDiscreteScheduler", {"timestep_spacing": "trailing"}),
    "ddim-trailing": ("DDIMScheduler", {"timestep_spacing": "trailing"}),
    "lcm": ("LCMScheduler", {}),
}


@dataclasses.dataclass(frozen=True)
class StoryMakerSettings:
    """Per-render knobs read from RenderRequest.options (defaults are the released ones)."""

    ip_adapter_scale: float = 0.8
    lora_scale: float = 0.8
    scheduler: str = "unipc"
    face_only: bool = False
    controlnet_scale: float = 0.8
    control_start: float = 0.0
    control_end: float = 1.0
    pose_map_style: str = "thick"  # the default ControlNet (xinsir) was trained on thicker lines
    lora: dict | None = None
    fast: dict | None = None  # a fast-preview LoRA (presets/fast.yaml): name, repo, file, weight
    identity_start: float = 0.0  # fraction of the steps before the characters join (storyboard.engines.storymaker.blend)
    identity_end: float = 1.0

    @classmethod
    def from_request(cls, request: RenderRequest) -> StoryMakerSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in request.options if k in known and (v is not None or k in ("lora", "fast"))})


def pick_device(preferred: str | None = None) -> tuple[str, torch.dtype]:
    """The device to run on and its dtype: CUDA (fp16, bf16 where supported), Apple MPS (fp16), else CPU (fp32)."""
    if preferred:
        device = preferred
    elif torch.cuda.is_available():
        device = "cuda"
    elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        device = "mps"
    else:
        device = "cpu"
    if device.startswith("cuda"):
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return device, torch.float16 if device == "mps" else torch.float32


class StoryMakerEngine:
    """Renders panels with StoryMaker on SDXL."""

    name = "storymaker"
    version = "1"

    def __init__(self, paths: ModelPaths, device: str | None = None, offload: str = "none", dtype: torch.dtype | None = None,
                 compile: bool | str = False, channels_last: bool = False, vae_tiling: str = "auto"):
        # speed and memory options (storyboard.engines.options); `compile` is True (inductor) or a torch.compile backend
        if offload not in OFFLOAD_MODES:
            raise EngineError(f"Unknown offload mode {offload!r}; use one of {', '.join(OFFLOAD_MODES)}.")
        if vae_tiling not in VAE_TILING_MODES:
            raise EngineError(f"Unknown VAE tiling mode {vae_tiling!r}; use one of {', '.join(VAE_TILING_MODES)}.")
        if compile and offload != "none":
            raise EngineError(f"torch.compile works with offload 'none' only, got offload {offload!r}: drop --compile "
                              "or --offload.")
        from diffusers import ControlNetModel, StableDiffusionXLControlNetPipeline, StableDiffusionXLPipeline

        from storyboard.engines.storymaker.encoding import CharacterEncoder

        self.paths = paths
        self.device, default_dtype = pick_device(device)
        self.dtype = dtype or default_dtype
        self.offload = offload
        self.vae_tiling = vae_tiling
        self.channels_last = channels_last
        self.compiled = "inductor" if compile is True else (compile or None)  # the torch.compile backend, if any
        started = time.perf_counter()
        variant = "fp16" if any(paths.sdxl.rglob("*.fp16.safetensors")) else None
        extra: dict[str, Any] = {}
        if paths.vae is not None:
            from diffusers import AutoencoderKL

            extra["vae"] = AutoencoderKL.from_pretrained(paths.vae, torch_dtype=self.dtype)
        try:
            self.pipe = StableDiffusionXLPipeline.from_pretrained(paths.sdxl, torch_dtype=self.dtype, variant=variant, **extra)
        except (OSError, ValueError) as exc:
            raise EngineUnavailable(f"Could not load the SDXL pipeline from {paths.sdxl}: {exc}") from exc
        if self.dtype == torch.float16 and paths.vae is None:
            self.pipe.vae.config.force_upcast = True  # the SDXL VAE overflows in fp16; decode in fp32
        # the ControlNet is built before the UNet's processors are swapped (the other order fails)
        self.controlnet = ControlNetModel.from_pretrained(paths.controlnet, torch_dtype=self.dtype) if paths.controlnet else None
        checkpoint = read_checkpoint(paths.storymaker)
        self.projection = build_projection(checkpoint["image_proj_model"], str(paths.storymaker)).to(self.device, self.dtype)
        layers = processors_for(self.pipe.unet, checkpoint["ip_adapter"]).to(self.device, self.dtype)
        install(self.pipe.unet, layers)
        self.pose_pipe = None
        if self.controlnet is not None:
            self.pose_pipe = StableDiffusionXLControlNetPipeline.from_pipe(self.pipe, controlnet=self.controlnet)
            self._text_len = 77
            self.controlnet.register_forward_pre_hook(self._controlnet_sees_text_only, with_kwargs=True)
        self._speed_up()
        self._place(offload)
        masker = None
        if paths.segmentation is not None:
            from storyboard.engines.storymaker.segmentation import SegmentationMasker

            masker = SegmentationMasker(paths.segmentation, device="cpu")  # once per character: the CPU is enough
        # with offload, GPU memory is what is short: CLIP encodes (once per character) on the CPU
        on_gpu = offload == "none" or self.device == "cpu"
        self.encoder = CharacterEncoder(paths.insightface, paths.clip, device=self.device if on_gpu else "cpu",
                                        dtype=self.dtype if on_gpu else torch.float32, mask_maker=masker)
        self.loras = LoraSet(self.pipe, paths.loras, paths.fast)  # the style's and the fast-preview LoRA
        self._scheduler_config = dict(self.pipe.scheduler.config)  # every scheduler is made from the model's own
        self._scheduler_names: dict[int, str] = {}  # id(pipeline) -> the scheduler it has now
        self._inpaint_pipes: dict[bool, Any] = {}  # with pose -> an inpainting pipeline sharing the loaded parts
        self._projected: dict[tuple, tuple[tuple, torch.Tensor]] = {}  # cast combination -> image tokens
        self._negatives: dict[int, torch.Tensor] = {}  # number of characters -> tokens of all-zero inputs
        self.projections = 0  # how many times the projection ran for a cast (for tests and benchmarks)
        self.load_seconds = time.perf_counter() - started
        for pipe in filter(None, (self.pipe, self.pose_pipe)):
            pipe.set_progress_bar_config(disable=True)

    @classmethod
    def create(cls, models_dir: Path | None = None, download: bool = False, **kwargs: Any) -> StoryMakerEngine:
        """Build the engine from a models folder or the Hugging Face cache; EngineUnavailable says what is missing."""
        return cls(resolve_models(models_dir, download=download), **kwargs)

    def describe(self) -> str:
        where = {"cuda": "CUDA GPU", "mps": "Apple GPU (MPS)", "cpu": "CPU (fp32: slow, minutes per panel)"}[self.device.split(":")[0]]
        pose = "with OpenPose ControlNet" if self.pose_pipe else "no pose ControlNet"
        extras = ([f"compiled ({self.compiled})"] if self.compiled else []) + (["channels-last"] if self.channels_last else [])
        extras += [f"VAE tiling {self.vae_tiling}"] if self.vae_tiling != "auto" else []
        return (f"StoryMaker on {where}, {str(self.dtype).removeprefix('torch.')}, {pose}, offload {self.offload}"
                + "".join(f", {e}" for e in extras))

    # ------------------------------------------------------------------ placement and hooks

    def _place(self, offload: str) -> None:
        if offload == "model" and self.device != "cpu":
            for pipe in filter(None, (self.pipe, self.pose_pipe)):
                pipe.enable_model_cpu_offload(device=self.device)
        elif offload == "sequential" and self.device != "cpu":
            for pipe in filter(None, (self.pipe, self.pose_pipe)):
                pipe.enable_sequential_cpu_offload(device=self.device)
        else:
            self.pipe.to(self.device)
            if self.controlnet is not None:
                self.controlnet.to(self.device)
        if offload != "none" and self.device != "cpu":
            # the projection runs once per cast combination: it waits in CPU memory, not on the GPU
            self.projection.to("cpu")
            self.projection.register_forward_pre_hook(self._projection_arrives)
            self.projection.register_forward_hook(self._projection_leaves)

    def _projection_arrives(self, module: torch.nn.Module, args: tuple) -> None:
        module.to(self.device)

    def _projection_leaves(self, module: torch.nn.Module, args: tuple, output: torch.Tensor) -> None:
        module.to("cpu")

    def _speed_up(self) -> None:
        """Channels-last and torch.compile for the models that run every step, when asked for (both off by default)."""
        every_step = [m for m in (self.pipe.unet, self.controlnet) if m is not None]
        if self.channels_last:
            for model in every_step + [self.pipe.vae]:
                model.to(memory_format=torch.channels_last)
        if self.compiled:
            if not hasattr(torch, "compile"):
                raise EngineUnavailable(f"This PyTorch ({torch.__version__}) has no torch.compile; drop --compile.")
            for model in every_step:
                # regional compilation (as diffusers' compile_repeated_blocks): the transformer blocks, where StoryMaker's
                # processors run, each compiled in place (so processors and style LoRAs stay) and sharing one compiled
                # graph per shape, which compiles in a fraction of the whole model's time
                blocks = [m for m in model.modules() if type(m).__name__ == "BasicTransformerBlock"]
                for block in blocks or [model]:
                    block.compile(backend=self.compiled)

    def _prepare_vae(self, width: int, height: int) -> None:
        """Tiled and sliced decoding for large slots (or as the vae_tiling option says): bounded decoder memory."""
        tile = self.vae_tiling == "on" or (self.vae_tiling == "auto" and width * height > VAE_TILING_MEGAPIXELS * 1e6)
        vae = self.pipe.vae  # shared with the other pipelines (pose, ...)
        if tile != vae.use_tiling:
            (vae.enable_tiling if tile else vae.disable_tiling)()
            (vae.enable_slicing if tile else vae.disable_slicing)()

    def attention_processors(self) -> dict[str, set[str]]:
        """What computes attention in each model: processor class names, and the text encoders' attn_implementation.

        diffusers gives the VAE and ControlNet AttnProcessor2_0 (F.scaled_dot_product_attention) and StoryMaker's
        processors call it themselves, so every attention layer runs SDPA."""
        report = {name: {type(p).__name__ for p in model.attn_processors.values()}
                  for name, model in (("unet", self.pipe.unet), ("vae", self.pipe.vae), ("controlnet", self.controlnet))
                  if model is not None}
        for name in ("text_encoder", "text_encoder_2"):
            report[name] = {str(getattr(getattr(self.pipe, name).config, "_attn_implementation", None))}
        return report

    def _controlnet_sees_text_only(self, module: torch.nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        """The ControlNet was trained on text tokens: cut the image tokens off its context."""
        if "encoder_hidden_states" in kwargs and kwargs["encoder_hidden_states"] is not None:
            kwargs["encoder_hidden_states"] = kwargs["encoder_hidden_states"][:, : self._text_len]
        return args, kwargs

    # ------------------------------------------------------------------ LoRAs

    def set_style_lora(self, lora: dict | None) -> None:
        """Load, switch or unload a style LoRA without reloading the base model; its weight is applied once."""
        self.loras.apply(lora, None)

    # ------------------------------------------------------------------ rendering

    def encode_prompt(self, prompt: str, negative: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Text embeddings for prompt and negative; prompts over one 77-token window are encoded in chunks."""
        tokenizer = self.pipe.tokenizer
        window = tokenizer.model_max_length - 2
        chunks = [self._chunks(text, window) for text in (prompt, negative)]
        n = max(len(chunks[0]), len(chunks[1]))
        parts = []
        for i in range(n):
            pos = chunks[0][i] if i < len(chunks[0]) else ""
            neg = chunks[1][i] if i < len(chunks[1]) else ""
            parts.append(self.pipe.encode_prompt(pos, device=self.device, do_classifier_free_guidance=True, negative_prompt=neg))
        prompt_embeds = torch.cat([p[0] for p in parts], dim=1)
        negative_embeds = torch.cat([p[1] for p in parts], dim=1)
        return prompt_embeds, negative_embeds, parts[0][2], parts[0][3]  # pooled from the first window

    def _chunks(self, text: str, window: int) -> list[str]:
        tokenizer = self.pipe.tokenizer
        ids = tokenizer(text, add_special_tokens=False, truncation=False)["input_ids"]
        if len(ids) <= window:
            return [text]
        return [tokenizer.decode(ids[i : i + window]) for i in range(0, len(ids), window)]

    def image_tokens(self, characters: tuple[CharacterRef, ...], face_only: bool, cache_dir: Path | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
        """(positive, negative) image tokens for the panel's characters, in skeleton order."""
        warnings: list[str] = []
        self.encoder.cache_dir = cache_dir / "encodings" if cache_dir is not None else None  # per project
        encodings = [self.encoder.encode(c, face_only=face_only) for c in characters]
        for enc in encodings:
            warnings += list(enc.warnings)

        def stack(name: str) -> torch.Tensor:
            return torch.from_numpy(np.stack([getattr(e, name) for e in encodings])).to(self.device, self.dtype)

        # The projection depends only on the cast combination (the encoder hands back the same encoding object
        # for unchanged files), and the all-zero negative only on how many characters: compute each once.
        key = (tuple(id(e) for e in encodings), face_only)
        hit = self._projected.get(key)
        if hit is not None and all(a is b for a, b in zip(hit[0], encodings)):
            positive = hit[1]
        else:
            identity, crops, faces = stack("identity"), stack("character_tokens"), stack("face_tokens")
            with torch.no_grad():
                positive = self.projection(identity, crops, faces, face_only=face_only)
            if len(self._projected) >= 64:
                self._projected.pop(next(iter(self._projected)))
            self._projected[key] = (tuple(encodings), positive)
            self.projections += 1
        negative = self._negatives.get(len(encodings))
        if negative is None:
            identity, crops, faces = stack("identity"), stack("character_tokens"), stack("face_tokens")
            with torch.no_grad():
                negative = self.projection(torch.zeros_like(identity), torch.zeros_like(crops), torch.zeros_like(faces))
            self._negatives[len(encodings)] = negative
        return positive, negative, warnings

    # ------------------------------------------------------------------ cast encodings shared by a cluster

    def encode_cast(self, requests: Sequence[RenderRequest],
                    cached: Mapping[str, bytes] | None = None) -> tuple[dict[str, CharacterEncoding], dict[str, bytes]]:
        """Encode every character the requests draw, once each: (encodings by cache key, new cache files by key).

        `cached` holds encoding cache files (`<key>.safetensors` bytes) kept from earlier runs; they are used
        instead of encoding again. The new files are for the caller to keep (storyboard.cluster: the driver alone
        writes into the project)."""
        wanted = self._cast_members(requests)
        kept = self.encoder.cache_dir
        with tempfile.TemporaryDirectory(prefix="storyboard-encodings-") as tmp:
            folder = Path(tmp)
            for key, data in (cached or {}).items():
                (folder / f"{key}.safetensors").write_bytes(data)
            self.encoder.cache_dir = folder
            try:
                encodings = {self.encoder.key(c, face_only): self.encoder.encode(c, face_only) for c, face_only in wanted}
            finally:
                self.encoder.cache_dir = kept
            new = {p.stem: p.read_bytes() for p in folder.glob("*.safetensors") if p.stem not in (cached or {})}
        return encodings, new

    def cast_keys(self, requests: Sequence[RenderRequest]) -> list[str]:
        """The encoding cache key of every character the requests draw (each once); reads their files."""
        return [self.encoder.key(c, face_only) for c, face_only in self._cast_members(requests)]

    def _cast_members(self, requests: Sequence[RenderRequest]) -> list[tuple[CharacterRef, bool]]:
        """(character, face_only) for every character with a photo in the requests, each once, in order."""
        wanted: list[tuple[CharacterRef, bool]] = []
        for request in requests:
            face_only = StoryMakerSettings.from_request(request).face_only
            wanted += [(c, face_only) for c in request.characters if c.reference is not None and (c, face_only) not in wanted]
        return wanted

    def use_encodings(self, encodings: Mapping[str, CharacterEncoding]) -> None:
        """Use character encodings made elsewhere (another worker of a cluster) instead of encoding again."""
        self.encoder.preload(encodings)

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        if len(request.characters) > STORYMAKER_CHARACTERS:  # the first two, then a regional pass per character
            check_photos(request)  # every character's, before the first pass
            return render_regional(self, request, context)
        return self._run(request, context)

    def retouch(self, request: RenderRequest, image: Image.Image, mask: Image.Image, context: RenderContext) -> RenderResult:
        """Render again where `mask` is white (SDXL inpainting with StoryMaker's processors); `image` is the take.

        Both are at the request's size. The whole image comes back; the caller keeps the old pixels outside the mask."""
        if image.size != (request.width, request.height) or mask.size != image.size:
            raise EngineError(f"Retouch of panel {request.panel_id!r}: the take ({image.width}x{image.height}) and the mask "
                              f"({mask.width}x{mask.height}) must both be {request.width}x{request.height}.")
        note = None
        if len(request.characters) > STORYMAKER_CHARACTERS:  # those the region covers most
            request, note = retouch_characters(request, mask)
        result = self._run(request, context, (image.convert("RGB"), mask.convert("L")))
        if note is not None:
            result.metadata["warnings"].append(note)
        return result

    def _run(self, request: RenderRequest, context: RenderContext,
             retouch: tuple[Image.Image, Image.Image] | None = None) -> RenderResult:
        started = time.perf_counter()
        settings = StoryMakerSettings.from_request(request)
        warnings: list[str] = []
        # 1. Check inputs
        n = len(request.characters)
        limit = self.projection.cfg.max_characters
        if n > limit:
            raise EngineError(f"Panel {request.panel_id!r} has {n} characters; StoryMaker places at most {limit}.")
        check_photos(request)
        if request.pose is not None and self.pose_pipe is None:
            warnings.append("the panel has a pose but no OpenPose ControlNet is installed; the pose is ignored")
        context.check_cancelled()
        self.loras.apply(settings.lora, settings.fast)  # style and fast-preview LoRAs, beside StoryMaker's own
        # 2. Encode the prompt (chunked past 77 tokens) and the characters
        prompt_embeds, negative_embeds, pooled, negative_pooled = self.encode_prompt(request.styled_prompt, request.negative_prompt)
        text_len = prompt_embeds.shape[1]
        if n:
            positive_img, negative_img, enc_warnings = self.image_tokens(request.characters, settings.face_only, request.cache_dir)
            warnings += enc_warnings
            prompt_embeds = torch.cat([prompt_embeds, positive_img.to(prompt_embeds.dtype)], dim=1)
            negative_embeds = torch.cat([negative_embeds, negative_img.to(negative_embeds.dtype)], dim=1)
        attention = {"text_len": text_len, "ip_scale": settings.ip_adapter_scale if n else 0.0,
                     "lora_scale": settings.lora_scale if n else 0.0}
        identity = IdentitySchedule(attention, settings.identity_start if n else 0.0, settings.identity_end if n else 1.0)
        # 3. Pipeline, scheduler, seed, progress and cancel
        pipe, call = self._pipeline(request, settings, retouch, text_len)
        self._set_scheduler(pipe, settings.scheduler)
        generator = torch.Generator(device="cpu").manual_seed(request.seed)
        total = request.steps

        def on_step(p: Any, step: int, timestep: Any, tensors: dict) -> dict:
            context.progress(step + 1, total)
            identity.after_step(p, step)
            if context.cancelled():
                p._interrupt = True
            return tensors

        self._prepare_vae(request.width, request.height)
        # 4. Denoise
        identity.begin(total)
        try:
            with torch.no_grad():
                output = pipe(
                    prompt_embeds=prompt_embeds, negative_prompt_embeds=negative_embeds,
                    pooled_prompt_embeds=pooled, negative_pooled_prompt_embeds=negative_pooled,
                    width=request.width, height=request.height, num_inference_steps=request.steps,
                    guidance_scale=request.guidance, generator=generator, cross_attention_kwargs=attention,
                    callback_on_step_end=on_step, output_type="pil", **call,
                )
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            raise EngineError(
                f"The GPU ran out of memory rendering panel {request.panel_id!r} at {request.width}x{request.height}. "
                "Try a smaller page slot, or start with offload ('model', or 'sequential' on small GPUs)."
            ) from None
        if context.cancelled():
            raise RenderCancelled(f"Panel {request.panel_id!r} was cancelled; it keeps its previous take.")
        image: Image.Image = output.images[0]
        return RenderResult(
            image=image,
            metadata={
                "engine": self.name, "engine_version": self.version, "seed": request.seed,
                "width": request.width, "height": request.height, "steps": request.steps,
                "seconds": round(time.perf_counter() - started, 3), "device": self.device,
                "ip_adapter_scale": identity.full[0], "lora_scale": identity.full[1],
                "identity_steps": list(identity.steps_on) if n else [], "loras": list(self.loras.active),
                "scheduler": settings.scheduler, "retouch": retouch is not None,
                "text_tokens": text_len, "warnings": warnings,
            },
        )

    def _pipeline(self, request: RenderRequest, settings: StoryMakerSettings,
                  retouch: tuple[Image.Image, Image.Image] | None, text_len: int) -> tuple[Any, dict[str, Any]]:
        """The pipeline for this request (text to image, with a pose, inpainting, or both) and its own arguments."""
        call: dict[str, Any] = {}
        pose = request.pose is not None and self.pose_pipe is not None
        if pose:
            self._text_len = text_len
            call.update(
                controlnet_conditioning_scale=settings.controlnet_scale,
                control_guidance_start=settings.control_start,
                control_guidance_end=settings.control_end,
            )
            pose_map = self.pose_map(request.pose, request, settings.pose_map_style)  # type: ignore[arg-type]
        if retouch is None:
            if pose:
                call["image"] = pose_map
            return (self.pose_pipe if pose else self.pipe), call
        image, mask = retouch
        call.update(image=image, mask_image=mask, strength=1.0)
        if pose:
            call["control_image"] = pose_map
        return self._inpaint_pipe(pose), call

    def _inpaint_pipe(self, pose: bool) -> Any:
        """An SDXL inpainting pipeline (with the ControlNet when `pose`) sharing every loaded part, made once."""
        if pose not in self._inpaint_pipes:
            from diffusers import StableDiffusionXLControlNetInpaintPipeline, StableDiffusionXLInpaintPipeline

            if pose:
                pipe = StableDiffusionXLControlNetInpaintPipeline.from_pipe(self.pipe, controlnet=self.controlnet)
            else:
                pipe = StableDiffusionXLInpaintPipeline.from_pipe(self.pipe)
            pipe.set_progress_bar_config(disable=True)
            if self.device != "cpu" and self.offload == "model":
                pipe.enable_model_cpu_offload(device=self.device)
            elif self.device != "cpu" and self.offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=self.device)
            self._inpaint_pipes[pose] = pipe
        return self._inpaint_pipes[pose]

    def pose_map(self, pose: Pose, request: RenderRequest, style: str = "thick") -> Image.Image:
        """The ControlNet image: skeletons in the order of the panel's characters, at the render size."""
        from storyboard.posemap import render_pose_map

        people = list(pose.people)
        by_character = {p.character: p for p in people if p.character}
        ordered = [by_character.get(c.id) for c in request.characters]
        if all(ordered) and ordered:  # skeletons that name their cast member go where that member is placed
            people = ordered + [p for p in people if p not in ordered]
        ordered_pose = Pose(pose.width, pose.height, tuple(people))
        return Image.fromarray(render_pose_map(ordered_pose, request.width, request.height, style=style))

    def _set_scheduler(self, pipe: Any, name: str) -> None:
        """Give `pipe` the scheduler `name`, made from the model's own scheduler config (never from another's)."""
        import diffusers

        if self._scheduler_names.get(id(pipe)) == name:
            return
        class_name, options = SCHEDULERS.get(name, SCHEDULERS["unipc"])
        pipe.scheduler = getattr(diffusers, class_name).from_config(self._scheduler_config, **options)
        self._scheduler_names[id(pipe)] = name
