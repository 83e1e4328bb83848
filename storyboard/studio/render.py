"""Rendering from the studio: panel states, one panel at a time with progress, and per-session Stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from storyboard.engines import Engine, RenderContext, RenderRequest, RenderResult
from storyboard.errors import StoryboardError
from storyboard.model import (
    Project,
)
from storyboard.presets import load_fast
from storyboard.render import PanelEvent, RenderOptions, iter_render_panels, render_variations, stale_panels
from storyboard.settings import Settings
from storyboard.storyfile import load_project
from storyboard.studio.common import StudioError, _check_renderable, _panel, check_steps, check_text, panel_name

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- rendering


@dataclass(frozen=True)
class ClusterRender:
    """Where the studio renders when the app was started with --cluster: Ray workers, each holding its own engine
    (`engine`: the one each worker builds, with models from `models_dir` on its node or its Hugging Face cache)."""

    target: str  # the --cluster value: 'ray' (a local cluster for the app) or 'ray:ADDRESS'
    engine: str = "auto"
    models_dir: Path | None = None
    workers: int | None = None

    def __post_init__(self) -> None:
        from storyboard.cluster import parse_cluster

        parse_cluster(self.target)  # StoryboardError for a bad value, at start

    @property
    def address(self) -> str | None:
        from storyboard.cluster import parse_cluster

        return parse_cluster(self.target)

    def describe(self) -> str:
        where = "a local Ray cluster" if self.address is None else f"the Ray cluster at {self.address}"
        return where + (f" ({self.workers} workers)" if self.workers else "")


@dataclass(frozen=True)
class RenderUpdate:
    """One step of a render run, for a UI to show: progress, and the panel just finished."""

    done: int
    total: int
    panel_id: str | None
    message: str
    project: Project


def render_options(settings: Settings, steps: int | None = None, fast: bool = False) -> RenderOptions:
    """RenderOptions within the app's limits (renders shrink to max_render_side on a Space); `fast`: a preview with
    the default step-distillation LoRA of presets/fast.yaml."""
    return RenderOptions(steps=steps or None, max_side=settings.max_render_side or None,
                         fast=load_fast().id if fast else None)


def panel_states(root: Path | str, project: Project, engine: Engine, settings: Settings) -> dict[str, str]:
    """Each panel's state: 'none' (not rendered), 'stale' (inputs changed) or 'current'."""
    root = Path(root)
    try:
        stale = stale_panels(root, project, engine, render_options(settings))
    except StoryboardError as exc:
        log.warning("Cannot tell stale panels: %s", exc)
        stale = {p.id for p in project.panels}
    return {p.id: "none" if p.selected_take is None else "stale" if p.id in stale else "current" for p in project.panels}



def iter_render(root: Path | str, engine: Engine, settings: Settings, which: str = "stale", panel_id: str | None = None,
                count: int = 1, context: RenderContext | None = None,
                on_step: Callable[[str, int, int], None] | None = None, fast: bool = False,
                cluster: ClusterRender | None = None) -> Iterator[RenderUpdate]:
    """Render panels one at a time and yield after each, so a UI can show them as they finish (and once before
    the first, with how many will render).

    `which`: 'stale' (every panel whose inputs changed), 'all', 'panel' (one panel, again) or
    'variations' (`count` new takes of one panel). `on_step(panel_id, step, total)` reports engine steps.
    `fast`: previews with a step-distillation LoRA (takes of their own; the draft engine renders as usual).
    `cluster`: render on Ray workers instead of `engine`, which then only tells stale panels (a PlannedEngine does);
    panels come back in the order they finish, with no per-step progress.
    RenderCancelled propagates when the context is cancelled; panels finished before that are kept.
    """
    check_text("choice", which, "render choice")
    check_text("choice", panel_id, "panel id")
    root = Path(root)
    project = load_project(root)
    options = render_options(settings, fast=fast and engine.name != "draft")
    if which in ("panel", "variations"):
        _panel(project, panel_id or "", root)
        targets = [panel_id] * (count if which == "variations" else 1)
        if which == "variations" and not 1 <= count <= settings.max_variations:
            raise StudioError(f"Ask for 1 to {settings.max_variations} variations, not {count}.")
    elif which == "stale":
        stale = stale_panels(root, project, engine, options)
        targets = [p.id for p in project.panels if p.id in stale]
    elif which == "all":
        targets = [p.id for p in project.panels]
    else:
        raise StudioError(f"Unknown render choice {which!r}; use stale, all, panel or variations.")
    _check_renderable(project, targets)
    if targets and options.fast is None:  # a fast preview renders its LoRA's few steps
        check_steps(project, settings)
    total = len(targets)
    if not total:
        yield RenderUpdate(0, 0, None, "Every panel is up to date; nothing to render.", project)
        return
    yield RenderUpdate(0, total, None, f"Rendering {total} panel{'s' if total != 1 else ''} ...", project)
    context = context or RenderContext()
    if cluster is not None:
        yield from _on_cluster(root, project, cluster, which, targets, options, context)
        return
    rendering = {"panel": targets[0]}  # the panel in the engine now, for on_step

    def progress(step: int, steps: int) -> None:
        if on_step is not None:
            on_step(rendering["panel"], step, steps)

    step_context = RenderContext(on_progress=progress, cancel_event=context.cancel_event)
    started = time.perf_counter()
    if which == "variations":
        for done, pid in enumerate(targets):
            events: list[PanelEvent] = []
            project = render_variations(root, load_project(root), engine, pid, 1, context=step_context, options=options,
                                        on_panel=events.append)
            yield _update(project, pid, done + 1, total, started, warnings=[w for e in events for w in e.warnings])
            started = time.perf_counter()
        return
    # one run over every target, as the CLI renders: the layout is planned once and each take is one journal line
    announcing = _Announcing(engine, lambda pid: rendering.update(panel=pid))
    for done, event in enumerate(iter_render_panels(root, project, announcing, targets, force=True, context=step_context,
                                                    options=options), start=1):
        yield _update(load_project(root), event.panel_id, done, total, started, event.status, event.warnings)
        started = time.perf_counter()


def _on_cluster(root: Path, project: Project, cluster: ClusterRender, which: str, targets: list[str],
                options: RenderOptions, context: RenderContext) -> Iterator[RenderUpdate]:
    """iter_render's targets on the Ray cluster; the workers' engine checks again what is stale (a 'stale' run)."""
    from storyboard.cluster import iter_render_on_cluster
    from storyboard.cluster.connect import import_ray, join, on_loopback

    address = cluster.address
    join(import_ray(local=address is None or on_loopback(address)), address, cluster.workers)  # kept for the app
    variations = len(targets) if which == "variations" else None
    events = iter_render_on_cluster(root, project, cluster.engine, cluster.models_dir, list(dict.fromkeys(targets)),
                                    force=which != "stale", options=options, address=address, workers=cluster.workers,
                                    context=context, variations=variations)
    started = time.perf_counter()
    for done, event in enumerate(events, start=1):
        yield _update(load_project(root), event.panel_id, done, len(targets), started, event.status, event.warnings,
                      event.message)
        started = time.perf_counter()


def _update(project: Project, pid: str, done: int, total: int, started: float, status: str = "rendered",
            warnings: Sequence[str] = (), message: str = "") -> RenderUpdate:
    seconds = time.perf_counter() - started
    what = "rendered" if status == "rendered" else f"skipped: {message or 'deleted while rendering'}"
    notes = "".join(f" ⚠️ {w[:1].upper()}{w[1:]}." for w in dict.fromkeys(warnings))  # the engine's, each once
    return RenderUpdate(done, total, pid, f"{panel_name(project, pid)} {what} ({done} of {total}, {seconds:.1f} s).{notes}",
                        project)


class _Announcing:
    """An engine that says which panel it starts before rendering it (for per-step progress)."""

    def __init__(self, engine: Engine, on_start: Callable[[str], None]) -> None:
        self._engine, self._on_start = engine, on_start

    def __getattr__(self, name: str):  # name, version, describe ...: the engine's own
        return getattr(self._engine, name)

    def render(self, request: RenderRequest, context: RenderContext) -> RenderResult:
        self._on_start(request.panel_id)
        return self._engine.render(request, context)


# ---------------------------------------------------------------- per-session cancel


class CancelRegistry:
    """One cancel flag per session, so Stop in one browser never stops another's render."""

    def __init__(self) -> None:
        self._events: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    def event(self, key: str) -> threading.Event:
        with self._lock:
            return self._events.setdefault(key, threading.Event())

    def fresh(self, key: str) -> threading.Event:
        """The session's flag, cleared for a new run."""
        event = self.event(key)
        event.clear()
        return event

    def cancel(self, key: str) -> None:
        self.event(key).set()
