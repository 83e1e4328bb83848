"""StoryMaker's speed and memory options: one table for the engine, the render command's flags and the docs.

They change how fast a panel renders and how much GPU memory it takes, not what a panel is, so they are
engine settings (StoryMakerEngine's keywords, passed through get_engine and EngineHolder), never part of a
RenderRequest or a take's digest. No torch here: the CLI reads this table before any model loads.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

OFFLOAD_MODES = ("none", "model", "sequential")
VAE_TILING_MODES = ("auto", "on", "off")
VAE_TILING_MEGAPIXELS = 1.5  # `auto` decodes slots larger than this in tiles


@dataclass(frozen=True)
class EngineOption:
    """One engine option: its keyword, the render command's flag, default, choices (None: an on/off switch), help."""

    name: str
    flag: str
    default: Any
    choices: tuple[str, ...] | None
    help: str


ENGINE_OPTIONS: tuple[EngineOption, ...] = (
    EngineOption("offload", "--offload", "none", OFFLOAD_MODES,
                 "where StoryMaker's models wait between uses: none (all on the GPU, fastest), model (each model moves "
                 "to the GPU when it runs) or sequential (each layer does: least GPU memory, slowest); with offload, "
                 "character encoding (once per character) runs on the CPU"),
    EngineOption("vae_tiling", "--vae-tiling", "auto", VAE_TILING_MODES,
                 f"decode images in tiles, which bounds the decoder's memory: auto (slots over {VAE_TILING_MEGAPIXELS:g} "
                 "megapixels), on or off"),
    EngineOption("compile", "--compile", False, None,
                 "compile the UNet's and ControlNet's transformer blocks with torch.compile: faster steps after a "
                 "slow first panel of each size (needs --offload none)"),
    EngineOption("channels_last", "--channels-last", False, None,
                 "keep the UNet, ControlNet and VAE in channels-last memory format (faster convolutions on some GPUs)"),
)


def changed_options(values: Mapping[str, Any]) -> dict[str, Any]:
    """The options in `values` (by name) that differ from their defaults: what to pass to get_engine / EngineHolder."""
    return {o.name: values[o.name] for o in ENGINE_OPTIONS if values.get(o.name, o.default) != o.default}
