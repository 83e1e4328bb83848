"""Where StoryMaker's weights come from: `presets/models.yaml` (Hub ids) or an offline models folder.

Offline layout (`--models DIR` or $STORYBOARD_MODELS):
    sdxl/                           a diffusers SDXL pipeline folder
    storymaker/mask.bin             the adapter (or mask.safetensors)
    clip-vit-h-14/                  an open_clip folder: open_clip_config.json + weights
    insightface/models/buffalo_l/   the insightface pack (non-commercial research use only)
    controlnet-openpose/            optional: a diffusers SDXL OpenPose ControlNet folder
    segmentation/                   optional: a human-parsing model that masks cast photos without a mask
    sdxl-vae-fp16-fix/              optional: an SDXL VAE that does not overflow in fp16
    loras/                          optional: style LoRAs named by presets' `path:`
    fast/                           optional: step-distillation LoRAs for fast previews (presets/fast.yaml's files)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import yaml

from storyboard.errors import EngineUnavailable
from storyboard.presets import PRESETS_DIR

log = logging.getLogger(__name__)
MODELS_FILE = PRESETS_DIR / "models.yaml"


@dataclass(frozen=True)
class ModelPaths:
    """Local folders and files for every part, resolved and checked."""

    sdxl: Path
    storymaker: Path
    clip: Path
    insightface: Path  # the folder that holds models/buffalo_l
    controlnet: Path | None = None
    vae: Path | None = None
    loras: Path | None = None
    segmentation: Path | None = None  # automatic masks for cast members without one
    fast: Path | None = None  # where fast-preview LoRAs are looked for first (may not exist); then the Hub cache


def model_sources(path: Path = MODELS_FILE) -> dict:
    """The parsed models.yaml."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _has_weights(folder: Path) -> bool:
    return any(folder.rglob("*.safetensors")) or any(folder.rglob("*.bin")) or any(folder.rglob("*.pt"))


def check_models_dir(root: Path) -> ModelPaths:
    """The parts in an offline models folder; EngineUnavailable lists every missing part and how to get it."""
    root = Path(root)
    src = model_sources()
    missing: list[str] = []
    if not root.is_dir():
        raise EngineUnavailable(f"The models folder {root} does not exist. Create it with the parts listed in README.md.")
    sdxl = root / src["sdxl"]["local"]
    if not (sdxl / "model_index.json").is_file():
        missing.append(f"{sdxl}/ (a diffusers SDXL folder, e.g. `huggingface-cli download {src['sdxl']['hub']} --local-dir {sdxl}`)")
    adapter = root / src["storymaker"]["local"]
    if not adapter.is_file() and adapter.with_suffix(".safetensors").is_file():
        adapter = adapter.with_suffix(".safetensors")
    if not adapter.is_file():
        missing.append(
            f"{adapter} (`huggingface-cli download {src['storymaker']['hub']} {src['storymaker']['file']} --local-dir {adapter.parent}`)"
        )
    clip = root / src["clip"]["local"]
    if not (clip / "open_clip_config.json").is_file() or not _has_weights(clip):
        missing.append(f"{clip}/ (open_clip_config.json + weights: `huggingface-cli download {src['clip']['hub']} --local-dir {clip}`)")
    face = root / src["face"]["local"]
    if not any(face.glob("*.onnx")):
        missing.append(
            f"{face}/ (the insightface {src['face']['name']} pack's .onnx files; licensed for non-commercial research only)"
        )
    if missing:
        raise EngineUnavailable(
            f"The models folder {root} is missing {len(missing)} part(s) StoryMaker needs:\n  - " + "\n  - ".join(missing)
        )
    controlnet = root / src["controlnet_openpose"]["local"]
    vae = root / src["vae"]["local"]
    loras = root / src["loras"]["local"]
    segmentation = root / src["segmentation"]["local"]
    fast = fast_folder(root)
    return ModelPaths(
        sdxl=sdxl,
        storymaker=adapter,
        clip=clip,
        insightface=face.parent.parent,
        controlnet=controlnet if (controlnet / "config.json").is_file() else None,
        vae=vae if (vae / "config.json").is_file() else None,
        loras=loras if loras.is_dir() else None,
        segmentation=segmentation if (segmentation / "config.json").is_file() else None,
        fast=fast,
    )


def resolve_models(models_dir: Path | None, download: bool) -> ModelPaths:
    """The parts from a models folder, else from the Hugging Face cache (downloading them, with progress, if allowed)."""
    if models_dir is not None:
        return check_models_dir(models_dir)
    try:
        from huggingface_hub import hf_hub_download, snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError
    except ImportError as exc:
        raise EngineUnavailable("huggingface_hub is not installed; install the project's dependencies.") from exc
    src = model_sources()
    local_only = not download

    def snapshot(repo: str, **kwargs: object) -> Path:
        return Path(snapshot_download(repo, local_files_only=local_only, **kwargs))

    try:
        if download:
            log.info("Fetching StoryMaker's models into the Hugging Face cache (about 17 GB on first use)...")
        # fnmatch's '*' crosses '/': these patterns reach into the component folders
        sdxl = snapshot(src["sdxl"]["hub"], allow_patterns=["*.json", "*.txt", "*.fp16.safetensors"])
        adapter = Path(hf_hub_download(src["storymaker"]["hub"], src["storymaker"]["file"], local_files_only=local_only))
        clip = snapshot(src["clip"]["hub"], allow_patterns=["open_clip_config.json", "open_clip_model.safetensors"])
        weights = ["config.json", "diffusion_pytorch_model.safetensors"]
        controlnet = snapshot(src["controlnet_openpose"]["hub"], allow_patterns=weights)
        try:
            vae: Path | None = snapshot(src["vae"]["hub"], allow_patterns=weights)
        except LocalEntryNotFoundError:
            vae = None  # optional: without it the SDXL VAE decodes in fp32
        try:  # optional and never downloaded unasked: used when it is already in the cache
            segmentation: Path | None = Path(snapshot_download(src["segmentation"]["hub"], local_files_only=True))
        except LocalEntryNotFoundError:
            segmentation = None
    except LocalEntryNotFoundError:
        raise EngineUnavailable(
            "StoryMaker's models are not in the Hugging Face cache. Run with '--engine storymaker' on a machine with "
            "internet to download them (about 17 GB), point '--models DIR' at an offline copy (see README.md), "
            "or use '--engine draft' for storyboard thumbnails without weights."
        ) from None
    except Exception as exc:  # network and hub errors have no common base
        raise EngineUnavailable(
            f"Could not fetch StoryMaker's models: {exc}. Check the connection, use '--models DIR', "
            "or use '--engine draft' for storyboard thumbnails without weights."
        ) from exc
    face_root = Path.home() / ".insightface"
    pack = face_root / "models" / src["face"]["name"]
    if download and not any(pack.glob("*.onnx")):
        log.warning("Downloading the insightface %s pack into %s. It is licensed for non-commercial research "
                    "use only.", src["face"]["name"], pack.parent)
        try:
            from insightface.utils.storage import ensure_available

            ensure_available("models", src["face"]["name"], root=str(face_root))
        except Exception as exc:  # network errors, a bad zip
            log.warning("Could not download the insightface pack: %s", exc)
    if not any(pack.glob("*.onnx")):
        raise EngineUnavailable(
            f"The insightface {src['face']['name']} pack is not in {face_root / 'models'}. insightface's packs are licensed "
            "for non-commercial research only; if that fits your use, download buffalo_l.zip from the insightface "
            f"releases and unpack it into {face_root / 'models' / src['face']['name']}."
        )
    return ModelPaths(sdxl=sdxl, storymaker=adapter, clip=clip, insightface=face_root, controlnet=controlnet, vae=vae,
                      segmentation=segmentation)


def fast_folder(models_dir: Path | None) -> Path | None:
    """Where a models folder keeps its fast-preview LoRAs (`fast/`, whether it exists or not); None without one."""
    return Path(models_dir) / model_sources().get("fast", {}).get("local", "fast") if models_dir is not None else None


def find_fast_lora(lora: dict, folder: Path | None) -> Path:
    """The fast-preview LoRA `lora` ({repo, file, ...} of presets/fast.yaml) from `folder` (a models folder's fast/)
    or the Hugging Face cache; EngineUnavailable says which file to get and where to put it. Never downloads."""
    if folder is not None and (folder / lora["file"]).is_file():
        return folder / lora["file"]
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(lora["repo"], lora["file"], local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError), or no huggingface_hub: both mean "get the file"
        pass
    where = f"{folder}/" if folder is not None else "the models folder's fast/ part (--models DIR)"
    target = f" --local-dir {folder}" if folder is not None else ""
    raise EngineUnavailable(
        f"Fast previews need the step-distillation LoRA {lora['file']} ({lora['repo']}"
        + (f", {lora['license']}" if lora.get("license") else "") + f"), which is neither in {where} nor in the "
        f"Hugging Face cache. Get it with: huggingface-cli download {lora['repo']} {lora['file']}{target} "
        "(without --local-dir it goes into the Hugging Face cache), then render with --fast again; or render without --fast."
    )
