"""Style presets (`presets/styles/*.yaml`): prompt template, negative prompt, optional LoRA, sampler."""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass, field
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from storyboard.errors import PresetError
from storyboard.model import COLOR_PATTERN

PRESETS_DIR = Path(__file__).resolve().parent.parent / "presets"
STYLES_DIR = PRESETS_DIR / "styles"
SCHEMA_VERSION = 1

SCHEDULERS = ("unipc", "euler", "euler-a", "dpmpp-2m", "dpmpp-2m-karras", "ddim",
              "euler-trailing", "ddim-trailing", "lcm")  # the last three: what step-distillation LoRAs were made for

DRAFT_PALETTES = ("cast", "grey", "mono")
DRAFT_TEXTURES = ("none", "screentone", "wash", "shadows", "hatching")
DRAFT_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "palette": (str, "figure colours: cast (each character's colour), grey (a grey per character, the picture in "
                     "greys) or mono (black and white)"),
    "paper": (str, "background colour, like \"#f8f6f0\""),
    "ink": (str, "colour of lines, silhouettes, shadows and bars, like \"#28282e\""),
    "pencil": (str, "colour of the set's light lines, like \"#c4c0b8\""),
    "texture": (str, "none, screentone (dots), wash (soft watercolour), shadows (hard noir light) or hatching (pencil)"),
    "line_weight": ((int, float), "figure line thickness, 0.25 to 4 times the default"),
    "strokes": (int, "strokes per line, 1 (clean) to 4 (sketchy)"),
    "outline": (bool, "true for a contrasting outline around figures"),
    "soften": ((int, float), "blur of the art, 0 to 8 px per 1024 px"),
    "saturation": ((int, float), "colour saturation, 0 to 2 (1 keeps it)"),
    "contrast": ((int, float), "contrast around mid-grey, 0.5 to 3 (1 keeps it)"),
    "pixel": (int, "pixel blocks of this many px per 1024 px, 0 (off) to 64"),
    "colors": (int, "the art reduced to this many colours, 0 (off) or 2 to 256"),
    "letterbox": ((int, float), "bars top and bottom, each this fraction of the height, 0 to 0.3"),
    "vignette": ((int, float), "darkened corners, 0 to 1"),
}
DRAFT_RANGES: dict[str, tuple[float, float]] = {
    "line_weight": (0.25, 4.0), "strokes": (1, 4), "soften": (0.0, 8.0), "saturation": (0.0, 2.0),
    "contrast": (0.5, 3.0), "pixel": (0, 64), "colors": (0, 256), "letterbox": (0.0, 0.3), "vignette": (0.0, 1.0),
}

# key: (type, help) — one table drives validation and `python -m storyboard styles`.
STYLE_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "schema": (int, f"preset format version ({SCHEMA_VERSION})"),
    "name": (str, "name shown in the style picker"),
    "description": (str, "one sentence on what the style looks like"),
    "prompt": (str, "prompt template; {prompt} is replaced by the panel's prompt"),
    "negative": (str, "negative prompt"),
    "lora": (dict, "optional style LoRA: repo + file on the Hub, or path to a local .safetensors"),
    "sampler": (dict, "sampler settings"),
    "draft": (dict, "a mapping of how draft mode draws this style: " + ", ".join(DRAFT_KEYS)),
}
LORA_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "repo": (str, "Hugging Face Hub repo id, e.g. owner/name"),
    "file": (str, "weight file in that repo (.safetensors)"),
    "path": (str, "local .safetensors file (relative to the models folder's loras/)"),
    "weight": ((int, float), "LoRA strength, 0 to 2 (applied once)"),
    "trigger": (list, "trigger words added to every prompt"),
    "license": (str, "the LoRA's licence"),
}
SAMPLER_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "scheduler": (str, "one of " + ", ".join(SCHEDULERS)),
    "steps": (int, "denoising steps, 1 to 150"),
    "guidance": ((int, float), "classifier-free guidance scale, 1 to 30"),
    "ip_adapter_scale": ((int, float), "StoryMaker image-token strength, 0 to 2"),
    "lora_scale": ((int, float), "StoryMaker LoRA strength, 0 to 2"),
    "pose_scale": ((int, float), "how strongly a panel's pose steers the figures (ControlNet scale), 0 to 2"),
    "pose_start": ((int, float), "fraction of the steps after which the pose starts to steer, 0 to 1"),
    "pose_end": ((int, float), "fraction of the steps after which the pose stops steering, 0 to 1"),
    "identity_start": ((int, float), "fraction of the steps drawn from the prompt alone before the characters join "
                                     "(the layout is the prompt's), 0 (off: the released behaviour) to 0.9"),
    "identity_end": ((int, float), "fraction of the steps after which the characters leave again, 0.1 to 1 (1: they "
                                   "stay to the end)"),
}



@dataclass(frozen=True)
class DraftLook:
    """How the draft engine draws in a style (the `draft:` mapping of a preset); defaults are the plain look."""

    palette: str = "cast"
    paper: str = "#f8f6f0"
    ink: str = "#28282e"
    pencil: str = "#c4c0b8"
    texture: str = "none"
    line_weight: float = 1.0
    strokes: int = 1
    outline: bool = False
    soften: float = 0.0
    saturation: float = 1.0
    contrast: float = 1.0
    pixel: int = 0
    colors: int = 0
    letterbox: float = 0.0
    vignette: float = 0.0


@dataclass(frozen=True)
class LoraSpec:
    """Where a style LoRA comes from and how strongly it applies."""

    repo: str | None = None
    file: str | None = None
    path: str | None = None
    weight: float = 1.0
    trigger: tuple[str, ...] = ()
    license: str = ""


@dataclass(frozen=True)
class Sampler:
    """Sampler settings; defaults are the released StoryMaker ones."""

    scheduler: str = "unipc"
    steps: int = 25
    guidance: float = 7.5
    ip_adapter_scale: float = 0.8
    lora_scale: float = 0.8
    pose_scale: float = 0.8
    pose_start: float = 0.0
    pose_end: float = 1.0
    identity_start: float = 0.0
    identity_end: float = 1.0


@dataclass(frozen=True)
class StylePreset:
    """A look for the whole story: prompt template, negative prompt, optional LoRA, sampler settings."""

    id: str
    name: str
    description: str
    prompt: str
    negative: str = ""
    lora: LoraSpec | None = None
    sampler: Sampler = field(default_factory=Sampler)
    draft: DraftLook = field(default_factory=DraftLook)

    def apply(self, prompt: str) -> str:
        """The panel prompt inside this style's template, with the LoRA's trigger words."""
        text = self.prompt.replace("{prompt}", prompt.strip())
        if self.lora and self.lora.trigger:
            missing = [t for t in self.lora.trigger if t.lower() not in text.lower()]
            if missing:
                text = ", ".join(missing) + ", " + text
        return re.sub(r"\s*,(\s*,)+", ",", text).strip(" ,")


def _check(data: Any, keys: dict[str, tuple[Any, str]], where: str, what: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise PresetError(f"{where}: {what} must be a mapping with keys {', '.join(keys)}.")
    for key, value in data.items():
        if key not in keys:
            raise PresetError(f"{where}: unknown key {key!r} in {what}; allowed: {', '.join(keys)}.")
        kind, help_text = keys[key]
        if value is not None and (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)):
            raise PresetError(f"{where}: {what} key {key!r} must be {help_text}, got {value!r}.")
    return {k: v for k, v in data.items() if v is not None}


def _range(where: str, key: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise PresetError(f"{where}: {key} {value} is out of range; use {low} to {high}.")


def parse_style(data: Any, preset_id: str, where: str) -> StylePreset:
    """Validate a style preset's YAML data and build it."""
    f = _check(data, STYLE_KEYS, where, "the preset")
    for key in ("schema", "name", "prompt"):
        if key not in f:
            raise PresetError(f"{where}: the preset has no {key!r} ({STYLE_KEYS[key][1]}); add it.")
    if f["schema"] != SCHEMA_VERSION:
        raise PresetError(f"{where}: schema {f['schema']} is not supported; this app reads {SCHEMA_VERSION}.")
    if "{prompt}" not in f["prompt"]:
        raise PresetError(f"{where}: the prompt template must contain {{prompt}} where the panel's prompt goes.")
    lora = None
    if "lora" in f:
        lf = _check(f["lora"], LORA_KEYS, where, "lora")
        if not (("repo" in lf and "file" in lf) or "path" in lf):
            raise PresetError(f"{where}: lora needs either 'repo' and 'file' (Hub) or 'path' (a local .safetensors).")
        if not (lf.get("file") or lf.get("path", "")).endswith(".safetensors"):
            raise PresetError(f"{where}: LoRA weights must be a .safetensors file (safe to load); got {lf.get('file') or lf.get('path')!r}.")
        weight = float(lf.get("weight", 1.0))
        _range(where, "lora weight", weight, 0.0, 2.0)
        trigger = lf.get("trigger", [])
        if not all(isinstance(t, str) for t in trigger):
            raise PresetError(f"{where}: lora trigger must be a list of words.")
        lora = LoraSpec(
            repo=lf.get("repo"), file=lf.get("file"), path=lf.get("path"), weight=weight,
            trigger=tuple(trigger), license=lf.get("license", ""),
        )
    sampler = build_sampler(f.get("sampler", {}), where)
    return StylePreset(
        id=preset_id, name=f["name"], description=f.get("description", ""), prompt=f["prompt"],
        negative=f.get("negative", ""), lora=lora, sampler=sampler, draft=build_draft_look(f.get("draft", {}), where),
    )


def build_draft_look(data: Any, where: str) -> DraftLook:
    """Validate a preset's `draft:` mapping and build the look (missing keys keep the plain look)."""
    f = _check(data, DRAFT_KEYS, where, "draft")
    fields = DraftLook.__dataclass_fields__
    look = DraftLook(**{k: (float(v) if isinstance(fields[k].default, float) else v) for k, v in f.items()})
    for key in ("paper", "ink", "pencil"):
        if not COLOR_PATTERN.match(getattr(look, key)):
            raise PresetError(f"{where}: draft {key} {getattr(look, key)!r} must be a colour like \"#f8f6f0\" (quoted).")
    if look.palette not in DRAFT_PALETTES:
        raise PresetError(f"{where}: draft palette {look.palette!r} is unknown; use one of {', '.join(DRAFT_PALETTES)}.")
    if look.texture not in DRAFT_TEXTURES:
        raise PresetError(f"{where}: draft texture {look.texture!r} is unknown; use one of {', '.join(DRAFT_TEXTURES)}.")
    for key, (low, high) in DRAFT_RANGES.items():
        _range(where, f"draft {key}", getattr(look, key), low, high)
    if look.colors == 1:
        raise PresetError(f"{where}: draft colors 1 would leave a blank picture; use 0 (off) or 2 to 256.")
    return dataclasses.replace(look, paper=look.paper.lower(), ink=look.ink.lower(), pencil=look.pencil.lower())


def build_sampler(data: Any, where: str, base: Sampler | None = None, what: str = "sampler") -> Sampler:
    """Validate sampler settings (on top of `base`, e.g. a preset's) and build them."""
    sf = _check(data, SAMPLER_KEYS, where, what)
    merged = {**dataclasses.asdict(base or Sampler()), **sf}
    sampler = Sampler(**{k: (float(v) if isinstance(Sampler.__dataclass_fields__[k].default, float) else v) for k, v in merged.items()})
    if sampler.scheduler not in SCHEDULERS:
        raise PresetError(f"{where}: scheduler {sampler.scheduler!r} is unknown; use one of {', '.join(SCHEDULERS)}.")
    _range(where, "steps", sampler.steps, 1, 150)
    _range(where, "guidance", sampler.guidance, 1.0, 30.0)
    _range(where, "ip_adapter_scale", sampler.ip_adapter_scale, 0.0, 2.0)
    _range(where, "lora_scale", sampler.lora_scale, 0.0, 2.0)
    _range(where, "pose_scale", sampler.pose_scale, 0.0, 2.0)
    _range(where, "pose_start", sampler.pose_start, 0.0, 1.0)
    _range(where, "pose_end", sampler.pose_end, 0.0, 1.0)
    if sampler.pose_start >= sampler.pose_end:
        raise PresetError(f"{where}: pose_start ({sampler.pose_start}) must come before pose_end ({sampler.pose_end}).")
    _range(where, "identity_start", sampler.identity_start, 0.0, 0.9)
    _range(where, "identity_end", sampler.identity_end, 0.1, 1.0)
    if sampler.identity_start >= sampler.identity_end:
        raise PresetError(f"{where}: identity_start ({sampler.identity_start}) must come before identity_end "
                          f"({sampler.identity_end}), or the characters never join.")
    return sampler


def with_overrides(style: StylePreset, overrides: Mapping[str, Any], where: str = "style_overrides") -> StylePreset:
    """The style with a project's sampler overrides (steps, scales ...) applied and checked."""
    if not overrides:
        return style
    return dataclasses.replace(style, sampler=build_sampler(dict(overrides), where, style.sampler, "style_overrides"))


def load_style_file(path: Path) -> StylePreset:
    """Read and validate one style preset file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = f", line {mark.line + 1}" if mark else ""
        raise PresetError(f"{path}{line}: not valid YAML ({exc.problem}); fix that line.") from None
    except OSError as exc:
        raise PresetError(f"Could not read style preset {path}: {exc.strerror}.") from None
    return parse_style(data, path.stem, str(path))


@functools.cache
def _styles_in(directory: Path) -> dict[str, StylePreset]:
    return {p.stem: load_style_file(p) for p in sorted(directory.glob("*.yaml"))}


def list_styles(directory: Path = STYLES_DIR) -> dict[str, StylePreset]:
    """All style presets by id (file name without .yaml)."""
    return dict(_styles_in(Path(directory)))


def load_style(style_id: str, directory: Path = STYLES_DIR) -> StylePreset:
    """One style preset by id; PresetError lists the available ones if it does not exist."""
    styles = _styles_in(Path(directory))
    if style_id not in styles:
        raise PresetError(
            f"Style {style_id!r} is not a preset in {directory}. Available styles: {', '.join(styles) or 'none'}. "
            "Set 'style:' in story.yaml to one of them."
        )
    return styles[style_id]


# ---------------------------------------------------------------- fast previews (presets/fast.yaml)

FAST_FILE = PRESETS_DIR / "fast.yaml"
FAST_KEYS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "name shown to users"),
    "repo": (str, "Hugging Face Hub repo id of the step-distillation LoRA"),
    "file": (str, "its .safetensors file (also its name in the models folder's fast/ part)"),
    "license": (str, "the LoRA's licence"),
    "scheduler": (str, "the scheduler its card gives: one of " + ", ".join(SCHEDULERS)),
    "steps": (int, "denoising steps the LoRA was distilled for, 2 to 12"),
    "guidance": ((int, float), "classifier-free guidance, 0 to 30 (1 or less: none)"),
    "weight": ((int, float), "LoRA strength, 0 to 2 (applied once; default 1)"),
}


@dataclass(frozen=True)
class FastPreset:
    """A step-distillation LoRA for fast previews, with the sampler its card gives."""

    id: str
    name: str
    repo: str
    file: str
    license: str
    scheduler: str
    steps: int
    guidance: float
    weight: float = 1.0

    def lora(self) -> dict[str, Any]:
        """What the engine needs to find and apply the LoRA (part of a fast take's inputs)."""
        return {"name": self.id, "repo": self.repo, "file": self.file, "weight": self.weight}


@functools.cache
def list_fast(path: Path = FAST_FILE) -> tuple[str, dict[str, FastPreset]]:
    """(the default preset's id, every fast preset by id) from presets/fast.yaml, validated."""
    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PresetError(f"{where}: cannot read the fast-preview presets ({exc}); restore the file from the repository.") from None
    top = _check(data, {"schema": (int, "format version"), "default": (str, "the preset --fast uses"),
                        "presets": (dict, "presets by name")}, where, "the file")
    presets = {}
    for preset_id, body in top.get("presets", {}).items():
        f = _check(body, FAST_KEYS, where, f"fast preset {preset_id!r}")
        missing = [k for k in ("name", "repo", "file", "scheduler", "steps", "guidance") if k not in f]
        if missing:
            raise PresetError(f"{where}: fast preset {preset_id!r} has no {', '.join(missing)}; add it.")
        if not f["file"].endswith(".safetensors"):
            raise PresetError(f"{where}: fast preset {preset_id!r}: the LoRA must be a .safetensors file, got {f['file']!r}.")
        if f["scheduler"] not in SCHEDULERS:
            raise PresetError(f"{where}: fast preset {preset_id!r}: scheduler {f['scheduler']!r} is unknown; use one of "
                              f"{', '.join(SCHEDULERS)}.")
        _range(where, f"{preset_id} steps", f["steps"], 2, 12)
        _range(where, f"{preset_id} guidance", f["guidance"], 0.0, 30.0)
        _range(where, f"{preset_id} weight", f.get("weight", 1.0), 0.0, 2.0)
        presets[preset_id] = FastPreset(id=preset_id, name=f["name"], repo=f["repo"], file=f["file"],
                                        license=f.get("license", ""), scheduler=f["scheduler"], steps=f["steps"],
                                        guidance=float(f["guidance"]), weight=float(f.get("weight", 1.0)))
    default = top.get("default", "")
    if default not in presets:
        raise PresetError(f"{where}: the default fast preset {default!r} is not one of {', '.join(presets) or 'none'}.")
    return default, presets


def load_fast(preset_id: str | None = None, path: Path = FAST_FILE) -> FastPreset:
    """One fast preset by id (None: the default); PresetError lists them when there is no such preset."""
    default, presets = list_fast(path)
    chosen = preset_id or default
    if chosen not in presets:
        raise PresetError(f"There is no fast preset {chosen!r}; choose one of {', '.join(presets)} (presets/fast.yaml).")
    return presets[chosen]
