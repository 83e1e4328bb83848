"""The app's one engine, built on first use so the studio serves before any model loads.

`EngineHolder.plan()` says what will run without importing torch (models folder and Hugging Face cache
checked by file); `get()` builds the engine once (thread-safe), downloading and loading StoryMaker's
models there, where a UI can show the progress. With `auto`, a failed load falls back to draft mode;
with `storymaker`, EngineUnavailable reaches the caller and the next `get()` tries again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.engines import ENGINE_NAMES, Engine, load_storymaker
from storyboard.errors import EngineUnavailable

log = logging.getLogger(__name__)

# StoryMakerEngine.version, known here without importing torch (tests/test_studio.py checks they agree):
# until StoryMaker loads, panels' stale marks are computed as if it had.
STORYMAKER_VERSION = "1"


@dataclass(frozen=True)
class PlannedEngine:
    """The name and version of an engine not loaded yet: enough to tell stale panels."""

    name: str
    version: str

    def describe(self) -> str:
        return f"{self.name} (not loaded yet)"


Loader = Callable[..., Engine]  # (models_dir, download=, require_gpu=, **options) -> Engine


class EngineHolder:
    """Builds the engine the user asked for (auto, draft or storymaker) on first `get()`, once."""

    def __init__(self, requested: str = "auto", models_dir: Path | None = None, loader: Loader = load_storymaker,
                 **options: Any) -> None:
        if requested not in ENGINE_NAMES:
            raise EngineUnavailable(f"Unknown engine {requested!r}; use one of: {', '.join(ENGINE_NAMES)}.")
        self.requested = requested
        self.models_dir = Path(models_dir) if models_dir else None
        self._loader = loader
        self._options = options
        self._lock = threading.Lock()
        self._engine: Engine | None = None
        self.fallback_reason: str | None = None  # why auto fell back to draft mode
        self.last_error: str | None = None  # why storymaker failed to load (the next get() tries again)
        self._plan = self._make_plan()

    @classmethod
    def ready(cls, engine: Engine) -> EngineHolder:
        """A holder of an engine built already (tests, scripts)."""
        holder = cls("draft" if engine.name == "draft" else "storymaker")
        holder._engine = engine
        holder._plan = ("draft" if engine.name == "draft" else "storymaker", "")
        return holder

    # ------------------------------------------------------------ before loading

    def _make_plan(self) -> tuple[str, str]:
        """(engine name, note): what `get()` will build, judged from files only."""
        if self.requested == "draft":
            return "draft", ""
        from storyboard.engines.storymaker.models import resolve_models  # light: yaml and paths

        try:
            resolve_models(self.models_dir, download=False)
        except EngineUnavailable as exc:
            if self.requested == "auto":
                return "draft", str(exc).rstrip(".")
            if self.models_dir is not None:
                return "storymaker", f"missing parts: {exc}"
            return "storymaker", "download"
        return "storymaker", ""

    @property
    def planned(self) -> str:
        """'storymaker' or 'draft': the engine the first render will use (auto may still fall back)."""
        return self._plan[0]

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def current(self) -> Engine | PlannedEngine:
        """The engine if loaded, else a stand-in with the planned engine's name and version (loads nothing)."""
        if self._engine is not None:
            return self._engine
        if self.planned == "draft":
            return self.get()  # the draft engine is cheap: no weights
        return PlannedEngine("storymaker", STORYMAKER_VERSION)

    # ------------------------------------------------------------ loading

    def get(self) -> Engine:
        """The engine, built on the first call (may download and load models: minutes)."""
        if self._engine is not None:
            return self._engine
        with self._lock:
            if self._engine is not None:
                return self._engine
            self._engine = self._build()
            log.info("Engine loaded: %s", self._engine.describe())
            return self._engine

    def _build(self) -> Engine:
        from storyboard.engines.draft import DraftEngine

        if self.planned == "draft":
            return DraftEngine()
        if self.requested == "storymaker":
            try:
                engine = self._loader(self.models_dir, download=self.models_dir is None, require_gpu=False, **self._options)
            except EngineUnavailable as exc:
                self.last_error = str(exc)
                raise
            self.last_error = None
            return engine
        try:
            return self._loader(self.models_dir, download=False, require_gpu=True, **self._options)
        except EngineUnavailable as exc:
            log.warning("Draft mode: %s", exc)
            self.fallback_reason = str(exc).rstrip(".")
            return DraftEngine()

    # ------------------------------------------------------------ for banners

    def status(self) -> str:
        """One or two sentences for the banner: what runs (or will, and when it loads), and what to do."""
        name, note = self._plan
        if self._engine is not None and self._engine.name != "draft":
            return f"{self._engine.describe()}."
        if name == "draft" or self._engine is not None:
            if self.requested == "draft":
                return ("Draft mode (chosen with --engine draft): storyboard thumbnails with stick figures, no weights "
                        "needed. Start with --engine auto or storymaker to render with StoryMaker.")
            reason = self.fallback_reason or note
            return f"Draft mode: storyboard thumbnails with stick figures. {reason}."
        if self.last_error:
            return (f"StoryMaker could not load: {self.last_error.rstrip('.')}. Fix that and render again (or press "
                    "Load models), or restart with --engine draft.")
        if note.startswith("missing parts"):
            return (f"StoryMaker will not load from {self.models_dir}: {note.removeprefix('missing parts: ').rstrip('.')}. "
                    "Complete the folder, or restart with --engine draft.")
        if note == "download":
            return ("StoryMaker: its models (about 17 GB) download and load on the first render, with progress here; "
                    "or press Load models now.")
        fallback = " (draft mode if there is no GPU)" if self.requested == "auto" else ""
        return f"StoryMaker: models found; they load on the first render{fallback}, or press Load models now."
