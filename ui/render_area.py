"""The Render tab: render stale or all panels with progress per step and per panel, Stop, results as they finish.

`run_render` is the one GPU path (the Panels tab's "render this panel" and "variations" use it too).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import RenderCancelled
from storyboard.scores import drift_flags, format_scores, metric_scores
from storyboard.paths import resolve_inside
from storyboard.render import fill_prompt
from storyboard.storyfile import load_project
from ui.common import AppContext, Area, user_errors_gen

STATUS_EVERY_S = 0.25  # the status line and progress bar change at most this often (and at each run's end)
STATE_TEXT = {"current": "up to date", "stale": "inputs changed: render again", "none": "not rendered yet"}


def run_render(ctx: AppContext, root_value: str, session_value: str, which: str, panel_id: str | None, count: int,
               progress: gr.Progress, request: gr.Request | None,
               fast: bool = False, cluster: bool = False) -> Iterator[tuple[str, studio.RenderUpdate | None]]:
    """Render through the studio and yield (status text, update) after each panel; Stop ends it cleanly.

    `fast`: previews with a step-distillation LoRA (a few steps; takes of their own). `cluster`: on the Ray
    workers of the app's --cluster (their engines; none is loaded here), when the app has one."""
    project_root = ctx.project_root(root_value, session_value, request)
    key = str(ctx.session_dir(session_value, request))
    on_cluster = ctx.cluster if cluster else None
    if on_cluster is not None:
        yield f"Starting the workers on {on_cluster.describe()} (each loads its engine once per run) ...", None
        engine = ctx.engines.current()  # tells stale panels by name and version; the workers render
    else:
        if not ctx.engines.loaded and ctx.engines.planned != "draft":
            yield ("Loading StoryMaker's models for the first render (downloading them first if needed; this can take "
                   "minutes) ..."), None
        engine = ctx.engine(progress)
    cancel = ctx.cancels.fresh(key)
    state = {"done": 0, "total": 1, "shown": 0.0}
    numbers = {p.id: n for n, p in enumerate(load_project(project_root).panels, start=1)}  # as the Panels list shows

    def on_step(pid: str, step: int, steps: int) -> None:
        now = time.monotonic()
        if now - state["shown"] < STATUS_EVERY_S and step < steps:
            return
        state["shown"] = now
        fraction = (state["done"] + step / max(steps, 1)) / max(state["total"], 1)
        progress(fraction, desc=f"Panel {numbers.get(pid, pid)} ({state['done'] + 1} of {state['total']}): "
                                f"step {step} of {steps}")

    progress(0, desc="Starting")
    from storyboard.engines import RenderContext

    if fast and engine.name == "draft":
        yield "Fast previews are for StoryMaker; draft thumbnails render as usual.", None
    updates = studio.iter_render(project_root, engine, ctx.settings, which, panel_id, int(count or 1),
                                 RenderContext(cancel_event=cancel), on_step, fast=bool(fast), cluster=on_cluster)
    try:
        for update in updates:
            state["done"], state["total"] = update.done, max(1, update.total)
            yield update.message, update
    except RenderCancelled:
        yield (f"Stopped after {state['done']} of {state['total']} panel(s). Finished panels are kept; "
               "the one in progress keeps its previous take."), None


class Board:
    """The Render tab's gallery during a run: states read once, then kept up to date panel by panel.

    Re-reading every panel's state after each panel (a digest per panel) and sending every image again (Gradio
    hashes each file it is handed) made a run of N panels cost O(N^2); here each panel costs O(1), and the
    gallery is sent at most every few seconds, and never for more than a tenth of the run (and at the end)."""

    def __init__(self, ctx: AppContext, root: Path) -> None:
        self.ctx, self.root = ctx, root
        project = load_project(root)
        self.states = studio.panel_states(root, project, ctx.engines.current(), ctx.settings)
        self.project = project
        self.sent_at = 0.0
        self.every_s = 2.0

    def rendered(self, project: Any, panel_id: str | None) -> None:
        self.project = project
        if panel_id is not None:
            self.states[panel_id] = "current"

    def due(self, final: bool) -> bool:
        return final or time.monotonic() - self.sent_at >= self.every_s

    def gallery(self) -> list[tuple[str, str]]:
        return gallery_items(self.ctx, self.root, self.project, self.states)

    def sent(self, seconds: float) -> None:
        """The gallery went out, `seconds` after it was asked for (made, handed to Gradio, sent)."""
        self.sent_at = time.monotonic()
        self.every_s = max(2.0, 10 * seconds)  # never more than a tenth of the time on the gallery

    def summary(self) -> str:
        return summary_line(self.project, self.states)


def gallery_items(ctx: AppContext, root: Path, project: Any, states: dict[str, str]) -> list[tuple[str, str]]:
    """Every panel's chosen take, captioned with its number and state."""
    items = []
    for number, panel in enumerate(project.panels, start=1):
        take = panel.selected_take
        if take is not None and resolve_inside(root, take.file).is_file():
            state = STATE_TEXT[states.get(panel.id, "stale")]
            items.append((ctx.files.copy(resolve_inside(root, take.file)), f"{number} · {panel.id} · {state}"))
    return items


def summary_line(project: Any, states: dict[str, str]) -> str:
    if not project.panels:
        return "No panels yet: add some in the Panels tab."
    waiting = sum(1 for p in project.panels if states.get(p.id, "stale") != "current")
    count = f"**{len(project.panels)} panel{'s' if len(project.panels) != 1 else ''}**"
    return f"{count}, {waiting} to render." if waiting else f"{count}, all up to date."


def overview(root_value: str, ctx: AppContext) -> tuple[list[tuple[str, str]], str]:
    """Every panel's chosen take (captioned with its number and state) and a summary line."""
    if not root_value:
        return [], "Open a project first."
    root = Path(root_value)
    project = load_project(root)
    states = studio.panel_states(root, project, ctx.engines.current(), ctx.settings)
    return gallery_items(ctx, root, project, states), summary_line(project, states)


def build_render_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Render tab; returns how to refresh it."""
    with gr.Row(equal_height=True, elem_classes=["sb-toolbar"]):
        stale_btn = gr.Button("Render changed panels", variant="primary", elem_id="render-stale", scale=2)
        all_btn = gr.Button("Render all panels again", elem_id="render-all", scale=2)
        stop_btn = gr.Button("Stop", variant="stop", elem_id="render-stop", scale=1)
        fast = fast_checkbox("render-fast")
        cluster = cluster_checkbox(ctx, "render-cluster")
    status = gr.Markdown("", elem_id="render-status")
    gallery = gr.Gallery(label="Panels, in reading order", columns=4, height=480, object_fit="contain",
                         elem_id="render-gallery", buttons=["fullscreen"])

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        items, text = overview(root_value, ctx)
        return [items, text]

    def render(which: str):
        @user_errors_gen
        def handler(root_value: str, session_value: str, fast_value: bool, cluster_value: bool, request: gr.Request,
                    progress: gr.Progress = gr.Progress(track_tqdm=True)):
            board, shown = None, 0.0
            for message, update in run_render(ctx, root_value, session_value, which, None, 1, progress, request,
                                              fast=bool(fast_value), cluster=bool(cluster_value)):
                if board is None:
                    board = Board(ctx, ctx.project_root(root_value, session_value, request))
                final = update is None or update.done >= update.total
                if update is not None:
                    board.rendered(update.project, update.panel_id)
                if not final and time.monotonic() - shown < STATUS_EVERY_S:
                    continue  # a panel every few milliseconds (drafts): each message would cost more than the panel
                shown = time.monotonic()
                if not board.due(final):
                    yield gr.skip(), f"{message}  \n{board.summary()}"
                    continue
                started = time.monotonic()
                yield board.gallery(), f"{message}  \n{board.summary()}"
                board.sent(time.monotonic() - started)  # Gradio checks every image path before resuming this

        handler.__name__ = f"render_{which}"
        return ctx.gpu(handler)

    def stop(session_value: str, request: gr.Request) -> str:
        ctx.cancels.cancel(str(ctx.session_dir(session_value, request)))
        return "Stopping after the current step ..."

    gpu = {"concurrency_id": "gpu", "concurrency_limit": 1}
    ctx.refresh_banner_after(stale_btn.click(render("stale"), [root, session, fast, cluster], [gallery, status], api_name="render",
                                             **gpu))
    ctx.refresh_banner_after(all_btn.click(render("all"), [root, session, fast, cluster], [gallery, status], api_name="render_all",
                                           **gpu))
    stop_btn.click(stop, [session], [status], api_name="stop", queue=False)
    return Area([gallery, status], refresh)


def fast_checkbox(elem_id: str) -> gr.Checkbox:
    """The "Fast preview" switch beside Render buttons: a per-render choice, not a style setting, so a preview never
    marks every panel as changed and a comic is never silently made of previews."""
    from storyboard.presets import load_fast

    preset = load_fast()
    return gr.Checkbox(label="Fast preview", value=False, scale=1, min_width=120, elem_id=elem_id,
                       info=f"{preset.steps} steps with {preset.name} ({preset.license.split(' ')[0]}); a take of its own")


def cluster_checkbox(ctx: AppContext, elem_id: str) -> gr.Checkbox:
    """"On the Ray cluster" beside Render buttons: shown (and ticked) when the app was started with --cluster;
    unticked, the render runs on this machine's engine as usual."""
    where = ctx.cluster.describe() if ctx.cluster is not None else ""
    return gr.Checkbox(label="On the Ray cluster", value=ctx.cluster is not None, visible=ctx.cluster is not None,
                       scale=1, min_width=120, elem_id=elem_id,
                       info=f"{where}: panels spread over its workers" if where else None)


def take_caption(index: int, selected: int | None, take: Any, characters: Sequence[str] = ()) -> str:
    """'✓ take 2 · seed 1234 · Face Sim 0.71 · CLIP-I 0.80 · CLIP-T 24.3', with drift flags when a score is low."""
    parts = [("✓ " if index == selected else "") + f"take {index + 1}"]
    if take.seed is not None:
        parts.append(f"seed {take.seed}")
    if metric_scores(take):
        parts.append(format_scores(take, None, characters))
    return " · ".join(parts)


def panel_label(number: int, panel: Any, project: Any, state: str) -> str:
    icon = {"current": "✓", "stale": "⟳", "none": "○"}[state]
    take = panel.selected_take
    if take is not None and drift_flags(take, None, panel.characters):
        icon += " ⚠ drift"  # a character drifted from their reference in the chosen take
    text = fill_prompt(panel.prompt, project).strip() or "(no prompt)"
    return f"{number}. {text[:48] + ('…' if len(text) > 48 else '')}  {icon}"
