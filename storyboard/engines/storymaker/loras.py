"""The PEFT LoRAs on the SDXL pipeline beside StoryMaker's own: the style's LoRA and the fast-preview LoRA.

Each is a named PEFT adapter ("style", "fast"), loaded once and switched per render with `set_adapters`, so
several are active at once and each weight is applied once (PEFT scales each adapter by its own weight). A
style LoRA no longer wanted is deleted (styles change rarely); the fast LoRA stays loaded but inactive between
previews. StoryMaker's LoRA lives in its attention processors (storyboard.engines.storymaker.attention) and is
not a PEFT adapter: PEFT wraps the attention Linear layers the processors call, so both apply.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.engines.storymaker.attention import installed
from storyboard.engines.storymaker.models import find_fast_lora
from storyboard.errors import EngineError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Wanted:
    """One adapter a render wants: where it comes from (its key) and how strongly it applies."""

    key: str
    source: str | Path
    kwargs: tuple[tuple[str, Any], ...]
    weight: float


class LoraSet:
    """The named LoRA adapters of one pipeline (and the pipelines made from it, which share its UNet)."""

    def __init__(self, pipe: Any, loras_dir: Path | None, fast_dir: Path | None) -> None:
        self.pipe = pipe
        self.loras_dir = loras_dir
        self.fast_dir = fast_dir  # the models folder's fast/ part; None: the Hugging Face cache only
        self.loaded: dict[str, str] = {}  # adapter name -> key of what is loaded under it
        self.active: tuple[str, ...] = ()
        self._disabled = False

    def apply(self, style: dict | None, fast: dict | None) -> None:
        """Make exactly these LoRAs active (None: that one off), loading what is new; StoryMaker's processors stay."""
        wanted: dict[str, Wanted] = {}
        if style:
            wanted["style"] = self._style(style)
        if fast:
            wanted["fast"] = self._fast(fast)
        for name, key in list(self.loaded.items()):
            if (name in wanted and wanted[name].key != key) or (name == "style" and name not in wanted):
                self.pipe.delete_adapters(name)
                del self.loaded[name]
        for name, want in wanted.items():
            if name not in self.loaded:
                try:
                    self.pipe.load_lora_weights(want.source, adapter_name=name, **dict(want.kwargs))
                except Exception as exc:  # missing files, wrong format, hub errors
                    what = "style LoRA" if name == "style" else "fast-preview LoRA"
                    raise EngineError(f"Could not load the {what} {want.source}: {exc}. Check "
                                      + ("the style preset or pick another style." if name == "style"
                                         else "the file, or render without the fast preview.")) from exc
                self.loaded[name] = want.key
        if wanted:
            if self._disabled:
                self.pipe.enable_lora()
                self._disabled = False
            self.pipe.set_adapters(list(wanted), adapter_weights=[w.weight for w in wanted.values()])
        elif self.loaded and not self._disabled:  # only inactive ones are loaded: none may act
            self.pipe.disable_lora()
            self._disabled = True
        self.active = tuple(wanted)
        if not installed(self.pipe.unet):
            raise EngineError("Loading a LoRA replaced StoryMaker's attention processors; this is a bug, please report it.")

    def _style(self, lora: dict) -> Wanted:
        key = f"{lora.get('repo') or ''}/{lora.get('file') or lora.get('path')}"
        weight = float(lora.get("weight", 1.0))
        if lora.get("path"):
            if self.loras_dir is None:
                raise EngineError(f"The style's LoRA {lora['path']} is a local file, but the models folder has no loras/ folder.")
            source = self.loras_dir / lora["path"]
            if not source.is_file():
                raise EngineError(f"The style's LoRA {source} does not exist; put the .safetensors file there or pick another style.")
            return Wanted(key, source, (), weight)
        return Wanted(key, lora["repo"], (("weight_name", lora["file"]),), weight)

    def _fast(self, lora: dict) -> Wanted:
        path = find_fast_lora(lora, self.fast_dir)  # EngineUnavailable: which file, and where it goes
        return Wanted(f"{lora.get('repo')}/{lora['file']}", path, (), float(lora.get("weight", 1.0)))
