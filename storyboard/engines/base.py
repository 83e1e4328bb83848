"""What every engine shares: the request, the result, the narrow render context, and the Engine protocol."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from PIL import Image

from storyboard.errors import RenderCancelled
from storyboard.poses import Pose

@dataclass(frozen=True)
class CharacterRef:
    """What an engine needs to know about one character in a panel (paths are absolute)."""

    id: str
    name: str
    color: str
    reference: Path | None  # None: no photo yet (draft mode draws them; StoryMaker refuses)
    mask: Path | None = None
    outfit: Path | None = None
    description: str = ""


@dataclass(frozen=True)
class RenderRequest:
    """Everything needed to render one panel; equal requests give equal images."""

    panel_id: str
    prompt: str  # the panel prompt with cast names filled in
    styled_prompt: str  # the prompt inside the style's template
    negative_prompt: str = ""
    characters: tuple[CharacterRef, ...] = ()
    pose: Pose | None = None
    shot: str = "medium"
    seed: int = 0
    width: int = 1024
    height: int = 1024
    steps: int = 25
    guidance: float = 7.5
    style: str = ""
    options: tuple[tuple[str, Any], ...] = ()  # engine-specific settings (scales, LoRA, ...)
    cache_dir: Path | None = None  # where the engine may cache per-project data (not an input of the image)

    def __post_init__(self) -> None:
        if self.width % 8 or self.height % 8 or self.width < 64 or self.height < 64:
            raise ValueError(f"width and height must be multiples of 8 and at least 64, got {self.width}x{self.height}")


@dataclass(frozen=True)
class RenderResult:
    """An image and what produced it."""

    image: Image.Image
    metadata: dict[str, Any] = field(default_factory=dict)


class RenderContext:
    """The narrow context an engine gets: report progress, ask whether it was cancelled."""

    def __init__(self, on_progress: Callable[[int, int], None] | None = None, cancel_event: threading.Event | None = None):
        self._on_progress = on_progress
        self.cancel_event = cancel_event or threading.Event()

    def progress(self, step: int, total: int) -> None:
        if self._on_progress is not None:
            self._on_progress(step, total)

    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise RenderCancelled("The render was cancelled; the panel keeps its previous take.")


class Engine(Protocol):
    """What every engine implements."""

    name: str
    version: str

    def describe(self) -> str:
        """One line for banners and logs: which engine, on what device."""
        ...

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        """Render one panel, reporting progress and honouring cancel."""
        ...


