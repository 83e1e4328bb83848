"""Retouch in the Panels tab: paint a region on the chosen take and render only that region again.

A gr.ImageMask shows the chosen take (reloaded whenever the takes change); what is painted is rendered again by
storyboard.studio.retouch_panel (StoryMaker: inpainting with the panel's characters; draft: the panel redrawn
there), and the rest of the take is kept pixel for pixel. The result is a new take, selected.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import ProjectError
from storyboard.paths import resolve_inside
from storyboard.settings import max_chars
from storyboard.storyfile import load_project
from ui.common import AppContext, user_errors, user_errors_gen

HINT = ("_Brush over what to render again (a hand, a face); the rest of the take stays exactly as it is. A new take "
        "is made and chosen; the old one stays in Takes._")


def build_retouch_area(ctx: AppContext, root: gr.State, session: gr.State,
                       selected: gr.State) -> Callable[[gr.Gallery, Callable[[str, str, str], list[Any]], list[Any]], None]:
    """The Retouch accordion, where it is called (under the takes); returns `wire(takes, form, outputs)`, to call
    once the tab is built: `form(root, panel_id, status)` refreshes the tab's `outputs`."""
    with gr.Accordion("Retouch a region of the chosen take", open=False, elem_id="panel-retouch"):
        editor = gr.ImageMask(label="Paint the region to render again", type="numpy", sources=(), transforms=(),
                              layers=False, format="png", brush=gr.Brush(colors=["#f97316"], color_mode="fixed"),
                              height=360, elem_id="retouch-paint")
        gr.Markdown(HINT)
        with gr.Row(equal_height=True):
            prompt = gr.Textbox(label="What to draw there (optional; default: the panel's prompt)", scale=4,
                                elem_id="retouch-prompt", max_length=max_chars("prompt"))
            button = gr.Button("Retouch", variant="primary", scale=1, elem_id="retouch")

    def wire(takes: gr.Gallery, form: Callable[[str, str, str], list[Any]], outputs: list[Any]) -> None:
        _wire(ctx, root, session, selected, editor, prompt, button, takes, form, outputs)

    return wire


def _wire(ctx: AppContext, root: gr.State, session: gr.State, selected: gr.State, editor: gr.ImageMask,
          prompt: gr.Textbox, button: gr.Button, takes: gr.Gallery, form: Callable[[str, str, str], list[Any]],
          outputs: list[Any]) -> None:
    @user_errors
    def load_take(root_value: str, session_value: str, panel_id: str, request: gr.Request) -> Any:
        """The chosen take as the painter's background, nothing painted (None when there is no take)."""
        if not root_value or not panel_id:
            return None
        project_root = ctx.project_root(root_value, session_value, request)
        project = load_project(project_root)
        if panel_id not in [p.id for p in project.panels]:
            return None
        take = project.panel(panel_id).selected_take
        path = resolve_inside(Path(project_root), take.file) if take is not None else None
        if path is None or not path.is_file():
            return None
        copy = ctx.files.copy(path)
        return {"background": copy, "layers": [], "composite": copy}

    @user_errors_gen
    def retouch(root_value: str, session_value: str, panel_id: str, painted: Any, prompt_value: str,
                request: gr.Request, progress: gr.Progress = gr.Progress(track_tqdm=True)):
        if not panel_id:
            raise ProjectError("Pick a panel in the Panels list first.")
        project_root = ctx.project_root(root_value, session_value, request)
        layers = list((painted or {}).get("layers") or []) if isinstance(painted, dict) else []
        engine = ctx.engine(progress)
        cancel = ctx.cancels.fresh(str(ctx.session_dir(session_value, request)))
        from storyboard.engines import RenderContext

        def on_progress(step: int, steps: int) -> None:
            progress(step / max(steps, 1), desc=f"Retouching: step {step} of {steps}")

        done = studio.retouch_panel(project_root, panel_id, layers, engine, ctx.settings, prompt_value or None,
                                    RenderContext(on_progress=on_progress, cancel_event=cancel))
        how = "redrawn (draft)" if engine.name == "draft" else "rendered again"
        share = round(100 * float(done.changed.mean()))
        notes = "".join(f" ⚠️ {w[:1].upper()}{w[1:]}." for w in dict.fromkeys(done.result.metadata.get("warnings", [])))
        yield form(str(project_root), panel_id, f"Retouched: {share}% of the take {how}, the rest kept; the new take "
                                                f"is chosen.{notes}")

    takes.change(load_take, [root, session, selected], [editor], api_name=False, show_progress="hidden")
    gpu = {"concurrency_id": "gpu", "concurrency_limit": 1}
    event = button.click(ctx.gpu(retouch), [root, session, selected, editor, prompt], outputs, api_name="retouch", **gpu)
    ctx.refresh_banner_after(event)
