"""The studio: composes one module per area (project, cast, panels, style, render, pages) into a Blocks app.

Per-user state is plain data: the session's folder and the open project's folder (gr.State), and a random
token in the browser's storage so a reload finds the same projects. Launch with `launch_options()`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.engine_holder import EngineHolder
from storyboard.engines import Engine
from storyboard.errors import StoryboardError
from storyboard.settings import Settings, load_settings
from storyboard.studio import ClusterRender
from ui.cast_area import build_cast_area
from ui.common import AppContext, Area, new_token, user_errors, valid_token
from ui.pages_area import build_pages_area
from ui.panels_area import build_panels_area
from ui.project_area import build_project_area
from ui.render_area import build_render_area
from ui.style_area import build_style_area

log = logging.getLogger(__name__)

ASSETS = Path(__file__).resolve().parent.parent / "assets"
CSS = """
.gradio-container { max-width: 1400px !important; }
#sb-header { align-items: center; gap: 16px; }
#sb-header h1 { margin: 0; font-size: 1.6rem; }
#sb-header p { margin: 0; color: var(--body-text-color-subdued); }
#engine-banner { padding: 8px 12px; border-radius: 8px; font-size: 0.9rem;
  background: var(--background-fill-secondary); border: 1px solid var(--border-color-primary); }
#engine-banner p { margin: 0; }
#load-models { align-self: flex-end; max-width: 160px; }
.sb-card { background: var(--background-fill-secondary); border-radius: 10px; padding: 12px !important; }
.sb-small-buttons button { min-width: 0 !important; }
.sb-badge p { text-align: right; font-weight: 600; margin: 0; }
.sb-balloons { margin-top: 8px; }
#export-row { align-items: flex-end; }
#export-status p { margin: 2px 0; }
footer { display: none !important; }
"""


def needs_loading(holder: EngineHolder) -> bool:
    """Whether a Load models button makes sense: StoryMaker is planned and not loaded yet."""
    return holder.planned != "draft" and not holder.loaded


def launch_options(ctx: AppContext) -> dict[str, Any]:
    """What `launch()` needs besides host and port: theme, CSS, files allowed (app assets only), upload limit.

    The workspace (and a project opened at start) is blocked wherever it lives: a session's files reach the
    browser only as copies of what its own handlers returned (ctx.files, then Gradio's hashed cache), so no
    one can fetch a project's file by path. StoryboardError when blocking it would block what must be served.
    """
    blocked = [ctx.workspace] + ([ctx.startup_project] if ctx.startup_project is not None else [])
    from gradio.utils import get_upload_folder

    needed = {"Gradio's upload folder": Path(get_upload_folder()).resolve(), "the app's assets": ASSETS,
              "the folder of browser copies": ctx.files.folder.resolve()}
    for folder in blocked:
        for what, path in needed.items():
            if path == folder or folder in path.parents:
                raise StoryboardError(f"The folder {folder} holds {what} ({path}), which the browser must reach; "
                                      "give the workspace (or project) a folder of its own, e.g. --workspace ~/storyboard.")
    return {"theme": gr.themes.Soft(primary_hue="orange", secondary_hue="blue"), "css": CSS,
            "allowed_paths": [str(ASSETS)], "blocked_paths": [str(folder) for folder in blocked],
            "max_file_size": f"{ctx.settings.max_upload_mb}mb"}


def build_studio(engine: Engine | EngineHolder, workspace: Path, project_dir: Path | None = None,
                 settings: Settings | None = None, cluster: ClusterRender | None = None) -> gr.Blocks:
    """The Blocks app; the engine (or its holder, which loads it on first render) is shared by all sessions.
    `cluster`: the Render tab offers rendering on these Ray workers (and does so unless the user unticks it)."""
    holder = engine if isinstance(engine, EngineHolder) else EngineHolder.ready(engine)
    ctx = AppContext(engines=holder, settings=settings or load_settings(), workspace=Path(workspace).resolve(),
                     startup_project=Path(project_dir).resolve() if project_dir else None, cluster=cluster)
    with gr.Blocks(title="Storyboard Studio") as demo:
        demo.studio_context = ctx  # for app.py's launch_options and for tests
        token = gr.BrowserState("", storage_key="storyboard-studio-session")
        session = gr.State("")
        root = gr.State("")
        with gr.Row(elem_id="sb-header", equal_height=True):
            gr.Markdown("# Storyboard Studio\nComics and storyboards whose characters stay the same from panel to panel.")
            with gr.Column(scale=2, min_width=360):
                ctx.banner = gr.Markdown(ctx.banner_text(), elem_id="engine-banner")
                load_btn = gr.Button("Load models", size="sm", elem_id="load-models", visible=needs_loading(holder))
            with gr.Column(scale=0, min_width=190, elem_id="sb-history"):
                with gr.Row():
                    undo_btn = gr.Button("↶ Undo", size="sm", elem_id="undo")
                    redo_btn = gr.Button("↷ Redo", size="sm", elem_id="redo")
        areas: dict[str, Area] = {}
        tabs: dict[str, gr.Tab] = {}
        with gr.Tabs(elem_id="sb-tabs"):
            for key, label, build in (
                ("project", "1 · Project", build_project_area),
                ("cast", "2 · Cast", build_cast_area),
                ("panels", "3 · Panels", build_panels_area),
                ("style", "4 · Style", build_style_area),
                ("render", "5 · Render", build_render_area),
                ("pages", "6 · Pages & export", build_pages_area),
            ):
                with gr.Tab(label, id=key, elem_id=f"tab-{key}") as tab:
                    areas[key] = build(ctx, root, session)
                tabs[key] = tab

        everything = [o for area in areas.values() for o in area.outputs]

        def refresh_all(root_value: str, session_value: str, request: gr.Request) -> list[Any]:
            values: list[Any] = []
            for area in areas.values():
                values += area.refresh(root_value, session_value, request)
            return values

        def start(token_value: str, request: gr.Request) -> tuple[str, str, str]:
            if not valid_token(token_value):
                token_value = new_token()
            folder = ctx.workspace / "sessions" / token_value
            folder.mkdir(parents=True, exist_ok=True)
            if ctx.startup_project is not None:
                return token_value, str(folder), str(ctx.startup_project)
            recent = studio.list_projects(folder)
            return token_value, str(folder), str(recent[0][1]) if recent else ""

        @user_errors
        def load_models(request: gr.Request, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> list[Any]:
            ctx.engine(progress)
            gr.Info(f"Ready: {ctx.engines.get().describe()}.")
            return [ctx.banner_text(), gr.update(visible=needs_loading(holder))]

        def banner() -> list[Any]:
            return [ctx.banner_text(), gr.update(visible=needs_loading(holder))]

        def stepper(step: str):
            @user_errors
            def handler(root_value: str, session_value: str, request: gr.Request) -> list[Any]:
                project_root = ctx.project_root(root_value, session_value, request)
                _, label = (studio.undo if step == "undo" else studio.redo)(project_root)
                gr.Info(f"{'Undone' if step == 'undo' else 'Redone'}: {label}.")
                return refresh_all(str(project_root), session_value, request)

            handler.__name__ = step
            return handler

        undo_btn.click(stepper("undo"), [root, session], everything, api_name="undo")
        redo_btn.click(stepper("redo"), [root, session], everything, api_name="redo")
        demo.load(start, [token], [token, session, root], api_name=False)
        demo.load(banner, None, [ctx.banner, load_btn], api_name="engine_status", queue=False)
        load_btn.click(load_models, None, [ctx.banner, load_btn], api_name="load_models", concurrency_id="gpu",
                       concurrency_limit=1).then(banner, None, [ctx.banner, load_btn], api_name=False, queue=False)
        root.change(refresh_all, [root, session], everything, api_name=False)
        for area in areas.values():
            for signal in area.changes_project:
                signal.change(refresh_all, [root, session], everything, api_name=False)
        for key, tab in tabs.items():
            tab.select(areas[key].refresh, [root, session], areas[key].outputs, api_name=False)
    return demo
