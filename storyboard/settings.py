"""Limits and defaults of the studio app: one table drives validation, environment variables and docs.

Each setting reads `STORYBOARD_<NAME>` from the environment. On a Hugging Face Space (where `SPACE_ID`
is set) the stricter Space defaults apply, so a shared machine stays responsive.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from storyboard.errors import StoryboardError


class SettingsError(StoryboardError):
    """An environment variable holds a value a setting cannot take."""


@dataclass(frozen=True)
class Setting:
    """One app setting: default here and on a Space, limits and help."""

    name: str
    default: int
    space_default: int
    low: int
    high: int
    help: str

    @property
    def env(self) -> str:
        return f"STORYBOARD_{self.name.upper()}"


SETTINGS: tuple[Setting, ...] = (
    Setting("max_panels", 200, 24, 1, 2000, "most panels a project may hold"),
    Setting("max_cast", 24, 8, 1, 200, "most characters a project may hold"),
    Setting("max_upload_mb", 40, 15, 1, 2000, "largest image or .zip upload, in megabytes"),
    Setting("max_image_megapixels", 60, 40, 1, 400, "larger uploaded images are refused (decompression bombs)"),
    Setting("max_reference_side", 2048, 1536, 256, 8192, "uploaded photos are scaled down to this longer side, in pixels"),
    Setting("max_render_side", 0, 1024, 0, 4096, "renders are scaled down to this longer side, in pixels (0: the page slot's size; 64 for quick tests)"),
    Setting("max_variations", 8, 4, 1, 16, "most variations one click renders"),
    Setting("gpu_seconds", 120, 120, 10, 600, "ZeroGPU time asked for one render call on a Space"),
    Setting("max_story_mb", 8, 2, 1, 256, "largest story.yaml that is opened, in megabytes (400 panels take about 0.3)"),
    Setting("max_project_mb", 4096, 512, 16, 65536, "most a project .zip may unpack to on import, in megabytes (a take is 1-3)"),
    Setting("max_steps", 150, 50, 1, 150, "most denoising steps one render may take (the style's, or the Style tab's Detail)"),
    Setting("max_page_megapixels", 40, 15, 1, 250, "largest PNG page an export draws, in megapixels (page size x 150 dpi)"),
)


@dataclass(frozen=True)
class Settings:
    """The app's limits (see SETTINGS for each one's meaning)."""

    max_panels: int = 200
    max_cast: int = 24
    max_upload_mb: int = 40
    max_image_megapixels: int = 60
    max_reference_side: int = 2048
    max_render_side: int = 0
    max_variations: int = 8
    gpu_seconds: int = 120
    max_story_mb: int = 8
    max_project_mb: int = 4096
    max_steps: int = 150
    max_page_megapixels: int = 40
    on_space: bool = False


def on_space(environ: Mapping[str, str] | None = None) -> bool:
    """True when running on a Hugging Face Space."""
    return bool((os.environ if environ is None else environ).get("SPACE_ID"))


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from the environment; SettingsError names the variable and its allowed range."""
    environ = os.environ if environ is None else environ
    space = on_space(environ)
    values: dict[str, int] = {}
    for setting in SETTINGS:
        raw = environ.get(setting.env)
        if raw is None or raw.strip() == "":
            values[setting.name] = setting.space_default if space else setting.default
            continue
        try:
            value = int(raw)
        except ValueError:
            raise SettingsError(f"{setting.env}={raw!r} is not a whole number; {setting.help} "
                                f"({setting.low} to {setting.high}).") from None
        if not setting.low <= value <= setting.high:
            raise SettingsError(f"{setting.env}={value} is out of range; {setting.help}: use {setting.low} to {setting.high}.")
        if setting.name == "max_render_side" and 0 < value < 64:
            raise SettingsError(f"{setting.env}={value} is too small; {setting.help}: use 0 or 64 to {setting.high}.")
        values[setting.name] = value
    return Settings(**values, on_space=space)


@dataclass(frozen=True)
class TextLimit:
    """The most characters one text field may hold; `label` is the field in the words messages use."""

    field: str
    label: str
    max_chars: int
    help: str


# Every text a visitor can send is checked against this table by the studio's handlers (and so the API), before
# anything is saved; the UI's text boxes carry the same limits.
TEXT_LIMITS: dict[str, TextLimit] = {limit.field: limit for limit in (
    TextLimit("title", "title", 120, "a project's title"),
    TextLimit("name", "name", 60, "a character's name"),
    TextLimit("description", "description", 500, "a character's look, e.g. short red hair, green raincoat"),
    TextLimit("color", "colour", 32, "a colour like #e4572e (or rgb(228, 87, 46) from a colour picker)"),
    TextLimit("prompt", "prompt", 1000, "what happens in a panel, {id} for a cast member"),
    TextLimit("filled_prompt", "prompt with the cast's names filled in", 2000,
              "what the engine is given: each {id} becomes the character's name"),
    TextLimit("caption", "caption", 500, "a panel's caption box"),
    TextLimit("notes", "notes", 2000, "action and camera notes, shown on the storyboard sheet"),
    TextLimit("balloon", "balloon text", 500, "what one balloon says"),
    TextLimit("page_size", "page size", 32, "a4, letter, comic, b5, a5 or WxHmm"),
    TextLimit("style", "style id", 64, "a style preset's id"),
    TextLimit("choice", "id or choice", 64, "an id or a choice from a list: project, panel, character, speaker, shot, "
              "balloon kind, page template, reading order, export kind, scheduler"),
    TextLimit("pose", "pose JSON", 100_000, "a panel's OpenPose JSON sent as text"),
)}


def max_chars(field: str) -> int:
    """The most characters TEXT_LIMITS allows in `field`."""
    return TEXT_LIMITS[field].max_chars


def text_limits_doc() -> str:
    """The text limits as the README lists them: 'title 120, name 60, ...'."""
    return ", ".join(f"{limit.label} {limit.max_chars:,}" for limit in TEXT_LIMITS.values())
