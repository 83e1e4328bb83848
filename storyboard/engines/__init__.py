"""Engines turn a RenderRequest into an image. One interface, two engines: draft (no weights) and StoryMaker.

Heavy libraries (torch, diffusers, ...) are imported only inside the engine that needs them, when it is built.
The shared types live in storyboard.engines.base (the engines import them from there).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from storyboard.engines.base import CharacterRef, Engine, RenderContext, RenderRequest, RenderResult
from storyboard.errors import EngineUnavailable

__all__ = ["ENGINE_NAMES", "CharacterRef", "Engine", "RenderContext", "RenderRequest", "RenderResult", "get_engine",
           "load_storymaker"]

log = logging.getLogger(__name__)

ENGINE_NAMES = ("auto", "draft", "storymaker")


def load_storymaker(models_dir: Path | None, download: bool, require_gpu: bool, **options: Any) -> Engine:
    """StoryMaker from a models folder or the Hugging Face cache; EngineUnavailable says what is missing.

    torch is imported only once the models are known to be there.
    """
    from storyboard.engines.storymaker.models import resolve_models

    paths = resolve_models(models_dir, download=download)
    try:
        from storyboard.engines.storymaker.engine import StoryMakerEngine, pick_device  # heavy: torch, diffusers
    except ImportError as exc:
        raise EngineUnavailable(f"StoryMaker needs torch and diffusers ({exc}); install the project's dependencies.") from exc
    if require_gpu and not options.get("device") and pick_device()[0] == "cpu":
        raise EngineUnavailable("there is no GPU here; StoryMaker on the CPU takes minutes per panel "
                                "(ask for it with '--engine storymaker')")
    return StoryMakerEngine(paths, **options)


def get_engine(name: str = "auto", models_dir: Path | None = None, **options: Any) -> Engine:
    """Build an engine by name.

    'storymaker' loads StoryMaker (downloading its models on first use when no models folder is given);
    'auto' uses StoryMaker only when its models are already here and a GPU is present, else draft mode,
    without importing torch when the models are missing. `options` are StoryMakerEngine's keywords: device,
    dtype and the speed and memory options of storyboard.engines.options (offload, vae_tiling, compile,
    channels_last); the draft engine has none.
    """
    if name not in ENGINE_NAMES:
        raise EngineUnavailable(f"Unknown engine {name!r}; use one of: {', '.join(ENGINE_NAMES)}.")
    if name in ("storymaker", "auto"):
        try:
            return load_storymaker(models_dir, download=name == "storymaker", require_gpu=name == "auto", **options)
        except EngineUnavailable as exc:
            if name == "storymaker":
                raise
            log.warning("Draft mode: %s", exc)
    from storyboard.engines.draft import DraftEngine

    return DraftEngine()
