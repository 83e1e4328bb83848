"""The Project tab: create, open (your projects, the sample, a .zip), rename and download a project."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import gradio as gr

from storyboard import studio
from storyboard.errors import ProjectError
from storyboard.exchange.fountain import SCRIPT_SUFFIXES
from storyboard.studio.exchange import BOARD_IMAGE_SUFFIXES
from storyboard.settings import max_chars
from storyboard.storyfile import load_project
from ui.common import AppContext, Area, file_path, user_errors

WELCOME = """### Welcome
Make a comic or storyboard whose characters stay the same from panel to panel.
**Start** by opening the sample, or create a new project. Then add your **Cast**, write **Panels**,
pick a **Style**, **Render**, and export your **Pages** as a PDF. Every change is saved automatically."""


INTO_CHOICES = [("A new project", "new"), ("The open project (appended)", "open")]


def import_report(result: Any, source: str, unit: str) -> str:
    """What an import made, for the Project tab: the project, its new panels by number, cast still needing a photo."""
    project = result.project
    numbers = [n for n, p in enumerate(project.panels, start=1) if p.id in set(result.panels)]
    span = (f"{numbers[0]}" if len(numbers) == 1 else f"{numbers[0]}–{numbers[-1]}") if numbers else "none"
    what = "Created" if result.created else "Appended to"
    lines = [f"**{what} “{project.title}”** from {source}: {len(numbers)} "
             f"{unit + ('s' if len(numbers) != 1 else '')} as panel{'s' if len(numbers) != 1 else ''} {span}"
             + (f", in {len(result.scenes)} scene{'s' if len(result.scenes) != 1 else ''}" if getattr(result, "scenes", ())
                else "") + "."]
    if result.new_cast:
        names = ", ".join(f"**{c.name}**" for c in result.new_cast)
        lines.append(f"New cast without a photo: {names}. Draft mode draws them as they are; add a photo of each in "
                     "the Cast tab for StoryMaker.")
    lines += [f"⚠️ {warning}" for warning in result.warnings]
    lines.append("Next: check the panels in the Panels tab, then Render.")
    return "  \n".join(lines)


def summary(root: str) -> str:
    if not root:
        return WELCOME
    project = load_project(root)
    rendered = sum(1 for p in project.panels if p.selected_take is not None)
    return (f"### {project.title}\n{len(project.cast)} characters · {len(project.panels)} panels "
            f"({rendered} rendered) · style **{project.style}** · page {project.page.size}, {project.page.template}, "
            f"{'left to right' if project.page.reading == 'ltr' else 'right to left'}  \n"
            "Changes are saved automatically.")


def build_project_area(ctx: AppContext, root: gr.State, session: gr.State) -> Area:
    """The Project tab; returns how to refresh it."""

    def choices(session_value: str, request: gr.Request | None) -> list[tuple[str, str]]:
        folder = ctx.session_dir(session_value, request)
        return [(title, path.name) for title, path in studio.list_projects(folder)]

    def refresh(root_value: str, session_value: str, request: gr.Request | None = None) -> list[Any]:
        title_value = load_project(root_value).title if root_value else ""
        current = Path(root_value).name if root_value else None
        options = choices(session_value, request)
        return [summary(root_value), gr.update(value=title_value, interactive=bool(root_value)),
                gr.update(choices=options, value=current if current in [v for _, v in options] else None),
                gr.update(value=None, visible=False)]

    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            about = gr.Markdown(WELCOME, elem_id="project-summary")
            title = gr.Textbox(label="Title of the open project", interactive=False, elem_id="project-title",
                               placeholder="Open or create a project first", max_length=max_chars("title"))
            with gr.Row():
                zip_btn = gr.Button("Download project as .zip", size="md")
                zip_file = gr.File(label="Project .zip", visible=False, interactive=False, height=80)
        with gr.Column(scale=2, elem_classes=["sb-card"]):
            gr.Markdown("#### Start")
            sample_btn = gr.Button("Open the sample: Rainy Monday", variant="primary", elem_id="open-sample")
            with gr.Row(equal_height=True):
                new_title = gr.Textbox(label="New project", placeholder="Title, e.g. Rainy Monday", scale=3,
                                       elem_id="new-title", max_length=max_chars("title"))
                create_btn = gr.Button("Create", scale=1, elem_id="create-project")
            with gr.Row(equal_height=True):
                recent = gr.Dropdown(label="Your projects", choices=[], scale=3, elem_id="recent-projects",
                                     info="Most recently changed first")
                open_btn = gr.Button("Open", scale=1)
            upload = gr.File(label="Open a project .zip", file_types=[".zip"], elem_id="import-zip")
        with gr.Column(scale=2, elem_classes=["sb-card"], elem_id="import-card"):
            gr.Markdown("#### Import a script or boards")
            into = gr.Radio(label="Import into", choices=INTO_CHOICES, value="new", elem_id="import-into")
            script_upload = gr.File(label="Fountain screenplay (.fountain): panels, balloons and cast",
                                    file_types=list(SCRIPT_SUFFIXES), elem_id="import-script", height=150)
            boards_upload = gr.File(label="Storyboarder: the .storyboarder file and its images, or a .zip of them",
                                    file_types=[".storyboarder", ".zip", *BOARD_IMAGE_SUFFIXES], file_count="multiple",
                                    elem_id="import-storyboarder", height=150)
            import_result = gr.Markdown("", elem_id="import-result")
    imported = gr.State("")  # a new value after each import: every area shows the project again

    outputs = [about, title, recent, zip_file]

    @user_errors
    def create(title_value: str, session_value: str, request: gr.Request) -> tuple[str, str, str]:
        folder = ctx.session_dir(session_value, request)
        _limit_projects(folder)
        return str(studio.create_project(folder, title_value)), str(folder), ""

    @user_errors
    def sample(session_value: str, request: gr.Request) -> tuple[str, str]:
        folder = ctx.session_dir(session_value, request)
        return str(studio.open_sample(folder)), str(folder)

    @user_errors
    def open_named(name: str, session_value: str, request: gr.Request) -> tuple[str, str]:
        folder = ctx.session_dir(session_value, request)
        if not name:
            raise ProjectError("Pick one of your projects in the list first.")
        return str(studio.open_project(folder, name)), str(folder)

    @user_errors
    def import_zip(upload_value: Any, session_value: str, request: gr.Request) -> tuple[str, str, None]:
        folder = ctx.session_dir(session_value, request)
        path = file_path(upload_value)
        if not path:
            raise ProjectError("Choose a project .zip to open.")
        _limit_projects(folder)
        return str(studio.import_project(folder, path, ctx.settings)), str(folder), None

    @user_errors
    def rename(title_value: str, root_value: str, session_value: str, request: gr.Request) -> list[Any]:
        studio.set_title(ctx.project_root(root_value, session_value, request), title_value)
        return refresh(root_value, session_value, request)

    @user_errors
    def download(root_value: str, session_value: str, request: gr.Request) -> dict:
        project_root = ctx.project_root(root_value, session_value, request)
        out = studio.export_dir(ctx.session_dir(session_value, request), project_root)
        return gr.update(value=ctx.files.copy(studio.export_project_zip(project_root, out)), visible=True)

    def target(into_value: str, root_value: str, session_value: str, request: gr.Request) -> Path | None:
        """None for a new project (checked against the session's limit), else the open project to append to."""
        folder = ctx.session_dir(session_value, request)
        studio.check_text("choice", into_value, "import target")
        if into_value == "open":
            return ctx.project_root(root_value, session_value, request)
        if into_value != "new":
            raise ProjectError("Choose where to import: a new project, or the open project (appended).")
        _limit_projects(folder)
        return None

    @user_errors
    def import_script(upload_value: Any, into_value: str, root_value: str, session_value: str,
                      request: gr.Request) -> list[Any]:
        path = file_path(upload_value)
        if not path:
            raise ProjectError("Choose a screenplay in Fountain (.fountain) to import.")
        folder = ctx.session_dir(session_value, request)
        into_root = target(into_value, root_value, session_value, request)
        result = studio.import_script_upload(folder, path, ctx.settings, into_root)
        return imported_into(result, into_root, folder, import_report(result, Path(path).name, "panel"))

    @user_errors
    def import_boards(upload_value: Any, into_value: str, root_value: str, session_value: str,
                      request: gr.Request) -> list[Any]:
        paths = [p for p in (file_path(v) for v in (upload_value or [])) if p]
        if not paths:
            raise ProjectError("Choose a .storyboarder file and its images, or a .zip of its folder, to import.")
        folder = ctx.session_dir(session_value, request)
        into_root = target(into_value, root_value, session_value, request)
        result = studio.import_storyboarder_upload(folder, paths, ctx.settings, into_root)
        shown = next((Path(p).name for p in paths if Path(p).suffix.lower() in (".storyboarder", ".zip")), Path(paths[0]).name)
        return imported_into(result, into_root, folder, import_report(result, shown, "board"))

    def imported_into(result: Any, into_root: Path | None, folder: Path, report: str) -> list[Any]:
        """The outputs of an import: a new project opens (the root changes); an appended one is shown again."""
        gr.Info(report.split("  \n")[0].replace("**", ""))
        signal = secrets.token_hex(8) if into_root is not None else gr.update()
        return [str(result.root), str(folder), None, report, signal]

    def _limit_projects(folder: Path) -> None:
        if len(studio.list_projects(folder)) >= 50:
            raise ProjectError("You have 50 projects here, the most one session keeps; download and remove old ones.")

    create_btn.click(create, [new_title, session], [root, session, new_title], api_name="create_project")
    new_title.submit(create, [new_title, session], [root, session, new_title], api_name=False)
    sample_btn.click(sample, [session], [root, session], api_name="open_sample")
    open_btn.click(open_named, [recent, session], [root, session], api_name=False)
    # Scripts name a project folder: the list's choices may not be loaded in their session yet (e.g. right after
    # create_project); `open_named` checks that the name is a project of this session.
    api_open = gr.Textbox(visible=False, max_length=max_chars("choice"))
    api_open.submit(open_named, [api_open, session], [root, session], api_name="open_project")
    upload.upload(import_zip, [upload, session], [root, session, upload], api_name="import_zip")
    title.blur(rename, [title, root, session], outputs, api_name="rename_project")
    zip_btn.click(download, [root, session], [zip_file], api_name="export_zip")
    script_upload.upload(import_script, [script_upload, into, root, session],
                         [root, session, script_upload, import_result, imported], api_name="import_script")
    boards_upload.upload(import_boards, [boards_upload, into, root, session],
                         [root, session, boards_upload, import_result, imported], api_name="import_storyboarder")
    return Area(outputs, refresh, changes_project=[imported])
