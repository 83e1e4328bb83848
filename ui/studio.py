"""The studio's first area: open a project (or the sample), see its panels, render them, look at the takes.

Handlers are plain functions (paths in, plain data out) so tests call them without a server.
"""

from __future__ import annotations

import logging
import shutil
import threading
from pathlib import Path

import gradio as gr

from storyboard.engines import Engine, RenderContext
from storyboard.errors import StoryboardError
from storyboard.model import STORY_FILE
from storyboard.paths import resolve_inside
from storyboard.render import PanelEvent, render_project, stale_panels
from storyboard.storyfile import load_project

log = logging.getLogger(__name__)

SAMPLES_DIR = Path(__file__).resolve().parent.parent / "assets" / "samples"
SAMPLE = "rainy-monday"
PANEL_COLUMNS = ["panel", "shot", "characters", "prompt", "caption", "take"]


def open_sample(workspace: Path, name: str = SAMPLE) -> str:
    """Copy a sample into the workspace (once) and return the copy's folder."""
    dest = Path(workspace) / name
    if not (dest / STORY_FILE).is_file():
        shutil.copytree(SAMPLES_DIR / name, dest, dirs_exist_ok=True)
    return str(dest)


def panel_rows(root: str, engine: Engine) -> list[list[str]]:
    """One row per panel: id, shot, cast names, prompt, caption and whether its take is current."""
    project = load_project(root)
    rows = []
    stale = stale_panels(Path(root), project, engine)
    for panel in project.panels:
        names = ", ".join(project.character(c).name for c in panel.characters)
        state = "stale" if panel.id in stale else "current"
        if panel.selected_take is None:
            state = "none"
        rows.append([panel.id, panel.shot, names, panel.prompt, panel.caption, state])
    return rows


def selected_takes(root: str) -> list[tuple[str, str]]:
    """(image path, label) of each panel's selected take that exists on disk."""
    project = load_project(root)
    out = []
    for panel in project.panels:
        take = panel.selected_take
        if take is not None:
            path = resolve_inside(Path(root), take.file)
            if path.is_file():
                out.append((str(path), f"{panel.id} · {panel.shot}"))
    return out


def build_studio(engine: Engine, workspace: Path, project_dir: Path | None = None) -> gr.Blocks:
    """The Blocks app; `engine` is shared by all sessions, the open project is per session."""
    cancel = threading.Event()

    def do_open(root: str) -> tuple[str, list[list[str]], list[tuple[str, str]], str]:
        root = (root or "").strip()
        try:
            project = load_project(root)
            return root, panel_rows(root, engine), selected_takes(root), f"**{project.title}** — {len(project.cast)} characters, {len(project.panels)} panels, style `{project.style}`"
        except StoryboardError as exc:
            raise gr.Error(str(exc)) from None

    def do_open_sample() -> tuple[str, list[list[str]], list[tuple[str, str]], str]:
        return do_open(open_sample(workspace))

    def do_render(root: str, force: bool, progress: gr.Progress = gr.Progress()) -> tuple[list[list[str]], list[tuple[str, str]]]:
        if not root:
            raise gr.Error("Open a project first (or the sample).")
        cancel.clear()

        def on_panel(event: PanelEvent) -> None:
            progress(event.index / event.total, desc=f"{event.panel_id}: {event.status}")

        try:
            project = load_project(root)
            render_project(Path(root), project, engine, force=force, context=RenderContext(cancel_event=cancel), on_panel=on_panel)
        except StoryboardError as exc:
            raise gr.Error(str(exc)) from None
        return panel_rows(root, engine), selected_takes(root)

    with gr.Blocks(title="Storyboard Studio") as demo:
        gr.Markdown("# Storyboard Studio\nComics and storyboards whose characters stay the same from panel to panel.")
        gr.Markdown(f"**Engine:** {engine.describe()}", elem_id="engine-banner")
        root_state = gr.State(str(project_dir) if project_dir else "")
        with gr.Row():
            folder = gr.Textbox(label="Project folder", value=str(project_dir or ""), scale=4, placeholder="path/to/project")
            open_btn = gr.Button("Open", scale=1)
            sample_btn = gr.Button("Open the sample", scale=1, variant="secondary")
        summary = gr.Markdown()
        panels = gr.Dataframe(headers=PANEL_COLUMNS, label="Panels", interactive=False, wrap=True)
        with gr.Row():
            force = gr.Checkbox(label="Render all, even current panels", value=False)
            render_btn = gr.Button("Render stale panels", variant="primary")
            stop_btn = gr.Button("Stop", variant="stop")
        gallery = gr.Gallery(label="Selected takes", columns=3, height="auto")

        outputs = [root_state, panels, gallery, summary]
        open_btn.click(do_open, inputs=folder, outputs=outputs, api_name="open_project")
        sample_btn.click(do_open_sample, outputs=outputs, api_name="open_sample").then(lambda r: r, root_state, folder)
        render_btn.click(
            do_render, inputs=[root_state, force], outputs=[panels, gallery], api_name="render",
            concurrency_id="gpu", concurrency_limit=1,
        )
        stop_btn.click(cancel.set, api_name="stop")
        if project_dir:
            demo.load(do_open, inputs=root_state, outputs=outputs)
    return demo
