"""The app's one engine, built on first use so the studio serves before any model loads.

`EngineHolder.plan()` says what will run without importing torch (models folder and Hugging Face cache
checked by file); `get()` builds the engine once (thread-safe), downloading and loading StoryMaker's
models there, where a UI can show the progress. With `auto`, a failed load falls back to draft mode;
with `storymaker`, EngineUnavailable reaches the caller and the next `get()` tries again.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storyboard.engines import ENGINE_NAMES, Engine, load_storymaker
from storyboard.errors import EngineUnavailable

log = logging.getLogger(__name__)

AUDIENCES = ("cli", "web")
ASK = "If someone else runs this studio, ask them."
# The parts a models folder needs (presets/models.yaml's `local` names), for advice in the browser
MODEL_PARTS = "sdxl/, storymaker/mask.bin, clip-vit-h-14/ and insightface/models/buffalo_l/"

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

    def status(self, audience: str = "cli") -> str:
        """One or two sentences for the banner: what runs (or will, and when it loads), and what to do.

        `audience` "cli" words advice for whoever starts the app (its flags, for app.py's log); "web" for someone
        in the browser: what to install or where the models go, and to ask the person who runs the studio."""
        if audience not in AUDIENCES:
            raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}, got {audience!r}")
        if audience == "web":
            return self._web_status()
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

    def _web_status(self) -> str:
        """`status()` for the browser: no command-line flags; what to install, where models go, whom to ask."""
        name, note = self._plan
        if self._engine is not None and self._engine.name != "draft":
            return f"{self._engine.describe()}."
        draft = "Draft mode: stick-figure storyboard thumbnails, no models needed."
        if name == "draft" or self._engine is not None:
            if self.requested == "draft":
                return (f"{draft} To render with StoryMaker, the studio must be restarted with StoryMaker on a machine "
                        f"with a GPU and its models. {ASK}")
            return f"{draft} {self.web_advice(self.fallback_reason or note)}"
        if self.last_error:
            return f"StoryMaker could not load. {self.web_advice(self.last_error, then='press Load models to try again')}"
        if note.startswith("missing parts"):
            return (f"StoryMaker cannot load yet: put its models in {self.models_dir} ({MODEL_PARTS}) and restart the "
                    f"studio. {ASK}")
        if note == "download":
            return ("StoryMaker: its models (about 17 GB) download and load on the first render, with progress here; "
                    "or press Load models now.")
        fallback = " (draft mode if there is no GPU)" if self.requested == "auto" else ""
        return f"StoryMaker: models found; they load on the first render{fallback}, or press Load models now."

    def web_advice(self, reason: str | None, then: str = "restart the studio") -> str:
        """What someone in the browser can do about why StoryMaker is not running (`reason`: the engine's message)."""
        text = (reason or "").lower()
        if "no gpu" in text:
            return f"For StoryMaker, run the studio on a machine with a GPU: this one has none. {ASK}"
        if "install" in text and ("torch" in text or "diffusers" in text or "huggingface_hub" in text):
            return f"For StoryMaker, install PyTorch and diffusers (requirements.txt) and {then}. {ASK}"
        if "insightface" in text:
            return (f"For StoryMaker, put the insightface buffalo_l face models (non-commercial use only) in "
                    f"{Path.home() / '.insightface' / 'models' / 'buffalo_l'} and {then}. {ASK}")
        if self.models_dir is not None:
            return f"For StoryMaker, put its models in {self.models_dir} ({MODEL_PARTS}) and {then}. {ASK}"
        return f"For StoryMaker, put its models (about 17 GB) in {hub_cache()} and {then}. {ASK}"


def hub_cache() -> Path:
    """The Hugging Face cache folder models download into (without importing huggingface_hub)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    home = os.environ.get("HF_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache",
                                                     "huggingface")
    return Path(home) / "hub"
